"""The API's rate limit (IPHS_API_RATE): per person, per address when anonymous, a 429 that says when to retry."""

from __future__ import annotations

import time

import pytest

from iphs_flow.app import create_app
from iphs_flow.services import api_tokens
from tests.conftest import make_context
from tests.integration.api_world import PEOPLE, actor
from tests.integration.web_session import PASSWORD, login


@pytest.fixture
def world(db_url):
    ctx = make_context(db_url, api_rate="3/minute", login_rate="1000/minute")
    from iphs_flow.services import accounts

    for username, (name, roles, groups) in PEOPLE.items():
        accounts.add_user(ctx, username, name, password=PASSWORD, roles=roles, groups=groups)
    app = create_app(context=ctx)
    yield ctx, app
    ctx.close()


def token_for(ctx, username: str) -> dict[str, str]:
    made = api_tokens.create_token(ctx, actor(ctx, username), "Prov", ["read"])
    return {"Authorization": f"Bearer {made.secret}"}


def test_the_request_over_the_limit_is_a_429_problem_with_retry_after_in_seconds(world) -> None:
    ctx, app = world
    client = app.test_client()
    anna = token_for(ctx, "anna")
    for _ in range(3):
        fine = client.get("/api/v1/cases", headers=anna)
        assert fine.status_code == 200 and "Retry-After" not in fine.headers
    assert int(fine.headers["X-RateLimit-Remaining"]) == 0
    over = client.get("/api/v1/cases", headers=anna)
    assert over.status_code == 429 and over.mimetype == "application/problem+json"
    assert over.json["status"] == 429 and over.json["title"] == "Too Many Requests"
    assert 1 <= int(over.headers["Retry-After"]) <= 60
    # writes are counted in the same budget and refused the same way, before anything happens
    assert client.post("/api/v1/cases", json={"process": "x"}, headers=anna).status_code == 429


def test_the_limit_is_per_person_whichever_token_or_session_they_use(world) -> None:
    ctx, app = world
    client = app.test_client()
    first, second = token_for(ctx, "anna"), token_for(ctx, "anna")
    for headers in (first, second, first):
        assert client.get("/api/v1/cases", headers=headers).status_code == 200
    assert client.get("/api/v1/cases", headers=second).status_code == 429
    session = app.test_client()
    assert login(session, "anna").status_code == 302
    assert session.get("/api/v1/cases").status_code == 429  # the same person, signed in with a cookie
    assert client.get("/api/v1/cases", headers=token_for(ctx, "bertil")).status_code == 200  # someone else


def test_anonymous_and_refused_requests_are_counted_per_address(world) -> None:
    _, app = world
    client = app.test_client()
    here = {"REMOTE_ADDR": "192.0.2.10"}
    bad = {"Authorization": "Bearer iphs_00000000_" + "x" * 43}
    for _ in range(3):
        assert client.get("/api/v1/cases", headers=bad, environ_base=here).status_code == 401
    guessing = client.get("/api/v1/cases", headers=bad, environ_base=here)
    assert guessing.status_code == 429 and "Retry-After" in guessing.headers
    assert client.get("/api/v1/cases", environ_base=here).status_code == 429  # anonymous, same address
    assert client.get("/api/v1/cases", environ_base={"REMOTE_ADDR": "192.0.2.11"}).status_code == 401


def test_pages_are_not_under_the_api_limit(world) -> None:
    _, app = world
    client = app.test_client()
    for _ in range(5):
        assert client.get("/login").status_code == 200


def test_counting_requests_in_memory_starts_no_thread_for_each_of_them(world) -> None:
    from iphs_flow.http.protection import limiter
    from iphs_flow.http.rate_storage import SweptMemoryStorage

    _, app = world
    client = app.test_client()
    storage = limiter.storage
    assert isinstance(storage, SweptMemoryStorage)
    timer = storage.timer  # the one expiry timer the limits library starts with the storage
    for n in range(4):
        assert client.get("/api/v1/cases", environ_base={"REMOTE_ADDR": f"192.0.2.{30 + n}"}).status_code == 401
        time.sleep(0.02)  # longer than the library's timer lives: it would start another one now
    assert storage.timer is timer
