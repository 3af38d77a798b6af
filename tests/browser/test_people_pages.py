"""The people pages pass axe-core and work with the keyboard: assign a task, manage people and groups.

Pages (templates) covered: admin_people, admin_person, admin_person_new, admin_groups, task_people.
"""

from __future__ import annotations

import re

import pytest

from iphs_flow.services import accounts, cases
from iphs_flow.services.queries import tasks as task_queries
from tests.browser.conftest import axe_violations, sign_in
from tests.conftest import ADMIN
from tests.integration.process_driver import NEED
from tests.integration.web_session import PASSWORD


@pytest.fixture(scope="module")
def people(browser, served):
    server, ctx = served
    accounts.add_user(ctx, "adam", "Adam Ek", password=PASSWORD, roles={"administrator"}, groups={"administrators"})
    accounts.add_user(ctx, "lars", "Lars Lund", password=PASSWORD, roles={"innovation_lead"},
                      groups={"innovation-leads"})
    anna = accounts.actor_for(ctx, "anna")
    view = cases.start_case(ctx, "innovation", {}, anna)
    view = cases.complete_task(ctx, view.open_tasks[0].id, NEED, anna)
    [task] = view.open_tasks
    pages = {}
    contexts = []
    for username in ("lena", "adam"):
        context = browser.new_context(bypass_csp=True)
        contexts.append(context)
        pages[username] = context.new_page()
        sign_in(pages[username], server, username)
    yield {"server": server, "ctx": ctx, "task": task, **pages}
    for context in contexts:
        context.close()


def check(page, url: str | None = None) -> None:
    if url:
        page.goto(url)
    assert page.locator("h1").count() == 1, page.url
    violations = axe_violations(page)
    assert violations == [], (page.url, violations)


def tab_to(page, predicate: str, limit: int = 80) -> None:
    """Press Tab until `predicate` (JS on document.activeElement `e`) holds."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const e = document.activeElement; return !!e && ({predicate}); }}"):
            return
    pytest.fail(f"Tab never reached {predicate}")


def test_the_task_page_with_its_people_pickers_has_no_axe_violations(people) -> None:
    lena, task = people["lena"], people["task"]
    check(lena, f"{people['server']}/tasks/{task.id}")
    assert lena.locator("#people-assign-to").count() == 1 and lena.locator("#f-innovation_lead").count() == 1
    check(lena, f"{people['server']}/tasks/{task.id}/people")
    lena.locator("#people-assign-other").fill("nobody")
    lena.get_by_label("Ja, uppgiften ska gå till någon utanför gruppen innovation-leads").check()
    lena.locator("#people-assign-other").press("Enter")
    lena.wait_for_load_state("load")
    assert lena.locator("#error-summary").count() == 1
    check(lena)


def test_a_lead_assigns_a_task_with_the_keyboard_alone(people) -> None:
    lena, task, ctx = people["lena"], people["task"], people["ctx"]
    lena.goto(f"{people['server']}/tasks/{task.id}/people")
    lena.locator("body").focus()
    tab_to(lena, "e.id === 'people-assign-to'")
    lena.keyboard.type("Lars")  # the list jumps to the person typed
    assert lena.evaluate("document.activeElement.value") == "lars"
    tab_to(lena, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Tilldela'")
    with lena.expect_navigation():
        lena.keyboard.press("Enter")
    assert re.search(rf"/tasks/{task.id}$", lena.url)
    assert "är tilldelad lars" in lena.content()
    [now] = [t for t in task_queries.list_tasks(ctx, ADMIN, task.case_number, everyone=True) if t.id == task.id]
    assert now.assignee == "lars"


@pytest.mark.parametrize("path", ["/admin/people", "/admin/people?q=lena", "/admin/people/new", "/admin/people/lena",
                                  "/admin/groups"])
def test_the_administrators_people_pages_have_no_axe_violations(people, path) -> None:
    check(people["adam"], people["server"] + path)


def test_a_form_with_errors_on_the_people_pages_has_no_axe_violations(people) -> None:
    adam = people["adam"]
    adam.goto(f"{people['server']}/admin/people/new")
    adam.locator("#p-username").fill("fel namn")
    adam.locator("#p-email").fill("inte-en-adress")
    adam.get_by_role("button", name="Skapa användaren").click()
    adam.wait_for_load_state("load")
    assert adam.locator("#error-summary").count() == 1
    check(adam)
    adam.goto(f"{people['server']}/admin/people/lena")
    adam.locator("#g-new").fill("Fel Grupp")
    adam.get_by_role("button", name="Lägg till", exact=True).click()
    adam.wait_for_load_state("load")
    assert adam.locator("#g-new-error").count() == 1
    check(adam)


def test_an_administrator_creates_a_person_and_adds_a_group_with_the_keyboard_alone(people) -> None:
    adam, ctx = people["adam"], people["ctx"]
    adam.goto(f"{people['server']}/admin/people/new")
    adam.locator("body").focus()
    tab_to(adam, "e.id === 'p-username'")
    adam.keyboard.type("frida")
    adam.keyboard.press("Tab")
    adam.keyboard.type("Frida Fors")
    tab_to(adam, "e.id === 'p-role-approver'")
    adam.keyboard.press("Space")
    tab_to(adam, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Skapa användaren'")
    adam.keyboard.press("Enter")
    adam.wait_for_url(re.compile(r"/admin/people/frida$"))
    assert accounts.get_user(ctx, "frida").roles == {"idea_owner", "approver"}

    tab_to(adam, "e.id === 'g-new'")
    adam.keyboard.type("department-management")
    adam.keyboard.press("Escape")  # close the suggestions
    tab_to(adam, "e.tagName === 'BUTTON' && e.textContent.trim() === 'Lägg till'")
    with adam.expect_navigation():
        adam.keyboard.press("Enter")
    assert accounts.get_user(ctx, "frida").groups == {"department-management"}
    check(adam)
