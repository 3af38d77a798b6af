"""Public records in the browser: e-archive delivery and a person's register extract and erasure,
with axe-core clean pages and the keyboard alone.

Pages (templates) covered: case_admin (delivery), personal_data_find, personal_data,
personal_data_erase, records, retention, audit.
"""

from __future__ import annotations

import zipfile

import pytest

from iphs_flow.services import accounts, case_admin, cases
from tests.browser.conftest import axe_violations, sign_in
from tests.earchive_check import SCHEMAS, check_package
from tests.integration.web_session import PASSWORD


@pytest.fixture(scope="module")
def closed_case(served):
    base, ctx = served
    accounts.add_user(ctx, "arkivadmin", "Arkiv Admin", password=PASSWORD,
                      roles={"administrator"}, groups={"administrators"})
    anna = accounts.actor_for(ctx, "anna")
    view = cases.start_case(ctx, "improvement", {}, anna)
    case_admin.terminate_case(ctx, view.id, accounts.actor_for(ctx, "arkivadmin"), "Dubblett")
    return base, view


def test_the_delivery_form_passes_axe_and_downloads_a_valid_package_with_the_keyboard(
        browser, closed_case, tmp_path) -> None:
    base, view = closed_case
    context = browser.new_context(bypass_csp=True, accept_downloads=True)
    page = context.new_page()
    sign_in(page, base, "arkivadmin")
    page.goto(f"{base}/admin/cases/{view.id}")
    assert axe_violations(page) == []
    page.focus("#archive-pseudonymise")
    page.keyboard.press("Space")
    assert page.is_checked("#archive-pseudonymise")
    page.keyboard.press("Tab")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    target = tmp_path / "package.zip"
    download.value.save_as(target)
    context.close()
    with zipfile.ZipFile(target) as archive:
        archive.extractall(tmp_path / "unzipped")
    package = next((tmp_path / "unzipped").iterdir())
    if (SCHEMAS / "mets.xsd").is_file():
        assert check_package(package) == []
    assert "anna" not in (package / "metadata/descriptive/erms.xml").read_text(encoding="utf-8")


def test_a_register_extract_and_an_erasure_with_the_keyboard_on_axe_clean_pages(browser, closed_case) -> None:
    base, _view = closed_case
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, base, "arkivadmin")
    page.goto(f"{base}/admin/personal-data")
    assert axe_violations(page) == []
    page.focus("#username")
    page.select_option("#username", "anna")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Registerutdrag för" in page.locator("h1").inner_text()
    assert axe_violations(page) == []
    page.fill("#reason", "")
    page.focus("#reason")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # no reason: refused, and said so next to the field
    assert page.locator("#reason[aria-invalid='true']").count() == 1
    assert axe_violations(page) == []
    page.goto(f"{base}/admin/personal-data/anna/erase")
    assert page.locator("#erasure-plan tbody tr").count() >= 2
    assert axe_violations(page) == []
    context.close()


def test_retention_pages_pass_axe_and_a_list_is_proposed_and_approved_with_the_keyboard(browser, closed_case) -> None:
    base, _view = closed_case
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, base, "arkivadmin")
    page.goto(f"{base}/admin/records")
    assert axe_violations(page) == []
    page.get_by_role("link", name="Gallring").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert axe_violations(page) == []
    page.focus("#rule-keep_years")
    page.keyboard.type("två år")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#rule-keep_years[aria-invalid='true']").count() == 1
    assert axe_violations(page) == []
    page.select_option("#rule-document_type", "task_draft")
    page.fill("#rule-keep_years", "2")
    page.fill("#rule-decision", "KS 2026/77")
    page.focus("#rule-decision")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#rules tbody tr").count() == 1
    page.get_by_role("button", name="Ta fram lista över vad som ska gallras nu").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Godkänn gallring").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "godkänd" in page.locator("#h-lists ~ article h3").first.inner_text()
    assert axe_violations(page) == []
    context.close()


def test_the_audit_view_passes_axe_and_is_searched_with_the_keyboard(browser, closed_case) -> None:
    base, view = closed_case
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, base, "arkivadmin")
    page.goto(f"{base}/admin/cases/{view.id}")  # a read, noted
    page.goto(f"{base}/admin/audit")
    assert axe_violations(page) == []
    page.focus("#audit-case")
    page.keyboard.type(view.number)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    rows = page.locator("#audit-trail tbody tr")
    assert rows.filter(has_text="arkivadmin").count() >= 1
    assert axe_violations(page) == []
    page.fill("#audit-from", "igår")
    page.focus("#audit-from")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#audit-from[aria-invalid='true']").count() == 1
    assert axe_violations(page) == []
    context.close()
