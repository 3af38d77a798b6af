"""A case walked as real users would, every step in the browser: need, G1, understand, concept,
G2 (pilot decision), pilot, evaluation, G3, implementation."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from iphs_flow.engine import clock
from iphs_flow.services import timers
from iphs_flow.services.queries import tasks as task_queries
from tests.browser.conftest import sign_in
from tests.conftest import ADMIN, T0
from tests.integration.process_driver import CONCEPT, EVALUATION, IMPLEMENTATION, NEED, PILOT, UNDERSTAND

GROUP_PEOPLE = {"innovation-leads": "lena", "unit-managers": "bo", "gate-deciders": "bo",
                "department-management": "dagny", "city-executive-office": "kim"}


def fill(page, data: dict, prefix: str = "") -> None:
    """Type `data` into the form as a person would: text, radios, checkboxes, and rows added with the button."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, list) and value and isinstance(value[0], dict):
            for i, row in enumerate(value):
                if page.locator(f'[name^="{name}.{i}."]').count() == 0:  # rows may come prefilled
                    page.click(f'button[value="add:{name}"]')
                page.wait_for_selector(f'[name^="{name}.{i}."]')
                fill(page, row, f"{name}.{i}.")
            continue
        if isinstance(value, list):
            for v in value:
                page.check(f'input[name="{name}"][value="{v}"]')
            continue
        field = page.locator(f'[name="{name}"]').first
        kind = field.evaluate("e => e.tagName === 'SELECT' ? 'select' : (e.type || '')")
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        if kind == "radio":
            page.check(f'input[name="{name}"][value="{text}"]')
        elif kind == "checkbox":
            if value:
                field.check()
        elif kind == "select":
            field.select_option(text)
        else:
            field.fill(text)


def test_an_innovation_case_goes_from_need_to_implementation_in_the_browser(browser, served) -> None:
    server, ctx = served
    contexts = {}

    def person(username: str):
        if username not in contexts:
            context = browser.new_context()
            page = context.new_page()
            sign_in(page, server, username)
            contexts[username] = page
        return contexts[username]

    def work(key: str, data: dict) -> None:
        task = [t for t in task_queries.list_tasks(ctx, ADMIN, "IPHS 2026/0001", everyone=True) if t.task_key == key][0]
        page = person(task.assignee or GROUP_PEOPLE[task.candidate_group])
        page.goto(f"{server}/inbox")
        page.get_by_role("link", name=task.name).first.click()
        page.wait_for_url(re.compile(r"/tasks/\d+$"))
        fill(page, data)
        page.get_by_role("button", name="Skicka in").click()
        page.wait_for_load_state("load")
        assert re.search(r"/cases/\d+$", page.url), (key, page.locator("#error-summary").inner_text()
                                                     if page.locator("#error-summary").count() else page.url)
        assert "är inskickad" in page.content()

    clock.freeze(T0)
    anna = person("anna")
    anna.goto(f"{server}/start")
    anna.get_by_role("button", name=re.compile("Starta: Innovation")).click()
    anna.wait_for_url(re.compile(r"/tasks/\d+$"))
    assert "IPHS 2026/0001" in anna.content()
    fill(anna, NEED)
    anna.get_by_role("button", name="Skicka in").click()
    anna.wait_for_url(re.compile(r"/cases/\d+$"))

    work("assign_lead", {"innovation_lead": "lena"})
    work("G1_decide", {"decision": "approved", "within_remit": True, "need_owner_named": True,
                       "not_duplicate": True})
    work("understand", UNDERSTAND)
    work("concept", CONCEPT)
    work("G2_decide", {"decision": "approved", "need_verified_with_users": True,
                       "measurable_benefit_hypothesis": True, "pilot_success_criteria": True,
                       "funding_secured": True, "gdpr_screened": True})
    work("pilot", PILOT)
    clock.freeze(datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc))  # the pilot's end date passes
    try:
        timers.fire_due_timers(ctx)
        for page in contexts.values():
            page.context.close()
        contexts.clear()  # half a year later, everyone signs in again
        work("evaluation", EVALUATION)
        work("G3_decide", {"decision": "approved", "evidence_meets_targets": True, "operational_owner_named": True,
                           "running_budget_secured": True, "security_gdpr_cleared": True})
        work("implementation", IMPLEMENTATION)
        anna = person("anna")
        anna.goto(f"{server}/cases")
        anna.get_by_role("link", name="IPHS 2026/0001").click()
        assert anna.locator('.timeline li[aria-current="step"]').inner_text().startswith("5")
        history = anna.locator("#h-history + table").inner_text()
        assert "Godkänd" in history
    finally:
        clock.reset()
        for page in contexts.values():
            page.context.close()
