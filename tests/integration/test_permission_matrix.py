"""Who may do what, through the real HTTP endpoints: every role against every action.

Each cell signs in through the login form (session cookie + CSRF header), acts on a
fresh case and checks the status code. A refusal must also change nothing, and every
403 is written to the access log.
"""

from __future__ import annotations

import io
from datetime import timedelta

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import attachments, cases, comments
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import AccessLog
from tests.conftest import FIXTURES
from tests.integration.api_world import (
    Browser,
    actor,
    build_api_world,
    case_at_gate,
    case_at_need,
    case_in_incident,
)

USERS = ["anna", "bertil", "bo", "lena", "dora", "adam", None]  # None: not signed in
# anna owns the cases; bertil is another idea owner; bo decides gates (gate-deciders);
# lena is an innovation lead; dora a process designer; adam an administrator.
EXPECTED = {
    "view case":     {"anna": 200, "bertil": 404, "bo": 200, "lena": 200, "dora": 404, "adam": 200, None: 401},
    "complete task": {"anna": 200, "bertil": 404, "bo": 404, "lena": 403, "dora": 404, "adam": 403, None: 401},
    "decide gate":   {"anna": 403, "bertil": 404, "bo": 200, "lena": 403, "dora": 404, "adam": 403, None: 401},
    "claim":         {"anna": 403, "bertil": 404, "bo": 200, "lena": 403, "dora": 404, "adam": 403, None: 401},
    "deploy":        {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 201, "adam": 201, None: 401},
    "admin":         {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 403, "adam": 200, None: 401},
    "case history":  {"anna": 200, "bertil": 404, "bo": 200, "lena": 200, "dora": 404, "adam": 200, None: 401},
    "gate decisions": {"anna": 200, "bertil": 404, "bo": 200, "lena": 200, "dora": 404, "adam": 200, None: 401},
    "task detail":   {"anna": 200, "bertil": 404, "bo": 200, "lena": 200, "dora": 404, "adam": 200, None: 401},
    "comment":       {"anna": 201, "bertil": 404, "bo": 201, "lena": 201, "dora": 404, "adam": 201, None: 401},
    "attach":        {"anna": 201, "bertil": 404, "bo": 201, "lena": 201, "dora": 404, "adam": 201, None: 401},
    "download":      {"anna": 200, "bertil": 404, "bo": 200, "lena": 200, "dora": 404, "adam": 200, None: 401},
    "others' cases": {"anna": 200, "bertil": 403, "bo": 403, "lena": 200, "dora": 403, "adam": 200, None: 401},
    "versions":      {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 200, "adam": 200, None: 401},
    "export bpmn":   {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 200, "adam": 200, None: 401},
    "incidents":     {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 403, "adam": 200, None: 401},
    "terminate":     {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 403, "adam": 200, None: 401},
    "suspend":       {"anna": 403, "bertil": 403, "bo": 403, "lena": 403, "dora": 403, "adam": 200, None: 401},
}
GETS = {"view case", "case history", "gate decisions", "task detail", "download", "others' cases", "versions",
        "export bpmn", "incidents"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("matrix")
    ctx, app = build_api_world(f"sqlite:///{folder / 'iphs.db'}", folder / "files")
    yield ctx, app
    ctx.close()


def _open_task_ids(ctx, case_id):
    return [t.id for t in cases.get_case(ctx, case_id, Actor.system()).case.open_tasks]


def _act(ctx, browser, action):
    """Do `action` as `browser`; return (response, check that a refusal changed nothing)."""
    if action == "view case":
        case = case_at_gate(ctx)
        return browser.get(f"/api/v1/cases/{case.id}"), lambda: True
    if action == "complete task":
        case = case_at_need(ctx)
        task = case.open_tasks[0].id
        response = browser.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Mitt behov"}})
        return response, lambda: _open_task_ids(ctx, case.id) == [task]
    if action == "decide gate":
        case = case_at_gate(ctx)
        gate = case.open_tasks[0]
        assert gate.candidate_group == "gate-deciders" and gate.lane == "Beslutsfattare"
        response = browser.post(f"/api/v1/tasks/{gate.id}/complete", {"data": {"approved": True}})
        return response, lambda: _open_task_ids(ctx, case.id) == [gate.id]
    if action == "claim":
        case = case_at_gate(ctx)
        gate = case.open_tasks[0]
        response = browser.post(f"/api/v1/tasks/{gate.id}/claim")
        return response, lambda: cases.get_case(ctx, case.id, Actor.system()).case.open_tasks[0].assignee is None
    if action == "deploy":
        upload = io.BytesIO((FIXTURES / "bpmn" / "review_loop.bpmn").read_bytes())
        response = browser.post("/api/v1/processes", json=None, data={"files": (upload, "review_loop.bpmn")},
                                content_type="multipart/form-data")
        return response, lambda: True
    if action == "admin":
        case = case_in_incident(ctx)
        response = browser.post(f"/api/v1/admin/cases/{case.id}/retry")
        return response, lambda: cases.get_case(ctx, case.id, Actor.system()).case.status == "incident"
    if action in ("case history", "gate decisions"):
        case = case_at_gate(ctx)
        path = "history" if action == "case history" else "decisions"
        return browser.get(f"/api/v1/cases/{case.id}/{path}"), lambda: True
    if action == "task detail":
        case = case_at_gate(ctx)
        return browser.get(f"/api/v1/tasks/{case.open_tasks[0].id}"), lambda: True
    if action == "comment":
        case = case_at_gate(ctx)
        response = browser.post(f"/api/v1/cases/{case.id}/comments", {"body": "Min synpunkt"})
        return response, lambda: comments.list_comments(ctx, case.id, Actor.system()) == []
    if action == "attach":
        case = case_at_gate(ctx)
        response = browser.post(f"/api/v1/cases/{case.id}/attachments", json=None, content_type="multipart/form-data",
                                data={"file": (io.BytesIO(b"Underlag"), "underlag.txt")})
        return response, lambda: attachments.list_attachments(ctx, case.id, Actor.system()) == []
    if action == "download":
        case = case_at_gate(ctx)
        view = attachments.add_attachment(ctx, case.id, "underlag.txt", io.BytesIO(b"Underlag"), actor(ctx, "anna"))
        return browser.get(f"/api/v1/attachments/{view.id}"), lambda: True
    if action == "others' cases":
        return browser.get("/api/v1/cases?owner=anna"), lambda: True
    if action == "versions":
        return browser.get("/api/v1/processes/gate_decision/versions"), lambda: True
    if action == "export bpmn":
        return browser.get("/api/v1/processes/gate_decision/versions/1/bpmn"), lambda: True
    if action == "incidents":
        return browser.get("/api/v1/admin/incidents"), lambda: True
    if action in ("terminate", "suspend"):
        case = case_at_gate(ctx)
        response = browser.post(f"/api/v1/admin/cases/{case.id}/{action}", {"reason": "Dubblett"})
        return response, lambda: cases.get_case(ctx, case.id, Actor.system()).case.status == "running"
    raise AssertionError(action)


@pytest.mark.parametrize("user", USERS, ids=[u or "anonymous" for u in USERS])
@pytest.mark.parametrize("action", list(EXPECTED))
def test_permission_matrix(world, action, user) -> None:
    ctx, app = world
    browser = Browser(app, user)
    response, unchanged = _act(ctx, browser, action)
    expected = EXPECTED[action][user]
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected >= 400:
        assert response.mimetype == "application/problem+json"
        assert response.json["status"] == expected and response.json["detail"]
        assert unchanged(), "a refused request changed something"
    if expected == 403:
        with ctx.uow.read() as tx:
            last = tx.session.query(AccessLog).filter_by(username=user).order_by(AccessLog.id.desc()).first()
            assert (last.event, last.detail["method"]) == ("access_denied", "GET" if action in GETS else "POST")


def test_an_idea_owner_guessing_another_owners_case_id_gets_404_and_no_data(world) -> None:
    ctx, app = world
    case = case_at_gate(ctx, title="Hemlig idé om parkering")
    bertil = Browser(app, "bertil")
    seen = bertil.get(f"/api/v1/cases/{case.id}")
    missing = bertil.get("/api/v1/cases/999999")
    by_number = bertil.get(f"/api/v1/cases/{case.number}")
    assert seen.status_code == missing.status_code == by_number.status_code == 404
    body = seen.get_data(as_text=True)
    for secret in ("Hemlig", "parkering", case.number, "anna", "gate", "Grindbeslut"):
        assert secret not in body
    assert seen.json == {**missing.json, "detail": missing.json["detail"].replace("999999", str(case.id))}
    assert [c["id"] for c in bertil.get("/api/v1/cases").json["items"]] == []
    assert Browser(app, "anna").get(f"/api/v1/cases/{case.number}").json["case"]["title"] == "Hemlig idé om parkering"


def test_a_forged_or_missing_csrf_token_is_refused_and_changes_nothing(world) -> None:
    ctx, app = world
    case = case_at_gate(ctx)
    gate = case.open_tasks[0].id
    bo = Browser(app, "bo")
    for headers in ({"X-CSRFToken": "forged"}, {"X-CSRFToken": ""}, {"X-CSRFToken": Browser(app, "lena").token}):
        response = bo.client.post(f"/api/v1/tasks/{gate}/claim", headers=headers)
        assert response.status_code == 400 and "CSRF" in response.json["detail"]
    assert cases.get_case(ctx, case.id, Actor.system()).case.open_tasks[0].assignee is None
    assert bo.post(f"/api/v1/tasks/{gate}/claim").status_code == 200


def test_a_request_with_a_token_header_never_borrows_the_session_cookie(world) -> None:
    ctx, app = world
    case = case_at_gate(ctx)
    bo = Browser(app, "bo")
    response = bo.client.post(f"/api/v1/tasks/{case.open_tasks[0].id}/claim",
                              headers={"Authorization": "Bearer not-a-real-token"})
    assert response.status_code == 401
    assert cases.get_case(ctx, case.id, Actor.system()).case.open_tasks[0].assignee is None


def test_an_expired_session_is_refused_by_the_api(world, frozen_clock) -> None:
    ctx, app = world
    case = case_at_gate(ctx)
    bo = Browser(app, "bo")
    clock.advance(timedelta(hours=9))
    response = bo.post(f"/api/v1/tasks/{case.open_tasks[0].id}/claim")
    assert response.status_code == 401 and "expired" in response.json["detail"]
    assert bo.get("/api/v1/tasks").status_code == 401
    assert cases.get_case(ctx, case.id, Actor.system()).case.open_tasks[0].assignee is None


def test_bad_input_gets_field_messages_never_a_500(world) -> None:
    ctx, app = world
    anna = Browser(app, "anna")
    case = case_at_need(ctx)
    task = case.open_tasks[0].id
    cases_ = [
        (f"/api/v1/tasks/{task}/complete", {"data": "not an object"}, "data"),
        (f"/api/v1/tasks/{task}/complete", {"data": {}}, "text"),
        (f"/api/v1/tasks/{task}/complete", {"data": {"text": "x"}, "version": "seven"}, "version"),
        (f"/api/v1/tasks/{task}/complete", {"data": {"text": "x"}, "surprise": 1}, "surprise"),
        ("/api/v1/cases", {"data": {}}, "process"),
    ]
    for path, body, field in cases_:
        response = anna.post(path, body)
        assert response.status_code == 422, (body, response.get_data(as_text=True))
        assert response.mimetype == "application/problem+json" and field in response.json["errors"], response.json
    broken = anna.post(f"/api/v1/tasks/{task}/complete", data="{not json", content_type="application/json")
    assert broken.status_code == 422 and broken.mimetype == "application/problem+json"
    assert anna.post("/api/v1/tasks/999999/complete", {"data": {}}).status_code == 404
    stale = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "x"}, "version": case.version + 5})
    assert stale.status_code == 409
    assert anna.get("/api/v1/nothing-here").status_code == 404
    assert anna.get("/api/v1/nothing-here").mimetype == "application/problem+json"


def test_deploy_refuses_files_that_are_not_models(world) -> None:
    ctx, app = world
    dora = Browser(app, "dora")
    response = dora.post("/api/v1/processes", json=None, data={"files": (io.BytesIO(b"print(1)"), "x.py")},
                         content_type="multipart/form-data")
    assert response.status_code == 422 and "x.py" in response.json["errors"]
    assert dora.post("/api/v1/processes", json=None, data={}, content_type="multipart/form-data").status_code == 422
