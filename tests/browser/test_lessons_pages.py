"""The lessons library (/lardomar) and a lesson's page in a real browser: axe-core clean, keyboard usable."""

from __future__ import annotations

import re

import pytest

from iphs_flow.services import accounts, cases
from iphs_flow.services.queries import tasks as task_queries
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.process_driver import ASSIGN, NEED

REJECTED = {"decision": "rejected", "reason": "Finns redan i trafikkontorets plan",
            "lessons_worked": "Trygghetsvandringar med föräldrar gav tydliga platser",
            "lessons_not_worked": "Enkäten till eleverna fick för få svar",
            "lessons_learned": "Kartan över otrygga korsningar kan trafikkontoret återanvända"}


@pytest.fixture(scope="module")
def world(browser, served):
    server, ctx = served
    owner = accounts.actor_for(ctx, "anna")
    lead = accounts.actor_for(ctx, "lena")
    view = cases.start_case(ctx, "innovation", {}, owner)
    cases.complete_task(ctx, view.open_tasks[0].id, {**NEED, "unit": "Skärholmen", "agenda2030_goals": [4, 11]},
                        owner)
    assign = next(t for t in task_queries.list_tasks(ctx, lead, str(view.id)) if t.task_key == "assign_lead")
    cases.complete_task(ctx, assign.id, ASSIGN, lead)
    g1 = next(t for t in task_queries.list_tasks(ctx, lead, str(view.id)) if t.task_key == "G1_decide")
    cases.complete_task(ctx, g1.id, REJECTED, lead)
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script
    lena = context.new_page()
    sign_in(lena, server, "lena")
    yield {"server": server, "lena": lena}
    context.close()


def test_the_lessons_library_and_a_lesson_have_no_axe_violations_in_both_languages(world) -> None:
    lena, server = world["lena"], world["server"]
    for path in ("/lardomar", "/lardomar?q=trygghetsvandring", "/lardomar?goal=4", "/lardomar?q=%21%21"):
        lena.goto(server + path)
        assert lena.locator("h1").count() == 1
        assert axe_violations(lena) == [], path
    lena.goto(server + "/lardomar?q=trygghetsvandring")
    assert lena.locator(".search-results mark").count() >= 1
    lena.locator(".search-results h3 a").first.click()
    lena.wait_for_url(re.compile(r"/lardomar/\d+$"))
    assert "Kartan över otrygga korsningar" in lena.content()
    assert axe_violations(lena) == []
    lena.get_by_role("button", name="Håll lärdomen intern").click()  # no reason: the browser asks for one
    assert re.search(r"/lardomar/\d+$", lena.url) and axe_violations(lena) == []
    lena.get_by_role("button", name="English").click()
    lena.goto(server + "/lardomar")
    assert "Lessons learned" in lena.content()
    assert axe_violations(lena) == []
    lena.get_by_role("button", name="Svenska").click()


def test_searching_lessons_and_keeping_one_internal_with_the_keyboard_alone(world) -> None:
    lena, server = world["lena"], world["server"]
    lena.goto(server + "/lardomar")
    lena.locator("body").focus()
    for _ in range(40):
        lena.keyboard.press("Tab")
        if lena.evaluate("document.activeElement && document.activeElement.id") == "q":
            break
    else:
        pytest.fail("Tab never reached the search field")
    lena.keyboard.type("enkäten")
    lena.keyboard.press("Enter")
    lena.wait_for_url(re.compile(r"/lardomar\?"))
    for _ in range(80):
        lena.keyboard.press("Tab")
        href = lena.evaluate("document.activeElement && document.activeElement.getAttribute('href')") or ""
        if re.fullmatch(r"/lardomar/\d+", href):
            break
    else:
        pytest.fail("Tab never reached a lesson")
    lena.keyboard.press("Enter")
    lena.wait_for_url(re.compile(r"/lardomar/\d+$"))
    for _ in range(80):
        lena.keyboard.press("Tab")
        if lena.evaluate("document.activeElement && document.activeElement.id") == "reason":
            break
    else:
        pytest.fail("Tab never reached the reason")
    lena.keyboard.type("Rör en pågående upphandling")
    lena.keyboard.press("Tab")
    lena.keyboard.press("Enter")
    lena.wait_for_selector("text=Lärdomen är nu intern")
    assert "Rör en pågående upphandling" in lena.content()
