"""The portfolio page /portfolj in a real browser: axe-core clean, filters and downloads by keyboard alone."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, cases
from iphs_flow.services.queries import tasks as task_queries
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.process_driver import ASSIGN, NEED


@pytest.fixture(scope="module")
def world(browser, served):
    server, ctx = served
    lead = accounts.actor_for(ctx, "lena")
    owner = accounts.actor_for(ctx, "anna")
    for unit, decision in (("Skolchef Eva Ek", "rejected"), ("Förskolechef Ola Ek", "approved")):
        view = cases.start_case(ctx, "innovation", {}, owner)
        cases.complete_task(ctx, view.open_tasks[0].id, {**NEED, "need_owner": unit, "agenda2030_goals": [3, 11]},
                            owner)
        cases.complete_task(ctx, task_queries.list_tasks(ctx, lead, view.number, everyone=True)[0].id, ASSIGN, lead)
        g1 = task_queries.list_tasks(ctx, lead, view.number, everyone=True)[0]
        data = {"decision": decision, "reason": "Ligger utanför uppdraget"} if decision == "rejected" else {
            "decision": "approved", "within_remit": True, "need_owner_named": True, "not_duplicate": True}
        cases.complete_task(ctx, g1.id, data, lead)
    context = browser.new_context(bypass_csp=True, accept_downloads=True)  # axe-core is injected as a script
    page = context.new_page()
    sign_in(page, server, "lena")
    yield {"server": server, "page": page}
    context.close()


def test_the_portfolio_page_has_no_axe_violations_in_both_languages_and_with_filter_errors(world) -> None:
    page = world["page"]
    page.goto(world["server"] + "/portfolj")
    assert page.locator("h1").inner_text() == "Portfölj"
    assert page.locator("svg[role=img]").count() >= 6
    assert axe_violations(page) == []
    page.goto(world["server"] + "/portfolj?from=2026-02-30&goal=99")
    assert page.locator(".error-summary").count() == 1
    assert axe_violations(page) == []
    page.get_by_role("button", name="English").click()
    page.goto(world["server"] + "/portfolj")
    assert page.locator("h1").inner_text() == "Portfolio"
    assert axe_violations(page) == []
    page.get_by_role("button", name="Svenska").click()


def test_filters_and_downloads_work_with_the_keyboard_alone(world) -> None:
    page = world["page"]
    page.goto(world["server"] + "/portfolj")
    page.focus("#f-unit")
    page.keyboard.press("ArrowDown")  # the first unit in the list
    unit = page.eval_on_selector("#f-unit", "el => el.value")
    assert unit
    for _ in range(40):  # tab forward to the submit button
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.type") == "submit":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "unit=" in page.url and "1 ärende i urvalet" in page.content()
    link = page.locator("#s-funnel .downloads a").first
    link.focus()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename == "portfolj-funnel.csv"
