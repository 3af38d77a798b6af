"""Administrators suspend, resume, terminate and retry cases from the web page, with CSRF.

Each operation is a plain form POST; refusals re-render the page with the message and
change nothing; the history records who did what and why. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

import pytest

from iphs_flow.services import cases
from iphs_flow.services.queries import case_page
from tests.integration.api_world import actor, build_world, case_at_need, case_in_incident
from tests.integration.web_world import client_for, post_form


@pytest.fixture
def world(db_url):
    ctx, app = build_world(db_url)
    yield ctx, app
    ctx.close()


def html(response) -> str:
    return response.get_data(as_text=True)


def kinds(ctx, case_id: int) -> list[str]:
    return [e.kind for e in cases.get_case(ctx, case_id, actor(ctx, "adam")).history]


def test_an_administrator_suspends_and_resumes_a_case_and_the_history_says_why(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    adam = client_for(app, "adam")
    page = html(adam.get(f"/admin/cases/{view.id}"))
    assert "Pausa ärendet" in page and 'name="csrf_token"' in page
    response = post_form(adam, f"/admin/cases/{view.id}/suspend", {"reason": "Väntar på budgetbeslut"})
    assert response.status_code == 302
    assert cases.get_case(ctx, view.id, actor(ctx, "adam")).case.status == "suspended"
    page = html(adam.get(f"/admin/cases/{view.id}"))
    assert "är pausat" in page and "Väntar på budgetbeslut" in page and "Ärendet pausades" in page
    assert "Återuppta ärendet" in page and "Pausa ärendet" not in page

    response = post_form(adam, f"/admin/cases/{view.id}/resume", {})
    assert response.status_code == 302
    assert cases.get_case(ctx, view.id, actor(ctx, "adam")).case.status == "running"
    assert kinds(ctx, view.id)[-2:] == ["case_suspended", "case_resumed"]
    history = cases.get_case(ctx, view.id, actor(ctx, "adam")).history
    assert history[-2].actor == "adam" and history[-2].data == {"reason": "Väntar på budgetbeslut"}


def test_terminating_a_case_requires_a_reason_and_keeps_what_was_typed_otherwise(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    adam = client_for(app, "adam")
    response = post_form(adam, f"/admin/cases/{view.id}/terminate", {"reason": "   "})
    assert response.status_code == 422
    page = html(response)
    assert 'id="error-summary"' in page and "Ange ett skäl." in page
    assert re.search(r'<textarea id="terminate-reason"[^>]*aria-invalid="true"', page)
    assert cases.get_case(ctx, view.id, actor(ctx, "adam")).case.status == "running"

    response = post_form(adam, f"/admin/cases/{view.id}/terminate", {"reason": "Dubblett av IPHS 2026/0007"})
    assert response.status_code == 302
    detail = cases.get_case(ctx, view.id, actor(ctx, "adam"))
    assert detail.case.status == "terminated" and detail.case.open_tasks == []
    assert detail.history[-1].kind == "case_terminated"
    assert detail.history[-1].data == {"reason": "Dubblett av IPHS 2026/0007"}
    page = html(adam.get(f"/admin/cases/{view.id}"))
    assert "Inga åtgärder" in page and "Avsluta ärendet" not in page


def test_an_operation_in_the_wrong_state_is_a_409_that_changes_nothing(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    adam = client_for(app, "adam")
    before = kinds(ctx, view.id)
    response = post_form(adam, f"/admin/cases/{view.id}/resume", {})
    assert response.status_code == 409 and "kan bara återupptas när det är pausat" in html(response)
    response = post_form(adam, f"/admin/cases/{view.id}/retry", {})
    assert response.status_code == 409 and "inget fel att försöka igen med" in html(response)
    assert kinds(ctx, view.id) == before


def test_retrying_an_incident_through_the_page_records_the_attempt(world) -> None:
    ctx, app = world
    view = case_in_incident(ctx)
    assert view.status == "incident"
    adam = client_for(app, "adam")
    page = html(adam.get(f"/admin/cases/{view.id}"))
    assert "Fel i ärendet" in page and "ZeroDivisionError" in page
    assert re.search(r'<tr data-state="failed">\s*<th scope="row">', page)
    response = post_form(adam, f"/admin/cases/{view.id}/retry", {})
    assert response.status_code == 302
    page = html(adam.get(response.headers["Location"]))
    assert "Steget misslyckades igen" in page  # the cause (divisor 0) is still there
    history = kinds(ctx, view.id)
    assert history[-2:] == ["incident_retried", "incident"]
    assert cases.get_case(ctx, view.id, actor(ctx, "adam")).history[-2].actor == "adam"


def test_people_who_are_not_administrators_are_refused(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    for username in ("anna", "lena", "dora"):
        client = client_for(app, username)
        assert client.get(f"/admin/cases/{view.id}").status_code == 403, username
        for action, data in (("suspend", {"reason": "x"}), ("resume", {}), ("terminate", {"reason": "x"}),
                             ("retry", {})):
            response = post_form(client, f"/admin/cases/{view.id}/{action}", data)
            assert response.status_code == 403, (username, action)
    assert cases.get_case(ctx, view.id, actor(ctx, "adam")).case.status == "running"
    assert "case_suspended" not in kinds(ctx, view.id)


def test_an_operation_without_the_csrf_token_is_refused(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    adam = client_for(app, "adam")
    response = adam.post(f"/admin/cases/{view.id}/suspend", data={"reason": "x"})
    assert response.status_code == 400
    assert cases.get_case(ctx, view.id, actor(ctx, "adam")).case.status == "running"


def test_the_instance_view_lists_every_step_with_state_time_and_person(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": "Barn går längs en 70-väg"}, actor(ctx, "anna"))
    picture = case_page.diagram(ctx, view.id, actor(ctx, "adam"))
    states = {s.bpmn_id: s for s in picture.steps}
    done = [s for s in picture.steps if s.state == "done"]
    current = [s for s in picture.steps if s.state == "open"]
    assert done and all(s.at is not None for s in done)
    assert any(s.actor == "anna" for s in done)
    assert len(current) == 1 and current[0].group == "innovation-leads" and current[0].at is not None
    assert current[0].bpmn_id in picture.open_ids and current[0].bpmn_id not in picture.done_ids
    assert picture.failed_ids == [] and picture.incident is None
    page = html(client_for(app, "adam").get(f"/admin/cases/{view.id}"))
    assert 'id="instance-steps"' in page and "Grupp: innovation-leads" in page
    assert page.count('data-state="done"') == len(done) and 'aria-current="step"' in page
    assert "Teckenförklaring" in page and "streckad kant" in page
    assert len(states) == len(picture.steps)


def test_the_case_page_links_administrators_to_the_instance_view(world) -> None:
    ctx, app = world
    view = case_at_need(ctx)
    assert f"/admin/cases/{view.id}" in html(client_for(app, "adam").get(f"/cases/{view.id}"))
    assert f"/admin/cases/{view.id}" not in html(client_for(app, "anna").get(f"/cases/{view.id}"))
