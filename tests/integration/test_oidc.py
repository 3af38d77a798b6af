"""City single sign-on end to end, against a real OpenID Connect provider on 127.0.0.1.

The provider (tests/oidc_provider.py) is built from Authlib's server components and
signs real id_tokens; nothing is mocked. Tampered tokens are made by the provider
itself (wrong key, wrong audience, expired, wrong issuer, wrong nonce) and must all be
refused without signing anyone in.
"""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from iphs_flow.app import create_app
from iphs_flow.services import accounts
from iphs_flow.store.tables import AccessLog, UserAccount
from tests.conftest import make_context
from tests.integration.web_session import PASSWORD, login
from tests.oidc_provider import Provider

pytestmark = pytest.mark.filterwarnings("ignore:The .grant. parameter will become mandatory")

ROLE_MAP = {
    "IPHS-Innovationsledare": {"roles": ["innovation_lead"], "groups": ["innovation-leads"]},
    "IPHS-Beslutsfattare": ["approver", "gate-deciders"],
    "IPHS-Admin": "administrator",
}


@pytest.fixture
def provider():
    running = Provider().start()
    yield running
    running.stop()


def _app(url, issuer, **settings):
    ctx = make_context(url, oidc_issuer=issuer, oidc_client_id="iphs-flow", oidc_client_secret="s3cret-for-tests",
                       oidc_role_map=ROLE_MAP, login_rate="1000/minute", **settings)
    return create_app(context=ctx)


@pytest.fixture
def app(sqlite_url, provider):
    application = _app(sqlite_url, provider.issuer)
    yield application
    application.extensions["iphs"].close()


def _through_provider(client, next_page="/api/v1/session"):
    """Follow the redirects a browser would: app -> provider -> app's callback."""
    start = client.get("/login/sso", query_string={"next": next_page})
    assert start.status_code == 302, start.get_data(as_text=True)
    at_provider = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert (back.scheme, back.netloc, back.path) == ("http", "localhost", "/auth/callback")
    return back


def sso_login(client, next_page="/api/v1/session"):
    back = _through_provider(client, next_page)
    return client.get(f"{back.path}?{back.query}")


def _log(app, event):
    with app.extensions["iphs"].uow.read() as tx:
        rows = tx.session.query(AccessLog).filter_by(event=event).order_by(AccessLog.id)
        return [(e.username, e.detail) for e in rows]


def _user(app, username):
    with app.extensions["iphs"].uow.read() as tx:
        user = tx.session.query(UserAccount).filter_by(username=username).one_or_none()
        return None if user is None else (user.source, user.oidc_subject, user.password_hash)


def test_the_login_page_offers_the_city_login_when_it_is_configured(app) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "Logga in med stadens konto" in html and 'href="/login/sso' in html
    assert "Lokalt konto" in html


