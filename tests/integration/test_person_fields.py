"""The innovation lead is chosen among real innovation leads, never typed as free text."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, cases
from iphs_flow.services.errors import InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import ADMIN
from tests.integration.process_driver import NEED
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context


@pytest.fixture
def web(db_url):
    ctx = shipped_web_context(db_url, login_rate="1000/minute")
    accounts.add_user(ctx, "lars", "Lars Lund", roles={"innovation_lead"}, groups={"innovation-leads"})
    accounts.add_user(ctx, "olle", "Olle Gammal", roles={"innovation_lead"})
    accounts.set_active(ctx, "olle", False, Actor.system())
    yield ctx, app_for(ctx)
    ctx.close()


def at_assign_lead(ctx):
    anna = accounts.actor_for(ctx, "anna")
    view = cases.start_case(ctx, "innovation", {}, anna)
    view = cases.complete_task(ctx, view.open_tasks[0].id, NEED, anna)
    [task] = view.open_tasks
    assert task.task_key == "assign_lead"
    return task


def html(response) -> str:
    return response.get_data(as_text=True)


def test_the_innovation_lead_field_lists_only_active_innovation_leads(web) -> None:
    ctx, app = web
    task = at_assign_lead(ctx)
    page = html(client_for(app, "lena").get(f"/tasks/{task.id}"))
    picker = page.split('id="f-innovation_lead"')[1].split("</select>")[0]
    assert '<option value="lena">Lena Innovationsledare (lena)</option>' in picker
    assert '<option value="lars">Lars Lund (lars)</option>' in picker
    assert 'value="anna"' not in picker and 'value="bo"' not in picker  # not innovation leads
    assert 'value="olle"' not in picker  # deactivated
    assert '<select id="f-innovation_lead" name="innovation_lead"' in page


def test_a_name_that_is_no_innovation_lead_is_a_422_at_the_field_and_nothing_is_stored(web) -> None:
    ctx, app = web
    task = at_assign_lead(ctx)
    lena = client_for(app, "lena")
    for wrong in ("nobody", "anna", "olle"):
        response = post_form(lena, f"/tasks/{task.id}", {"_action": "submit", "innovation_lead": wrong})
        assert response.status_code == 422, wrong
        page = html(response)
        assert 'id="f-innovation_lead-error"' in page and f"”{wrong}” är ingen aktiv användare med rätt roll" in page
    [still] = [t for t in task_queries.list_tasks(ctx, ADMIN, task.case_number, everyone=True) if t.id == task.id]
    assert still.state == "open"
    ok = post_form(lena, f"/tasks/{task.id}", {"_action": "submit", "innovation_lead": "lars"})
    assert ok.status_code == 302


def test_the_service_refuses_an_unknown_innovation_lead_for_every_way_in(web) -> None:
    ctx, _ = web
    task = at_assign_lead(ctx)
    lena = accounts.actor_for(ctx, "lena")
    with pytest.raises(InvalidInput) as refused:
        cases.complete_task(ctx, task.id, {"innovation_lead": "lena-igen"}, lena)
    assert refused.value.fields == {"innovation_lead": ["'lena-igen' is not an active user with the role "
                                                        "innovation_lead"]}
    assert cases.complete_task(ctx, task.id, {"innovation_lead": "lena"}, lena).status == "running"


def test_the_api_answers_422_with_the_field_for_an_unknown_person(web) -> None:
    ctx, app = web
    task = at_assign_lead(ctx)
    lena = client_for(app, "lena")
    token = lena.get("/api/v1/session").json["csrf_token"]
    response = lena.post(f"/api/v1/tasks/{task.id}/complete", json={"data": {"innovation_lead": "nobody"}},
                         headers={"X-CSRFToken": token})
    assert response.status_code == 422, response.get_data(as_text=True)
    assert "innovation_lead" in response.get_data(as_text=True)
