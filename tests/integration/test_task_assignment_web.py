"""Assign, delegate and reassign in the web: people pickers of real users, refusals at the field."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, cases
from iphs_flow.services.permissions import Actor
from tests.integration.api_world import build_world, case_at_gate
from tests.integration.web_session import PASSWORD, login
from tests.integration.web_world import post_form


@pytest.fixture
def world(db_url):
    ctx, app = build_world(db_url)
    accounts.add_user(ctx, "britt", "Britt Beslut", password=PASSWORD, roles={"approver"}, groups={"gate-deciders"})
    gate = case_at_gate(ctx).open_tasks[0]
    yield ctx, app, gate
    ctx.close()


def signed_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def holder(ctx, gate) -> str | None:
    [task] = [t for t in cases.get_case(ctx, gate.case_id, Actor.system()).case.open_tasks if t.id == gate.id]
    return task.assignee


def page(response) -> str:
    return response.get_data(as_text=True)


def test_a_lead_sees_a_picker_of_the_groups_members_on_the_task_page_and_assigns_one(world) -> None:
    ctx, app, gate = world
    lena = signed_in(app, "lena")
    html = page(lena.get(f"/tasks/{gate.id}"))
    assert 'id="people-assign-to"' in html and "Tilldela till någon i gruppen gate-deciders" in html
    assert '<option value="bo">Bo Beslut (bo)</option>' in html and '<option value="britt">' in html
    assert '<option value="anna">' not in html.split('id="people-assign-other"')[0]  # not in the group's list

    response = post_form(lena, f"/tasks/{gate.id}/assign", {"to": "bo"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tasks/{gate.id}")
    assert holder(ctx, gate) == "bo"
    history = cases.get_case(ctx, gate.case_id, Actor.system()).history
    kinds = [(e.kind, e.actor, e.data.get("assignee")) for e in history]
    assert ("task_assigned", "lena", "bo") in kinds

    html = page(lena.get(f"/tasks/{gate.id}/people"))
    assert "Tilldela om till någon i gruppen gate-deciders" in html and "Tilldelad: Bo Beslut" in html
    assert post_form(lena, f"/tasks/{gate.id}/assign", {"to": "britt"}).status_code == 302  # reassign
    assert holder(ctx, gate) == "britt"


def test_an_unknown_person_is_a_422_with_the_message_at_the_field_and_nothing_changes(world) -> None:
    ctx, app, gate = world
    lena = signed_in(app, "lena")
    response = post_form(lena, f"/tasks/{gate.id}/assign", {"to": "nobody", "outside": "yes", "rescope": "yes"})
    assert response.status_code == 422
    html = page(response)
    assert 'id="people-assign-other-error"' in html and "ingen aktiv användare med användarnamnet ”nobody”" in html
    assert '<a href="#people-assign-other">' in html and 'aria-invalid="true"' in html
    assert 'value="nobody"' in html  # what was typed stays
    assert holder(ctx, gate) is None

    empty = post_form(lena, f"/tasks/{gate.id}/assign", {"to": ""})
    assert empty.status_code == 422 and "Välj vem som ska göra uppgiften." in page(empty)
    accounts.set_active(ctx, "bo", False, Actor.system())
    gone = post_form(lena, f"/tasks/{gate.id}/assign", {"to": "bo"})
    assert gone.status_code == 422 and holder(ctx, gate) is None


def test_someone_outside_the_group_gets_the_task_only_when_the_lead_confirms_it(world) -> None:
    ctx, app, gate = world
    lena = signed_in(app, "lena")
    refused = post_form(lena, f"/tasks/{gate.id}/assign", {"to": "lars", "outside": "yes"})
    assert refused.status_code == 422 and "lars är inte med i gruppen gate-deciders" in page(refused)
    assert holder(ctx, gate) is None
    html = page(lena.get(f"/tasks/{gate.id}/people"))
    assert '<datalist id="people-everyone">' in html and '<option value="lars">Lars Lund</option>' in html
    ok = post_form(lena, f"/tasks/{gate.id}/assign", {"to": "lars", "outside": "yes", "rescope": "yes"})
    assert ok.status_code == 302 and holder(ctx, gate) == "lars"


def test_the_assignee_delegates_within_the_group_and_gives_the_task_back(world) -> None:
    ctx, app, gate = world
    bo = signed_in(app, "bo")
    assert post_form(bo, f"/tasks/{gate.id}/claim", {}).status_code == 302
    html = page(bo.get(f"/tasks/{gate.id}"))
    assert 'id="people-delegate-to"' in html and 'id="people-assign-to"' not in html
    assert '<option value="bo"' not in html.split('id="people-delegate-to"')[1].split("</select>")[0]

    outside = post_form(bo, f"/tasks/{gate.id}/delegate", {"to": "lena"})
    assert outside.status_code == 422 and "lena är inte med i gruppen gate-deciders" in page(outside)
    assert holder(ctx, gate) == "bo"
    assert post_form(bo, f"/tasks/{gate.id}/delegate", {"to": "britt"}).status_code == 302
    assert holder(ctx, gate) == "britt"

    britt = signed_in(app, "britt")
    back = post_form(britt, f"/tasks/{gate.id}/unclaim", {"next": f"/tasks/{gate.id}"})
    assert back.status_code == 302 and back.headers["Location"].endswith(f"/tasks/{gate.id}")
    assert holder(ctx, gate) is None


def test_only_leads_and_administrators_assign_and_a_hidden_case_is_a_404(world) -> None:
    ctx, app, gate = world
    anna = signed_in(app, "anna")  # the owner sees the case, but does not decide who does its tasks
    html = page(anna.get(f"/tasks/{gate.id}/people"))
    assert 'id="people-assign-to"' not in html and "Bara innovationsledare och administratörer" in html
    assert post_form(anna, f"/tasks/{gate.id}/assign", {"to": "bo"}).status_code == 403
    assert post_form(anna, f"/tasks/{gate.id}/delegate", {"to": "bo"}).status_code == 403
    assert holder(ctx, gate) is None

    bertil = signed_in(app, "bertil")
    assert bertil.get(f"/tasks/{gate.id}/people").status_code == 404
    # refused for not being a lead before the task is looked up: the same answer for every id
    assert post_form(bertil, f"/tasks/{gate.id}/assign", {"to": "bo"}).status_code == 403
    assert post_form(bertil, "/tasks/999999/assign", {"to": "bo"}).status_code == 403
    assert post_form(bertil, f"/tasks/{gate.id}/delegate", {"to": "bo"}).status_code == 404

    adam = signed_in(app, "adam")
    assert adam.post(f"/tasks/{gate.id}/assign", data={"to": "bo"}).status_code == 400  # no CSRF token
    assert holder(ctx, gate) is None
    assert post_form(adam, f"/tasks/{gate.id}/assign", {"to": "bo"}).status_code == 302
    assert app.test_client().post(f"/tasks/{gate.id}/assign", data={"to": "bo"}).status_code in (302, 400)


def test_a_closed_task_cannot_be_assigned_any_more(world) -> None:
    ctx, app, gate = world
    lena = signed_in(app, "lena")
    cases.complete_task(ctx, gate.id, {"approved": True}, accounts.actor_for(ctx, "bo"))
    assert post_form(lena, f"/tasks/{gate.id}/assign", {"to": "britt"}).status_code == 409


def test_the_inbox_offers_leads_a_way_to_assign_each_task(world) -> None:
    ctx, app, gate = world
    lena = signed_in(app, "lena")
    lena_task = cases.start_case(ctx, "gate_decision", {"title": "Belysning"}, accounts.actor_for(ctx, "anna"))
    cases.complete_task(ctx, lena_task.open_tasks[0].id, {"text": "Mörkt"}, accounts.actor_for(ctx, "anna"))
    html = page(lena.get("/inbox"))  # the new "Bered inför grind" task waits for her group
    assert '/people">Tilldela<span class="visually-hidden">: Bered inför grind' in html
    bo = signed_in(app, "bo")
    inbox = page(bo.get("/inbox"))
    assert f"/tasks/{gate.id}" in inbox and f"/tasks/{gate.id}/people" not in inbox  # bo decides, not assigns
