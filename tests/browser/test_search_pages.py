"""The search page, similar cases and duplicates in a real browser: axe-core clean, keyboard usable, CSP kept."""

from __future__ import annotations

import re

import pytest

from iphs_flow.services import accounts, cases, duplicates
from iphs_flow.services.queries import tasks as task_queries
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.process_driver import ASSIGN, NEED


def _described(ctx, username: str, title: str, need: str) -> int:
    owner = accounts.actor_for(ctx, username)
    view = cases.start_case(ctx, "innovation", {}, owner)
    cases.complete_task(ctx, view.open_tasks[0].id, {**NEED, "title": title, "need": need}, owner)
    return view.id


@pytest.fixture(scope="module")
def world(browser, served):
    server, ctx = served
    first = _described(ctx, "anna", "Ensamhet bland äldre", "Äldre i Tensta är ensamma på helgerna <b>nu</b>.")
    second = _described(ctx, "anna", "Ensamma seniorer i Tensta", "Seniorer i Tensta är ensamma på helgerna.")
    lead = accounts.actor_for(ctx, "lena")
    assign = next(t for t in task_queries.list_tasks(ctx, lead, str(second)) if t.task_key == "assign_lead")
    cases.complete_task(ctx, assign.id, ASSIGN, lead)
    g1 = next(t for t in task_queries.list_tasks(ctx, lead, str(second)) if t.task_key == "G1_decide")
    context = browser.new_context(bypass_csp=True)  # axe-core is injected as a script
    anna = context.new_page()
    sign_in(anna, server, "anna")
    lead_context = browser.new_context(bypass_csp=True)
    lena = lead_context.new_page()
    sign_in(lena, server, "lena")
    # No bypass_csp here: the page's own Content-Security-Policy applies, so similar.js must run under it.
    strict_context = browser.new_context()
    errors: list[str] = []
    strict = strict_context.new_page()
    strict.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(strict, server, "anna")
    yield {"server": server, "ctx": ctx, "anna": anna, "lena": lena, "strict": strict, "first": first,
           "second": second, "g1": g1.id, "errors": errors}
    for each in (context, lead_context, strict_context):
        each.close()


def test_the_search_page_with_results_and_facets_has_no_axe_violations_in_both_languages(world) -> None:
    anna = world["anna"]
    anna.goto(world["server"] + "/sok?q=ensamma")
    assert anna.locator("h1").count() == 1
    assert anna.locator(".search-results mark").count() >= 1
    assert anna.locator(".search-results b").count() == 0  # case text is escaped, not markup
    assert axe_violations(anna) == []
    anna.goto(world["server"] + "/sok?q=%21%21")
    assert axe_violations(anna) == []
    anna.get_by_role("button", name="English").click()
    anna.goto(world["server"] + "/sok?q=ensamma")
    assert "Search cases" in anna.content()
    assert axe_violations(anna) == []
    anna.get_by_role("button", name="Svenska").click()


def test_searching_and_opening_a_hit_with_the_keyboard_alone(world) -> None:
    anna = world["anna"]
    anna.goto(world["server"] + "/sok")
    anna.locator("body").focus()
    for _ in range(30):
        anna.keyboard.press("Tab")
        if anna.evaluate("document.activeElement && document.activeElement.id") == "q":
            break
    else:
        pytest.fail("Tab never reached the search field")
    anna.keyboard.type("seniorer")
    anna.keyboard.press("Enter")
    anna.wait_for_url(re.compile(r"/sok\?"))
    for _ in range(60):
        anna.keyboard.press("Tab")
        href = anna.evaluate("document.activeElement && document.activeElement.getAttribute('href')")
        if href and re.fullmatch(r"/cases/\d+", href):
            break
    else:
        pytest.fail("Tab never reached a search hit")
    anna.keyboard.press("Enter")
    anna.wait_for_url(re.compile(rf"/cases/{world['second']}$"))


def _need_form(page, server: str) -> None:
    page.goto(server + "/start")
    page.get_by_role("button", name=re.compile("Starta: Innovation", re.I)).first.click()
    page.wait_for_url(re.compile(r"/tasks/\d+"))


def test_similar_cases_on_the_need_form_without_and_with_javascript(world) -> None:
    anna = world["anna"]
    _need_form(anna, world["server"])
    anna.fill("#f-title", "Isolerade äldre")
    anna.fill("#f-need", "Äldre i Tensta känner sig ensamma på helgerna.")
    anna.get_by_role("button", name="Sök liknande ärenden").click()
    anna.wait_for_load_state("load")
    assert anna.locator("#similar-list a[href^='/cases/']").count() >= 1
    assert anna.input_value("#f-need") == "Äldre i Tensta känner sig ensamma på helgerna."
    assert axe_violations(anna) == []
    # While typing, the script refreshes the list from /sok/liknande, under the page's own CSP.
    strict = world["strict"]
    _need_form(strict, world["server"])
    assert strict.locator("#similar-list a").count() == 0
    strict.fill("#f-title", "Seniorer")
    strict.fill("#f-need", "Seniorer är ensamma på helgerna i Tensta")
    strict.locator("#similar-list a").first.wait_for(timeout=15_000)
    strict.fill("#f-title", "Cyklar")
    strict.fill("#f-need", "Cykelställen vid stationen är fulla")
    strict.locator("#similar-list", has_text="Inga liknande ärenden hittades.").wait_for(timeout=15_000)
    assert not [e for e in world["errors"] if "Content Security Policy" in e], world["errors"]


def test_the_g1_decision_with_similar_cases_and_the_case_pages_with_duplicates_pass_axe(world) -> None:
    lena = world["lena"]
    lena.goto(f"{world['server']}/tasks/{world['g1']}")
    assert lena.locator(f"#similar-cases a[href='/cases/{world['first']}']").count() == 1
    assert axe_violations(lena) == []
    lena.get_by_role("button", name=re.compile("Markera det här ärendet som dubblett")).first.click()
    lena.wait_for_url(re.compile(rf"/tasks/{world['g1']}$"))
    assert "Båda ärendena länkar nu till varandra" in lena.content()
    links = duplicates.duplicate_links(world["ctx"], world["second"], accounts.actor_for(world["ctx"], "lena"))
    assert [link.case_id for link in links.duplicate_of] == [world["first"]]
    for case_id in (world["second"], world["first"]):
        lena.goto(f"{world['server']}/cases/{case_id}")
        assert lena.locator("#h-duplicates").count() == 1
        assert axe_violations(lena) == []
