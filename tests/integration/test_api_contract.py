"""The /api/v1 contract, endpoint by endpoint: the happy path and every refusal as problem+json.

Runs through the real Flask app with real sign-in (session cookie + CSRF header), on a
SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from iphs_flow.engine import clock
from iphs_flow.engine.clock import now
from iphs_flow.services import cases
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import Case, CaseEvent, IdempotencyKey, Notification
from tests.conftest import FIXTURES
from tests.integration.api_world import Browser, build_api_world, case_at_gate, case_at_need, case_in_incident

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path_factory) -> Iterator[tuple]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('contract') / 'iphs.db'}"
        admin = name = None
    else:
        admin_url = request.getfixturevalue("postgres_admin")
        name = f"iphs_test_{uuid.uuid4().hex[:12]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    ctx, app = build_api_world(url, tmp_path_factory.mktemp("files"))
    browsers: dict[str, Browser] = {}

    def as_(username: str | None) -> Browser:
        if username not in browsers:
            browsers[username] = Browser(app, username)
        return browsers[username]

    yield ctx, app, as_
    ctx.close()
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert field in body.get("errors", {}), body
    return body


# ---------------------------------------------------------------- cases


def test_starting_a_case_answers_201_with_the_case_and_its_first_task(world) -> None:
    ctx, app, as_ = world
    response = as_("anna").post("/api/v1/cases", {"process": "gate_decision", "title": "Cykelparkering vid skolan"})
    assert response.status_code == 201
    body = response.json
    assert body["title"] == "Cykelparkering vid skolan" and body["owner"] == "anna" and body["status"] == "running"
    assert [t["task_key"] for t in body["open_tasks"]] == ["need"]
    problem(as_("anna").post("/api/v1/cases", {"process": "no_such_process"}), 404)
    problem(as_("anna").post("/api/v1/cases", {"process": ""}), 422, "process")
    problem(as_("anna").post("/api/v1/cases", {"process": "gate_decision", "data": []}), 422, "data")
    problem(as_(None).post("/api/v1/cases", {"process": "gate_decision"}), 401)


def test_the_case_list_comes_in_pages_with_an_opaque_cursor_and_a_link_header(world) -> None:
    ctx, app, as_ = world
    title = f"Sida {uuid.uuid4().hex[:6]}"
    made = [case_at_need(ctx, "bertil", f"{title} {n}").id for n in range(5)]
    bertil = as_("bertil")
    seen: list[int] = []
    url = f"/api/v1/cases?limit=2&q={title}"
    pages = 0
    while url:
        response = bertil.get(url)
        assert response.status_code == 200
        page = response.json
        assert len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        pages += 1
        if page["next_cursor"]:
            link = response.headers["Link"]
            assert link.endswith('>; rel="next"')
            next_url = urlparse(link[1:link.index(">")])
            assert parse_qs(next_url.query)["cursor"] == [page["next_cursor"]]
            assert parse_qs(next_url.query)["limit"] == ["2"]
            url = f"{next_url.path}?{next_url.query}"
        else:
            assert "Link" not in response.headers
            url = ""
    assert seen == sorted(made, reverse=True) and pages == 3
    # A case started while paging does not shift the later pages (keyset, newest first).
    first = bertil.get(f"/api/v1/cases?limit=2&q={title}").json
    case_at_need(ctx, "bertil", f"{title} ny")
    second = bertil.get(f"/api/v1/cases?limit=2&q={title}&cursor={first['next_cursor']}").json
    assert [c["id"] for c in second["items"]] == sorted(made, reverse=True)[2:4]


def test_the_case_list_filters_by_status_stage_process_text_owner_and_change_time(world) -> None:
    ctx, app, as_ = world
    marker = uuid.uuid4().hex[:6]
    at_gate = case_at_gate(ctx, "anna", f"Filter {marker} grind")
    at_need = case_at_need(ctx, "anna", f"Filter {marker} behov")
    broken = case_in_incident(ctx, "anna")
    lena, anna = as_("lena"), as_("anna")

    def ids(query: str, who=lena) -> list[int]:
        response = who.get(f"/api/v1/cases?{query}")
        assert response.status_code == 200, response.json
        return [c["id"] for c in response.json["items"]]

    assert ids(f"q={marker}") == [at_need.id, at_gate.id]
    assert ids(f"q={marker.upper()}") == [at_need.id, at_gate.id]  # case-insensitive
    assert ids(f"q={at_gate.number}") == [at_gate.id]
    assert broken.id in ids("status=incident") and at_gate.id not in ids("status=incident")
    assert ids(f"q={marker}&stage=1&process=gate_decision") == [at_need.id, at_gate.id]
    assert ids(f"q={marker}&process=scripted") == []
    assert set(ids("owner=anna&limit=200")) >= {at_gate.id, at_need.id, broken.id}
    assert ids(f"owner=bertil&q={marker}") == []
    later = (now() + timedelta(minutes=5)).isoformat()
    assert ids(f"q={marker}&updated_since={later.replace('+', '%2B')}") == []
    earlier = (now() - timedelta(minutes=5)).isoformat()
    assert ids(f"q={marker}&updated_since={earlier.replace('+', '%2B')}") == [at_need.id, at_gate.id]
    # Idea owners list their own cases, may name themselves, never someone else.
    assert ids(f"q={marker}&owner=anna", anna) == [at_need.id, at_gate.id]
    assert ids(f"q={marker}", as_("bertil")) == []
    problem(as_("bertil").get("/api/v1/cases?owner=anna"), 403)


def test_bad_list_parameters_are_422_with_the_field_named(world) -> None:
    ctx, app, as_ = world
    anna = as_("anna")
    for query, field in [("limit=0", "limit"), ("limit=201", "limit"), ("limit=many", "limit"),
                         ("status=sleeping", "status"), ("cursor=not-a-cursor", "cursor"),
                         ("cursor=eyJiZWZvcmUiOiAiMSJ9", "cursor"), ("stage=x", "stage"),
                         ("updated_since=yesterday", "updated_since"),
                         ("updated_since=2026-01-01T00:00:00", "updated_since")]:
        problem(anna.get(f"/api/v1/cases?{query}"), 422, field)


def test_a_case_is_read_with_its_stage_data_history_and_version_as_etag(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    response = as_("anna").get(f"/api/v1/cases/{case.id}")
    assert response.status_code == 200
    body = response.json
    assert body["case"]["stage"] == 1 and body["case"]["version"] == case.version
    assert response.headers["ETag"] == f'"v{case.version}"'
    assert body["data"]["text"] == "Beredd"
    assert [e["kind"] for e in body["history"]][0] == "case_started"
    assert as_("anna").get(f"/api/v1/cases/{case.number}").json["case"]["id"] == case.id
    problem(as_("bertil").get(f"/api/v1/cases/{case.id}"), 404)
    problem(as_("anna").get("/api/v1/cases/999999"), 404)


def test_history_and_gate_decisions_are_read_from_the_audit_trail(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    gate = case.open_tasks[0].id
    bo = as_("bo")
    assert bo.post(f"/api/v1/tasks/{gate}/complete",
                   {"data": {"approved": False, "comment": "Finns redan i trafikplanen"}}).status_code == 200
    history = as_("anna").get(f"/api/v1/cases/{case.id}/history")
    assert history.status_code == 200
    kinds = [e["kind"] for e in history.json]
    assert kinds[0] == "case_started" and kinds.count("task_completed") == 3 and kinds[-1] == "case_closed"
    decisions = as_("anna").get(f"/api/v1/cases/{case.number}/decisions")
    assert decisions.status_code == 200
    [decision] = decisions.json
    assert decision["outcome"] == "rejected" and decision["reason"] == "Finns redan i trafikplanen"
    assert decision["decided_by"] == "bo" and decision["task_key"] == "gate" and decision["task_id"] == gate
    assert decision["stage"] == 1 and decision["decided_at"] and decision["data"]["approved"] is False
    problem(as_("bertil").get(f"/api/v1/cases/{case.id}/history"), 404)
    problem(as_("bertil").get(f"/api/v1/cases/{case.id}/decisions"), 404)
    assert as_("anna").get(f"/api/v1/cases/{case_at_need(ctx).id}/decisions").json == []


def test_comments_are_read_and_written_by_those_who_see_the_case(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    written = as_("bo").post(f"/api/v1/cases/{case.id}/comments", {"body": "  Kan vi pilota i Skärholmen?  "})
    assert written.status_code == 201 and written.json["author"] == "bo"
    assert written.json["body"] == "Kan vi pilota i Skärholmen?"
    listed = as_("anna").get(f"/api/v1/cases/{case.id}/comments").json
    assert [(c["author"], c["body"]) for c in listed] == [("bo", "Kan vi pilota i Skärholmen?")]
    problem(as_("anna").post(f"/api/v1/cases/{case.id}/comments", {"body": ""}), 422, "body")
    problem(as_("anna").post(f"/api/v1/cases/{case.id}/comments", {"body": "x" * 4001}), 422, "body")
    problem(as_("anna").post(f"/api/v1/cases/{case.id}/comments", {}), 422, "body")
    problem(as_("bertil").post(f"/api/v1/cases/{case.id}/comments", {"body": "Hej"}), 404)
    problem(as_("bertil").get(f"/api/v1/cases/{case.id}/comments"), 404)
    assert len(as_("anna").get(f"/api/v1/cases/{case.id}/comments").json) == 1


def _upload(browser, case_id, content: bytes, name: str):
    return browser.post(f"/api/v1/cases/{case_id}/attachments", json=None,
                        data={"file": (io.BytesIO(content), name)}, content_type="multipart/form-data")


def test_attachments_are_uploaded_listed_and_downloaded_only_by_those_who_see_the_case(world, tmp_path) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    content = "Mätpunkt;Bilar per timme\nSkolgatan;340\n".encode()
    uploaded = _upload(as_("anna"), case.id, content, "../../trafik.csv")
    assert uploaded.status_code == 201, uploaded.json
    attachment = uploaded.json
    assert attachment["filename"] == "trafik.csv" and attachment["size"] == len(content)
    assert attachment["content_type"].startswith("text/csv") and attachment["uploaded_by"] == "anna"
    assert [a["id"] for a in as_("bo").get(f"/api/v1/cases/{case.id}/attachments").json] == [attachment["id"]]
    download = as_("bo").get(f"/api/v1/attachments/{attachment['id']}")
    assert download.status_code == 200 and download.data == content
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "sandbox" in download.headers["Content-Security-Policy"]
    problem(as_("bertil").get(f"/api/v1/attachments/{attachment['id']}"), 404)
    problem(as_("anna").get("/api/v1/attachments/999999"), 404)
    problem(_upload(as_("bertil"), case.id, content, "trafik.csv"), 404)
    problem(_upload(as_("anna"), case.id, b"#!/bin/sh\nrm -rf /\n", "script.sh"), 422, "file")
    problem(_upload(as_("anna"), case.id, b"MZ\x00\x00binary", "rapport.pdf"), 422, "file")
    problem(as_("anna").post(f"/api/v1/cases/{case.id}/attachments", json=None, data={},
                             content_type="multipart/form-data"), 422, "file")
    assert len(as_("anna").get(f"/api/v1/cases/{case.id}/attachments").json) == 1


# ---------------------------------------------------------------- tasks


def test_a_task_is_read_with_its_form_schema_ui_schema_and_case_version(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    gate = case.open_tasks[0].id
    response = as_("bo").get(f"/api/v1/tasks/{gate}")
    assert response.status_code == 200
    body = response.json
    assert body["task"]["id"] == gate and body["task"]["form_key"] == "review"
    assert body["form_schema"]["required"] == ["approved"] and isinstance(body["ui_schema"], dict)
    assert body["case_version"] == case.version and response.headers["ETag"] == f'"v{case.version}"'
    assert body["may_work"] is True and body["data"]["text"] == "Beredd"
    assert as_("anna").get(f"/api/v1/tasks/{gate}").json["may_work"] is False
    problem(as_("bertil").get(f"/api/v1/tasks/{gate}"), 404)
    problem(as_("bo").get("/api/v1/tasks/999999"), 404)


def test_the_inbox_shows_mine_or_my_groups_tasks(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    gate = case.open_tasks[0].id
    bo = as_("bo")
    assert gate in [t["id"] for t in bo.get("/api/v1/tasks?show=group").json]
    assert gate not in [t["id"] for t in bo.get("/api/v1/tasks?show=mine").json]
    assert bo.post(f"/api/v1/tasks/{gate}/claim").json["assignee"] == "bo"
    assert gate in [t["id"] for t in bo.get("/api/v1/tasks?show=mine").json]
    assert gate not in [t["id"] for t in bo.get("/api/v1/tasks?show=group").json]
    assert bo.post(f"/api/v1/tasks/{gate}/unclaim").json["assignee"] is None
    problem(bo.get("/api/v1/tasks?show=everything"), 422, "show")


def test_completing_honours_if_match_and_refuses_a_stale_or_double_completion(world) -> None:
    ctx, app, as_ = world
    case = case_at_need(ctx)
    task = case.open_tasks[0].id
    anna = as_("anna")
    tag = anna.get(f"/api/v1/tasks/{task}").headers["ETag"]
    stale = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}},
                      headers={"If-Match": f'"v{case.version - 1}"'})
    assert "changed since you" in problem(stale, 409)["detail"]
    problem(anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}},
                      headers={"If-Match": "version seven"}), 422, "If-Match")
    problem(anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}, "version": case.version + 1},
                      headers={"If-Match": tag}), 409)
    done = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}}, headers={"If-Match": tag})
    assert done.status_code == 200 and done.json["version"] > case.version
    again = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}}, headers={"If-Match": tag})
    assert "already completed" in problem(again, 409)["detail"]
    assert anna.post(f"/api/v1/tasks/{done.json['open_tasks'][0]['id']}/complete", {"data": {"text": "x"}},
                     headers={"If-Match": "*"}).status_code in (403, 404)  # the lead's task, not anna's


# ---------------------------------------------------------------- idempotency


def _count(ctx, model, **where) -> int:
    with ctx.uow.read() as tx:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(tx.session.scalar(query))


def test_a_retried_start_with_the_same_key_replays_the_first_response_and_starts_one_case(world) -> None:
    ctx, app, as_ = world
    key = str(uuid.uuid4())
    title = f"Idempotent {key[:8]}"
    body = {"process": "gate_decision", "title": title}
    first = as_("anna").post("/api/v1/cases", body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    reordered = {"title": title, "process": "gate_decision"}  # same content, other key order
    second = as_("anna").post("/api/v1/cases", reordered, headers={"Idempotency-Key": key})
    assert second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert second.data == first.data
    assert _count(ctx, Case, title=title) == 1
    other = as_("anna").post("/api/v1/cases", {**body, "title": "Något annat"}, headers={"Idempotency-Key": key})
    assert "different request" in problem(other, 422, "Idempotency-Key")["detail"]
    # Keys are per person: bertil's identical key is his own.
    assert as_("bertil").post("/api/v1/cases", body, headers={"Idempotency-Key": key}).status_code == 201
    assert _count(ctx, Case, title=title) == 2
    problem(as_("anna").post("/api/v1/cases", body, headers={"Idempotency-Key": "has spaces"}), 422,
            "Idempotency-Key")
    problem(as_("anna").post("/api/v1/cases", body, headers={"Idempotency-Key": "k" * 201}), 422)


def test_a_retried_completion_with_the_same_key_is_replayed_not_refused(world) -> None:
    ctx, app, as_ = world
    case = case_at_need(ctx)
    task = case.open_tasks[0].id
    key = str(uuid.uuid4())
    anna = as_("anna")
    first = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}}, headers={"Idempotency-Key": key})
    again = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}}, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200 and again.data == first.data
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _count(ctx, CaseEvent, case_id=case.id, kind="task_completed") == 1
    problem(anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Annat"}},
                      headers={"Idempotency-Key": key}), 422, "Idempotency-Key")
    # Without the key the same retry is the double completion it is: 409.
    problem(anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Behov"}}), 409)


def test_a_refused_request_records_no_key_so_the_corrected_retry_runs(world) -> None:
    ctx, app, as_ = world
    case = case_at_need(ctx)
    task = case.open_tasks[0].id
    key = str(uuid.uuid4())
    anna = as_("anna")
    problem(anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": ""}}, headers={"Idempotency-Key": key}),
            422, "text")
    assert _count(ctx, IdempotencyKey, key=key) == 0
    fixed = anna.post(f"/api/v1/tasks/{task}/complete", {"data": {"text": "Nu"}}, headers={"Idempotency-Key": key})
    assert fixed.status_code == 200 and _count(ctx, IdempotencyKey, key=key) == 1


# ---------------------------------------------------------------- processes


def test_processes_and_their_versions_are_listed_exported_and_compared(world) -> None:
    ctx, app, as_ = world
    listed = as_("anna").get("/api/v1/processes")
    assert listed.status_code == 200 and {"gate_decision", "scripted"} <= {p["key"] for p in listed.json}
    one = as_("anna").get("/api/v1/processes/gate_decision").json
    assert one["key"] == "gate_decision" and "review" in one["form_keys"]
    problem(as_("anna").get("/api/v1/processes/nope"), 404)
    original = (FIXTURES / "bpmn" / "gate_decision.bpmn").read_text()
    if as_("dora").get("/api/v1/processes/gate_decision").json["version"] == 1:
        changed = original.replace('name="Grindbeslut G1"', 'name="Grindbeslut G1 (ny)"')
        deployed = as_("dora").post("/api/v1/processes", json=None, content_type="multipart/form-data",
                                    data={"f": (io.BytesIO(changed.encode()), "gate_decision.bpmn")})
        assert deployed.status_code == 201 and deployed.json[0]["version"] == 2
    versions = as_("dora").get("/api/v1/processes/gate_decision/versions")
    assert versions.status_code == 200 and [v["version"] for v in versions.json] == [1, 2]
    one_version = as_("dora").get("/api/v1/processes/gate_decision/versions/2").json
    assert one_version["version"] == 2 and one_version["deployed_by"] == "dora"
    problem(as_("dora").get("/api/v1/processes/gate_decision/versions/3"), 404)
    problem(as_("anna").get("/api/v1/processes/gate_decision/versions/2"), 403)
    exported = as_("dora").get("/api/v1/processes/gate_decision/versions/1/bpmn")
    assert exported.status_code == 200 and exported.mimetype == "application/xml"
    assert exported.get_data(as_text=True) == original
    diff = as_("dora").get("/api/v1/processes/gate_decision/diff?from=1&to=2")
    assert diff.status_code == 200
    assert {"element_id": "gate", "kind": "userTask", "name": "Grindbeslut G1 (ny)", "change": "changed"} in diff.json
    problem(as_("dora").get("/api/v1/processes/gate_decision/diff?from=1&to=9"), 404)
    problem(as_("dora").get("/api/v1/processes/gate_decision/diff?from=1"), 422, "to")
    problem(as_("dora").get("/api/v1/processes/gate_decision/versions/9/bpmn"), 404)
    for path in ("versions", "versions/1/bpmn", "diff?from=1&to=2"):
        problem(as_("anna").get(f"/api/v1/processes/gate_decision/{path}"), 403)


# ---------------------------------------------------------------- notifications


def _notify(ctx, username: str, subject: str) -> None:
    with ctx.uow.write() as tx:
        tx.notifications.add_once(Notification(
            key=f"test:{uuid.uuid4().hex}", username=username, case_id=None, template="reminder",
            subject=subject, body="Uppgiften väntar på dig.", link="/inbox", created_at=now(), read_at=None))
        tx.commit()


def test_people_read_and_mark_only_their_own_notifications(world) -> None:
    ctx, app, as_ = world
    _notify(ctx, "lars", "Påminnelse: bered inför grind")
    _notify(ctx, "lars", "Påminnelse: grindbeslut")
    _notify(ctx, "dora", "Doras meddelande")
    lars = as_("lars")
    mine = lars.get("/api/v1/notifications").json
    assert [n["subject"] for n in mine] == ["Påminnelse: grindbeslut", "Påminnelse: bered inför grind"]
    doras = [n["id"] for n in as_("dora").get("/api/v1/notifications").json]
    assert lars.post("/api/v1/notifications/read", {"ids": [mine[0]["id"], *doras]}).json == {"marked": 1}
    assert [n["id"] for n in lars.get("/api/v1/notifications?unread=true").json] == [mine[1]["id"]]
    assert as_("dora").get("/api/v1/notifications?unread=true").json[0]["read_at"] is None
    assert lars.post("/api/v1/notifications/read", {}).json == {"marked": 1}
    assert lars.get("/api/v1/notifications?unread=true").json == []
    problem(lars.post("/api/v1/notifications/read", {"ids": ["x"]}), 422, "ids/0")
    problem(lars.get("/api/v1/notifications?limit=0"), 422, "limit")


# ---------------------------------------------------------------- administration


def test_administrators_see_incidents_and_retry_or_dismiss_failed_jobs(world) -> None:
    ctx, app, as_ = world
    broken = case_in_incident(ctx)
    with ctx.uow.write() as tx:
        for n in range(2):
            tx.outbox.add_for(f"test-failed-{uuid.uuid4().hex}", "mail", {"to": "eva@example.se", "subject": f"S{n}"},
                              recipient="eva", status="incident", due_at=now())
        tx.commit()
    adam = as_("adam")
    listed = adam.get("/api/v1/admin/incidents")
    assert listed.status_code == 200
    assert broken.id in [c["id"] for c in listed.json["cases"]]
    assert all(c["status"] == "incident" and c["incident"] for c in listed.json["cases"])
    failed = [j["id"] for j in listed.json["jobs"]]
    assert len(failed) >= 2
    retried = adam.post(f"/api/v1/admin/jobs/{failed[0]}/retry")
    assert retried.status_code == 200 and retried.json["status"] == "pending" and retried.json["attempts"] == 0
    problem(adam.post(f"/api/v1/admin/jobs/{failed[0]}/dismiss"), 409)
    assert adam.post(f"/api/v1/admin/jobs/{failed[1]}/dismiss").json["status"] == "dismissed"
    remaining = [j["id"] for j in adam.get("/api/v1/admin/incidents").json["jobs"]]
    assert failed[0] not in remaining and failed[1] not in remaining
    problem(adam.post("/api/v1/admin/jobs/999999/retry"), 404)
    for who in ("anna", "lena", "dora"):
        problem(as_(who).get("/api/v1/admin/incidents"), 403)
        problem(as_(who).post(f"/api/v1/admin/jobs/{failed[0]}/retry"), 403)


def test_administrators_suspend_resume_and_terminate_cases_with_a_reason(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    adam = as_("adam")
    suspended = adam.post(f"/api/v1/admin/cases/{case.id}/suspend", {"reason": "Utreds"})
    assert suspended.status_code == 200 and suspended.json["status"] == "suspended"
    problem(as_("bo").post(f"/api/v1/tasks/{case.open_tasks[0].id}/complete", {"data": {"approved": True}}), 409)
    problem(adam.post(f"/api/v1/admin/cases/{case.id}/suspend", {}), 409)
    assert adam.post(f"/api/v1/admin/cases/{case.number}/resume").json["status"] == "running"
    problem(adam.post(f"/api/v1/admin/cases/{case.id}/terminate", {}), 422, "reason")
    problem(adam.post(f"/api/v1/admin/cases/{case.id}/terminate", {"reason": ""}), 422, "reason")
    terminated = adam.post(f"/api/v1/admin/cases/{case.id}/terminate", {"reason": "Dubblett av ett annat ärende"})
    assert terminated.status_code == 200 and terminated.json["status"] == "terminated"
    assert terminated.json["open_tasks"] == []
    history = adam.get(f"/api/v1/cases/{case.id}/history").json
    assert history[-1]["kind"] == "case_terminated" and history[-1]["data"]["reason"] == "Dubblett av ett annat ärende"
    problem(adam.post(f"/api/v1/admin/cases/{case.id}/resume"), 409)
    problem(adam.post("/api/v1/admin/cases/999999/suspend", {}), 404)
    other = case_at_gate(ctx)
    for who in ("anna", "lena", "bo"):
        problem(as_(who).post(f"/api/v1/admin/cases/{other.id}/terminate", {"reason": "Nej"}), 403)
    assert cases.get_case(ctx, other.id, Actor.system()).case.status == "running"


# ---------------------------------------------------------------- the document


def test_the_openapi_document_describes_every_operation_and_errors_as_problem_json(world) -> None:
    ctx, app, as_ = world
    spec = as_(None).get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path, method in [("/api/v1/cases", "get"), ("/api/v1/cases/{case_ref}/decisions", "get"),
                         ("/api/v1/attachments/{attachment_id}", "get"), ("/api/v1/tasks/{task_id}", "get"),
                         ("/api/v1/processes/{key}/diff", "get"), ("/api/v1/notifications/read", "post"),
                         ("/api/v1/admin/incidents", "get"), ("/api/v1/admin/cases/{case_ref}/terminate", "post")]:
        assert method in paths[path], path
    complete = paths["/api/v1/tasks/{task_id}/complete"]["post"]
    assert {"Idempotency-Key", "If-Match"} <= {p["name"] for p in complete["parameters"]}
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == [PROBLEM]
    assert "multipart/form-data" in paths["/api/v1/cases/{case_ref}/attachments"]["post"]["requestBody"]["content"]
    page = as_(None).get("/api/v1/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for path, item in paths.items():
        for method in item:
            if method != "parameters":
                assert f"{method.upper()} {path}" in html
    assert "<script" not in html.split("</footer>")[0].split("<main")[1]


def test_unknown_json_fields_and_broken_bodies_are_422_never_500(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    adam = as_("adam")
    problem(adam.post(f"/api/v1/admin/cases/{case.id}/terminate", {"reason": "x", "force": True}), 422, "force")
    problem(adam.post(f"/api/v1/cases/{case.id}/comments", data="{", content_type="application/json"), 422)
    problem(adam.post("/api/v1/notifications/read", {"ids": None, "all": True}), 422, "all")
    assert adam.post("/api/v1/notifications/read", {"ids": None}).status_code == 200


def test_expired_keys_are_purged_and_an_expired_key_runs_again(world, frozen_clock) -> None:
    ctx, app, as_ = world
    from iphs_flow.services.idempotency import purge_expired

    key = str(uuid.uuid4())
    title = f"Utgången nyckel {key[:6]}"
    body = {"process": "gate_decision", "title": title}
    assert as_("anna").post("/api/v1/cases", body, headers={"Idempotency-Key": key}).status_code == 201
    clock.advance(timedelta(hours=23))
    assert as_("anna").post("/api/v1/cases", body, headers={"Idempotency-Key": key}).headers.get(
        "Idempotent-Replayed") == "true"
    clock.advance(timedelta(hours=2))
    again = as_("anna").post("/api/v1/cases", body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert _count(ctx, Case, title=title) == 2
    clock.advance(timedelta(hours=25))
    assert purge_expired(ctx) >= 1
    assert _count(ctx, IdempotencyKey, key=key) == 0


def test_nul_characters_are_refused_as_422_not_a_database_error(world) -> None:
    ctx, app, as_ = world
    case = case_at_gate(ctx)
    anna = as_("anna")
    problem(anna.post(f"/api/v1/cases/{case.id}/comments", {"body": "hej\u0000då"}), 422, "body")
    problem(anna.post("/api/v1/cases", {"process": "gate_decision", "data": {"x": ["ok", "a\u0000"]}}), 422, "data/x/1")
    problem(anna.get("/api/v1/cases?q=a%00b"), 422, "q")
    problem(anna.get("/api/v1/cases/IPHS%00"), 422)
    assert anna.get(f"/api/v1/cases/{case.id}/comments").json == []


def test_a_file_over_the_limit_is_refused_as_problem_json_like_on_the_web(tmp_path) -> None:
    from iphs_flow.app import create_app
    from iphs_flow.services import accounts, processes
    from iphs_flow.services.permissions import Actor
    from tests.conftest import fixture_files, make_context
    from tests.integration.web_session import PASSWORD

    ctx = make_context(f"sqlite:///{tmp_path / 'iphs.db'}", attachments_dir=tmp_path / "files",
                       attachment_max_bytes=1000, login_rate="10000/minute")
    try:
        accounts.add_user(ctx, "anna", "Anna Andersson", password=PASSWORD)
        processes.deploy_process(ctx, fixture_files("gate_decision.bpmn"), Actor.system())
        app = create_app(context=ctx)
        case = case_at_need(ctx)
        anna = Browser(app, "anna")
        over_service_limit = _upload(anna, case.id, b"a" * 1001, "lista.txt")
        assert "larger than" in problem(over_service_limit, 422, "file")["detail"]
        over_request_limit = _upload(anna, case.id, b"a" * (1024 * 1024 + 2000), "lista.txt")
        problem(over_request_limit, 413)
        assert anna.get(f"/api/v1/cases/{case.id}/attachments").json == []
    finally:
        ctx.close()
