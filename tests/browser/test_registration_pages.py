"""Registration in the browser: the case page's registration and secrecy forms, the register
(/diarium) and a records request, each axe-core clean and worked with the keyboard alone.

Pages (templates) covered: case (_registration, _secrecy_notes), diarium, records_request.
"""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, cases
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.process_driver import NEED
from tests.integration.web_session import PASSWORD


@pytest.fixture(scope="module")
def registered_case(served):
    base, ctx = served
    accounts.add_user(ctx, "rut", "Rut Registrator", password=PASSWORD, roles={"registrar"})
    anna = accounts.actor_for(ctx, "anna")
    view = cases.start_case(ctx, "innovation", {}, anna)
    view = cases.complete_task(ctx, view.open_tasks[0].id, dict(NEED, title="Belysning vid skolvägar"), anna)
    return base, view


def test_a_lead_registers_and_marks_a_field_secret_with_the_keyboard_on_an_axe_clean_case_page(
        browser, registered_case) -> None:
    base, view = registered_case
    page = browser.new_context(bypass_csp=True).new_page()
    sign_in(page, base, "lena")
    page.goto(f"{base}/cases/{view.id}")
    assert axe_violations(page) == []
    page.focus("#registration-form >> xpath=.. >> summary")
    page.keyboard.press("Enter")
    page.focus("#reg-class")
    page.select_option("#reg-class", "1.3.1")
    page.focus("#reg-desc")
    page.keyboard.press("Control+A")
    page.keyboard.type("Belysning vid skolvägar i Skärholmen")
    page.focus("#reg-unit")
    page.keyboard.type("Skolförvaltningen")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Registreringen är sparad." in page.content()
    assert page.locator("#reg-description").inner_text() == "Belysning vid skolvägar i Skärholmen"
    page.focus("#secrecy-form >> xpath=.. >> summary")
    page.keyboard.press("Enter")
    page.focus("#mark-target")
    page.select_option("#mark-target", "field:need")
    page.focus("#mark-reason")
    page.keyboard.type("Leverantörens affärsförhållanden")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Sekretessmarkeringen är sparad." in page.content()
    assert page.locator(".markings li").count() == 1
    assert axe_violations(page) == []
    page.context.close()


def test_a_manager_who_does_not_handle_the_case_reads_the_secrecy_note_instead(browser, registered_case,
                                                                               served) -> None:
    base, view = registered_case
    ctx = served[1]
    with ctx.uow.write() as tx:  # erik manages lena, whose group has the case's open task: he sees the case
        tx.users.by_username("lena").manager_username = "erik"
        tx.commit()
    page = browser.new_context(bypass_csp=True).new_page()
    sign_in(page, base, "erik")
    page.goto(f"{base}/cases/{view.id}")
    content = page.content()
    assert "Sekretess enligt OSL 31 kap. 16 §" in content and NEED["need"] not in content
    assert page.locator("#registration-form").count() == 0
    assert axe_violations(page) == []
    page.context.close()


def test_the_register_and_a_records_request_with_the_keyboard_on_axe_clean_pages(browser, registered_case) -> None:
    base, view = registered_case
    page = browser.new_context(bypass_csp=True).new_page()
    sign_in(page, base, "rut")
    page.goto(f"{base}/diarium")
    assert axe_violations(page) == []
    page.focus("#f-number")
    page.keyboard.type(view.number)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#register tbody tr").count() == 1
    assert axe_violations(page) == []
    page.focus(f"text=Begäran om allmän handling för {view.number}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "Begäran om allmän handling" in page.locator("h1").inner_text()
    assert axe_violations(page) == []
    page.goto(f"{base}/diarium?from=igår")
    assert page.locator("#errors").count() == 1
    assert axe_violations(page) == []
    page.context.close()
