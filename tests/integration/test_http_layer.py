"""The HTTP layer both entrypoints share: the caller's language, and one answer per kind of caller."""

from __future__ import annotations

import pytest
from flask_babel import get_locale

from iphs_flow.app import create_app
from iphs_flow.http.bearer import authenticate_request
from iphs_flow.services import accounts, api_tokens
from tests.conftest import make_context


@pytest.fixture
def app(sqlite_url):
    ctx = make_context(sqlite_url)
    accounts.add_user(ctx, "anna", "Anna Andersson", password="correct horse battery", language="sv")
    accounts.add_user(ctx, "eric", "Eric Evans", password="correct horse battery", language="en")
    yield create_app(context=ctx)
    ctx.close()


def _locale_of_token_call(app, username: str, accept_language: str | None) -> str:
    ctx = app.extensions["iphs"]
    token = api_tokens.create_token(ctx, accounts.actor_for(ctx, username), "Integration", ["read"]).secret
    headers = {"Authorization": f"Bearer {token}"}
    if accept_language:
        headers["Accept-Language"] = accept_language
    with app.test_request_context("/api/v1/session", headers=headers):
        authenticate_request()
        return str(get_locale())


def test_a_token_caller_gets_the_language_its_accept_language_asks_for(app) -> None:
    assert _locale_of_token_call(app, "anna", "en-GB,en;q=0.9") == "en"
    assert _locale_of_token_call(app, "eric", "sv-SE") == "sv"


def test_a_token_caller_without_accept_language_gets_its_owners_own_language(app) -> None:
    assert _locale_of_token_call(app, "eric", None) == "en"
    assert _locale_of_token_call(app, "anna", None) == "sv"


def test_a_browser_keeps_swedish_whatever_its_accept_language_says(app) -> None:
    with app.test_request_context("/inbox", headers={"Accept-Language": "en"}):
        assert str(get_locale()) == "sv"


def test_an_unknown_address_is_a_page_for_people_and_a_problem_for_the_api(app) -> None:
    client = app.test_client()
    page = client.get("/no-such-page")
    assert page.status_code == 404 and page.mimetype == "text/html" and "Sidan finns inte" in page.get_data(True)
    api = client.get("/api/v1/no-such-resource")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
    assert api.json["status"] == 404 and api.json["title"] == "Not Found"
    for response in (page, api):
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
