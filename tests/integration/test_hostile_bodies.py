"""Hostile request bodies against every write endpoint of the API: each is a 400, 413 or 422
with a message, never a 500, and nothing is stored. Web forms refuse the same values."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from iphs_flow.services import json_safety
from iphs_flow.services.cases import start_case
from iphs_flow.services.errors import InvalidInput
from iphs_flow.store.tables import ApiToken, Case, CaseAttachment, CaseComment, CaseEvent, IdempotencyKey, TaskDraft
from tests.integration.api_world import Browser, actor, build_api_world, case_at_gate

HOSTILE = {
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
    "nested objects 5,000 deep": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "an integer of 5,000 digits": b'{"data": {"n": ' + b"9" * 5000 + b'}, "body": 1}',
    "an integer of 4,000 digits": b'{"data": {"n": ' + b"9" * 4000 + b'}, "body": 1}',
    "a lone surrogate": b'{"title": "\\ud800", "body": "\\udfff", "data": {"title": "\\ud83d"}}',
    "NaN": b'{"data": {"budget": NaN}, "body": NaN}',
    "Infinity": b'{"data": {"budget": Infinity}, "expires_in_days": -Infinity}',
    "a float that overflows": b'{"data": {"budget": 1e999}}',
    "not UTF-8": b'{"body": "\xff\xfe"}',
    "more than the size limit": b'{"body": "' + b"a" * (5 * 1024 * 1024) + b'"}',
}


@pytest.fixture
def world(db_url, tmp_path):
    ctx, app = build_api_world(db_url, tmp_path / "files")
    gate = case_at_gate(ctx, "adam", "Grinden")
    yield ctx, app, gate
    ctx.close()


def write_operations(app, case_id: int, task_id: int) -> list[tuple[str, str]]:
    spec = app.test_client().get("/api/v1/openapi.json").json
    found = []
    for path, operations in spec["paths"].items():
        for method in operations:
            if method in ("post", "put", "patch", "delete"):
                concrete = re.sub(r"\{(case_)?(id|ref)\}", str(case_id), path.replace("/api/v1", ""))
                concrete = re.sub(r"\{task_id\}", str(task_id), concrete)
                concrete = re.sub(r"\{[a-z_]+\}", "1", concrete)
                found.append((method.upper(), "/api/v1" + concrete))
    return found


def counts(ctx) -> tuple[int, ...]:
    with ctx.uow.read() as tx:
        return tuple(tx.session.execute(select(func.count()).select_from(t)).scalar_one()
                     for t in (Case, CaseEvent, CaseComment, CaseAttachment, IdempotencyKey, ApiToken, TaskDraft))


def test_every_write_endpoint_answers_hostile_json_with_a_problem_and_stores_nothing(world):
    ctx, app, gate = world
    admin = Browser(app, "adam")
    operations = write_operations(app, gate.id, gate.open_tasks[0].id)
    assert len(operations) >= 5  # cases, completions, comments, attachments, tokens, admin actions...
    before = counts(ctx)
    for method, path in operations:
        for name, body in HOSTILE.items():
            response = admin.client.open(path, method=method, data=body, content_type="application/json",
                                         headers={"X-CSRFToken": admin.token, "Idempotency-Key": f"k-{name}"})
            assert response.status_code in (400, 413, 422), (method, path, name, response.status_code)
            assert response.mimetype == "application/problem+json", (method, path, name)
            assert response.json["detail"], (method, path, name)
    assert counts(ctx) == before
    # and the API still works afterwards
    assert admin.get(f"/api/v1/cases/{gate.id}").status_code == 200


def test_the_refusals_say_what_was_wrong(world):
    ctx, app, gate = world
    admin = Browser(app, "adam")

    def post(body: bytes):
        return admin.client.post("/api/v1/cases", data=body, content_type="application/json",
                                 headers={"X-CSRFToken": admin.token})

    assert "nested too deep" in post(HOSTILE["nested 100,000 deep"]).json["detail"]
    assert "5000 digits" in post(HOSTILE["an integer of 5,000 digits"]).json["detail"]
    assert "surrogate" in post(HOSTILE["a lone surrogate"]).json["detail"]
    nan = post(HOSTILE["NaN"])
    assert nan.status_code == 422 and "NaN" in nan.json["detail"]
    assert post(b'{"process": ').status_code == 422  # like every body the API cannot take
    assert post(HOSTILE["more than the size limit"]).status_code == 413


def test_the_service_refuses_values_that_are_not_safe_json_whoever_calls_it(world):
    ctx, app, gate = world
    anna = actor(ctx, "anna")
    for data in ({"budget": float("nan")}, {"budget": float("inf")}, {"title": "\ud800"}, {"n": 10 ** 40}):
        with pytest.raises(InvalidInput):
            start_case(ctx, "gate_decision", data, anna)
    deep: dict = {}
    node = deep
    for _ in range(100):
        node["a"] = {}
        node = node["a"]
    with pytest.raises(json_safety.UnsafeJson, match="deeper"):
        start_case(ctx, "gate_decision", deep, anna)
