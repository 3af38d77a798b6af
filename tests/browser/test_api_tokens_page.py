"""The page API-nycklar in a real browser: axe-clean in every state, and usable by keyboard alone."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import axe_violations, sign_in


@pytest.fixture(scope="module")
def page(browser, server):
    context = browser.new_context(bypass_csp=True)
    tab = context.new_page()
    sign_in(tab, server, "erik")
    yield tab
    context.close()


def test_the_api_keys_page_passes_axe_empty_with_errors_with_a_new_key_and_listed(page, server) -> None:
    page.goto(f"{server}/account/tokens")
    assert page.locator("h1").inner_text() == "API-nycklar"
    assert axe_violations(page) == []
    page.get_by_role("button", name="Skapa nyckel").click()  # no name: the error summary
    page.wait_for_load_state("load")
    assert page.locator("#error-summary").count() == 1
    assert page.locator("#token-name[aria-invalid='true']").count() == 1
    assert axe_violations(page) == []
    page.fill("#token-name", "Rapportverktyget")
    page.get_by_role("button", name="Skapa nyckel").click()
    page.wait_for_load_state("load")
    assert page.locator("#new-token").input_value().startswith("iphs_")
    assert axe_violations(page) == []
    page.goto(f"{server}/account/tokens")
    assert page.locator("#new-token").count() == 0 and page.get_by_text("Rapportverktyget").count() == 1
    assert axe_violations(page) == []


def test_a_key_is_created_and_revoked_with_the_keyboard_alone(page, server) -> None:
    page.goto(f"{server}/account/tokens")
    page.locator("body").focus()
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == "token-name":
            break
    else:
        pytest.fail("Tab never reached the name field")
    page.keyboard.type("Tangentbordsnyckeln")
    page.keyboard.press("Tab")  # to the scope radio group ("read" is checked)
    page.keyboard.press("ArrowDown")  # "read and write"
    assert page.evaluate("document.activeElement.id") == "token-scope-write"
    page.keyboard.press("Enter")  # submits the form
    page.wait_for_load_state("load")
    assert page.locator("#new-token").input_value().startswith("iphs_")
    assert "Tangentbordsnyckeln" in page.locator("#h-new").inner_text()

    page.goto(f"{server}/account/tokens")
    page.locator("body").focus()
    label = "Återkalla nyckeln Tangentbordsnyckeln"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.getAttribute('aria-label')") == label:
            break
    else:
        pytest.fail("Tab never reached the revoke button")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"revoked=1"))
    assert page.get_by_role("status").filter(has_text="återkallad").count() == 1
    assert axe_violations(page) == []