def test_the_first_sso_login_creates_the_user_with_roles_from_the_group_claim(app, provider) -> None:
    provider.user["groups"] = ["IPHS-Innovationsledare", "IPHS-Beslutsfattare", "Lunchklubben"]
    client = app.test_client()
    start = client.get("/login/sso")
    query = parse_qs(urlsplit(start.headers["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"][0] and query["state"][0]

    response = sso_login(client)
    assert response.status_code == 302 and response.headers["Location"] == "/api/v1/session"
    me = client.get("/api/v1/session").json
    assert me["username"] == "sara.stad" and me["display_name"] == "Sara Stad"
    assert me["roles"] == ["approver", "idea_owner", "innovation_lead"]
    assert me["groups"] == ["gate-deciders", "innovation-leads"]  # unmapped provider groups give nothing
    assert _user(app, "sara.stad") == ("oidc", f"{provider.issuer}|u-1001", None)
    assert _log(app, "login")[-1] == ("sara.stad", {"method": "oidc"})
    assert _log(app, "user_created")[-1][0] == "sara.stad"


def test_a_later_sso_login_applies_role_changes_made_at_the_provider(app, provider) -> None:
    provider.user["groups"] = ["IPHS-Admin"]
    sso_login(app.test_client())
    provider.user["groups"] = []
    client = app.test_client()
    sso_login(client)
    assert client.get("/api/v1/session").json["roles"] == ["idea_owner"]
    username, detail = _log(app, "role_changed")[-1]
    assert username == "sara.stad" and detail["before"] == ["administrator", "idea_owner"]
    assert detail["after"] == ["idea_owner"] and detail["by"] == "oidc"


@pytest.mark.parametrize(("mode", "reason"), [
    ("bad_signature", "BadSignatureError"),
    ("wrong_audience", "'aud'"),
    ("foreign_audience_with_azp", "'aud'"),
    ("expired", "ExpiredTokenError"),
    ("wrong_issuer", "'iss'"),
    ("wrong_nonce", "'nonce'"),
])
def test_a_tampered_id_token_is_refused_and_nobody_is_signed_in(app, provider, mode, reason) -> None:
    provider.mode = mode
    client = app.test_client()
    response = sso_login(client)
    assert provider.token_requests == 1  # the app did fetch the token; the refusal is its own check
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/login"
    assert parse_qs(urlsplit(response.headers["Location"]).query)["sso_error"] == ["refused"]
    assert client.get("/api/v1/session").status_code == 401
    assert _user(app, "sara.stad") is None
    failures = _log(app, "login_failed")
    assert failures and failures[-1][1]["method"] == "oidc"
    assert reason in failures[-1][1]["reason"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "kunde inte godkännas" in page


def test_a_callback_with_a_state_this_browser_did_not_start_is_refused(app, provider) -> None:
    back = _through_provider(app.test_client())  # a login started in someone else's browser
    victim = app.test_client()
    response = victim.get(f"{back.path}?{back.query}")
    assert "sso_error=refused" in response.headers["Location"]
    assert victim.get("/api/v1/session").status_code == 401
    assert provider.token_requests == 0


def test_an_authorization_code_cannot_be_replayed(app, provider) -> None:
    client = app.test_client()
    back = _through_provider(client)
    assert client.get(f"{back.path}?{back.query}").headers["Location"] == "/api/v1/session"
    client.post("/logout", data={"csrf_token": client.get("/api/v1/session").json["csrf_token"]})
    again = client.get(f"{back.path}?{back.query}")
    assert "sso_error=refused" in again.headers["Location"]
    assert client.get("/api/v1/session").status_code == 401


def test_an_sso_login_never_takes_over_a_local_account_of_the_same_name(app, provider) -> None:
    ctx = app.extensions["iphs"]
    accounts.add_user(ctx, "sara.stad", "Lokala Sara", password=PASSWORD, roles={"administrator"})
    client = app.test_client()
    sso_login(client)
    me = client.get("/api/v1/session").json
    assert me["username"] == "sara.stad@sso" and "administrator" not in me["roles"]


def test_a_deactivated_sso_user_is_refused(app, provider) -> None:
    sso_login(app.test_client())
    from tests.conftest import ADMIN

    accounts.set_active(app.extensions["iphs"], "sara.stad", False, ADMIN)
    client = app.test_client()
    response = sso_login(client)
    assert "sso_error=refused" in response.headers["Location"]
    assert client.get("/api/v1/session").status_code == 401


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_when_the_provider_is_down_the_page_says_so_and_the_break_glass_admin_still_signs_in(sqlite_url) -> None:
    app = _app(sqlite_url, f"http://127.0.0.1:{_closed_port()}")
    accounts.add_user(app.extensions["iphs"], "nodadmin", "Nödadministratör", password=PASSWORD,
                      roles={"administrator"})
    client = app.test_client()
    response = client.get("/login/sso")
    assert response.status_code == 302 and "sso_error=unreachable" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "går inte att nå just nu" in page
    assert login(client, "nodadmin").status_code == 302
    assert "administrator" in client.get("/api/v1/session").json["roles"]
    assert _log(app, "sso_unavailable")
    app.extensions["iphs"].close()


def test_a_provider_that_fails_between_redirect_and_callback_sends_people_back_to_the_login_page(
        app, provider) -> None:
    client = app.test_client()
    back = _through_provider(client)
    provider.stop()
    response = client.get(f"{back.path}?{back.query}")
    assert "sso_error=unreachable" in response.headers["Location"]
    assert client.get("/api/v1/session").status_code == 401


def test_without_sso_settings_there_is_no_sso_route(sqlite_url) -> None:
    ctx = make_context(sqlite_url)
    client = create_app(context=ctx).test_client()
    assert client.get("/login/sso").status_code == 404
    assert "stadens konto" not in client.get("/login").get_data(as_text=True)
    ctx.close()
