"""The research export page and the administrators' list of exports pass axe-core (WCAG 2.1 A/AA),
and an export is downloaded, and a bad filter corrected, with the keyboard alone.

Pages (templates) covered: research, admin_research_exports.
"""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.web_session import PASSWORD


@pytest.fixture(scope="module")
def research_site(served):
    base, ctx = served
    accounts.add_user(ctx, "rut", "Rut Forskare", password=PASSWORD, roles={"researcher"})
    accounts.add_user(ctx, "adam", "Adam Admin", password=PASSWORD, roles={"administrator"})
    return base


def tab_to(page, locator, presses: int = 80) -> None:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if locator.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError("not reachable with Tab")


def test_the_export_page_downloads_with_the_keyboard_and_shows_errors_accessibly(browser, research_site):
    context = browser.new_context(bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    sign_in(page, research_site, "rut")
    page.goto(research_site + "/forskning")
    assert page.locator("h1").inner_text() == "Forskningsexport"
    assert axe_violations(page) == []

    tab_to(page, page.get_by_label("Process"))
    tab_to(page, page.get_by_role("button", name="Ladda ner exporten (ZIP)"))
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.startswith("iphs-forskningsexport-")
    page.goto(research_site + "/forskning")
    assert "Dina exporter" in page.content() and "cases:" in page.content()
    assert axe_violations(page) == []

    # A period that ends before it starts: the summary and the field say so.
    page.fill("#export-period_from", "2026-05-01")
    page.fill("#export-period_to", "2026-04-01")
    tab_to(page, page.get_by_role("button", name="Ladda ner exporten (ZIP)"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#export-period_to-error").count() == 1
    assert page.locator("#export-period_to").get_attribute("aria-invalid") == "true"
    assert axe_violations(page) == []
    context.close()


def test_the_administrators_list_of_exports_has_no_axe_violations(browser, research_site):
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, research_site, "adam")
    page.goto(research_site + "/admin/research-exports")
    assert page.locator("h1").inner_text() == "Forskningsexporter"
    assert "rut" in page.content()
    assert axe_violations(page) == []
    page.goto(research_site + "/admin/records")
    link = page.get_by_role("link", name="Forskningsexporter")
    tab_to(page, link)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/admin/research-exports")
    context.close()
