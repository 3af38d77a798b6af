"""API calls with the city identity provider's JWT, checked against the real provider's JWKS.

The provider (tests/oidc_provider.py) serves discovery and JWKS over HTTP on 127.0.0.1;
tokens are signed with its key (or, to forge, with a key it never published). One test
gets a real id_token from the provider's token endpoint with the authorization code flow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt

from iphs_flow.app import create_app
from iphs_flow.services import accounts
from iphs_flow.store.tables import AccessLog, UserAccount
from tests.conftest import make_context
from tests.oidc_provider import Provider

pytestmark = pytest.mark.filterwarnings("ignore:The .grant. parameter will become mandatory")

ROLE_MAP = {"IPHS-Innovationsledare": {"roles": ["innovation_lead"], "groups": ["innovation-leads"]}}


@pytest.fixture
def provider():
    running = Provider().start()
    yield running
    running.stop()


def _app(url, provider, **settings):
    ctx = make_context(url, oidc_issuer=provider.issuer, oidc_client_id="iphs-flow",
                       oidc_client_secret="s3cret-for-tests", oidc_role_map=ROLE_MAP, **settings)
    return create_app(context=ctx)


@pytest.fixture
def app(sqlite_url, provider):
    application = _app(sqlite_url, provider)
    yield application
    application.extensions["iphs"].close()


def sign(provider, key=None, header=None, **claims):
    now = int(time.time())
    body = {"iss": provider.issuer, "aud": "iphs-flow", "sub": "u-2002", "iat": now, "exp": now + 300,
            "preferred_username": "sara.stad", "name": "Sara Stad", "email": "sara@stad.example",
            "groups": ["IPHS-Innovationsledare"]}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(header or {"alg": "RS256", "kid": "city-1"}, body, key or provider.key)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def call(app, token, method="GET", path="/api/v1/session", **kwargs):
    return app.test_client().open(path, method=method, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def refused(response) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="iphs-flow", error="invalid_token"'
    assert "Set-Cookie" not in response.headers


def users(app) -> list[str]:
    with app.extensions["iphs"].uow.read() as tx:
        return [u.username for u in tx.session.query(UserAccount).order_by(UserAccount.id)]


def log(app, event):
    with app.extensions["iphs"].uow.read() as tx:
        rows = tx.session.query(AccessLog).filter_by(event=event).order_by(AccessLog.id)
        return [(e.username, e.detail) for e in rows]


def test_a_valid_provider_token_is_accepted_and_provisions_the_user_as_a_web_login_would(app, provider) -> None:
    token = sign(provider)
    response = call(app, token)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    me = response.json
    assert me["username"] == "sara.stad" and me["roles"] == ["idea_owner", "innovation_lead"]
    assert me["groups"] == ["innovation-leads"]
    with app.extensions["iphs"].uow.read() as tx:
        user = tx.session.query(UserAccount).filter_by(username="sara.stad").one()
        assert (user.source, user.oidc_subject) == ("oidc", f"{provider.issuer}|u-2002")
    assert log(app, "login") == [("sara.stad", {"method": "oidc_bearer"})]
    # the same token again is recognised without another login row (or database write)
    assert call(app, token).status_code == 200
    assert len(log(app, "login")) == 1


def test_a_provider_token_can_write_without_csrf(app, provider) -> None:
    from iphs_flow.services import processes
    from iphs_flow.services.permissions import Actor
    from tests.conftest import fixture_files

    processes.deploy_process(app.extensions["iphs"], fixture_files("gate_decision.bpmn"), Actor.system())
    started = call(app, sign(provider), "POST", "/api/v1/cases", json={"process": "gate_decision", "title": "SSO"})
    assert started.status_code == 201, started.get_data(as_text=True)
    assert started.json["owner"] == "sara.stad" and "Set-Cookie" not in started.headers


@pytest.mark.parametrize("tamper", [
    "forged_signature", "wrong_audience", "expired", "not_yet_valid", "wrong_issuer", "no_subject",
    "hs256_with_the_public_key", "alg_none", "payload_edited",
])
def test_tampered_provider_tokens_are_refused_and_nobody_is_created(app, provider, tamper) -> None:
    now = int(time.time())
    if tamper == "forged_signature":
        token = sign(provider, key=provider.forged_key)
    elif tamper == "wrong_audience":
        token = sign(provider, aud="some-other-app")
    elif tamper == "expired":
        token = sign(provider, iat=now - 7200, exp=now - 3600)
    elif tamper == "not_yet_valid":
        token = sign(provider, nbf=now + 3600)
    elif tamper == "wrong_issuer":
        token = sign(provider, iss="http://127.0.0.1:1/evil")
    elif tamper == "no_subject":
        token = sign(provider, sub=None)
    elif tamper == "hs256_with_the_public_key":
        # joserfc will not even make this token, so it is made by hand, as an attacker would
        public = provider.key.as_pem(private=False)
        head = _b64(b'{"alg":"HS256","kid":"city-1"}')
        body = _b64(f'{{"iss":"{provider.issuer}","aud":"iphs-flow","sub":"u-2002","exp":{now + 300}}}'.encode())
        mac = hmac.new(public, f"{head}.{body}".encode(), hashlib.sha256).digest()
        token = f"{head}.{body}.{_b64(mac)}"
    elif tamper == "alg_none":
        head = _b64(b'{"alg":"none"}')
        body = _b64(f'{{"iss":"{provider.issuer}","aud":"iphs-flow","sub":"u-2002","exp":{now + 300}}}'.encode())
        token = f"{head}.{body}."
    else:  # a valid token with its payload swapped for another person's
        head, _, sig = sign(provider).split(".")
        other = sign(provider, sub="u-admin", preferred_username="adam").split(".")[1]
        token = f"{head}.{other}.{sig}"
    refused(call(app, token))
    assert users(app) == []
    assert log(app, "login_failed")[-1][1]["method"] == "oidc_bearer"


def test_garbage_and_other_schemes_are_refused_without_a_500(app, provider) -> None:
    for token in ("abc", "a.b.c", "a.b.c.d.e", "iphs_", "é" * 50):
        refused(call(app, token))
    basic = app.test_client().get("/api/v1/session", headers={"Authorization": "Basic c2FyYTpwdw=="})
    assert basic.status_code == 401 and 'error="invalid_request"' in basic.headers["WWW-Authenticate"]


def test_the_api_audience_setting_decides_which_audience_is_accepted(sqlite_url, provider) -> None:
    application = _app(sqlite_url, provider, oidc_api_audience="api://iphs-flow")
    try:
        assert call(application, sign(provider, aud=["api://iphs-flow", "other"])).status_code == 200
        refused(call(application, sign(provider, aud="iphs-flow")))
    finally:
        application.extensions["iphs"].close()


def test_a_deactivated_user_is_refused_even_with_a_token_seen_before(app, provider) -> None:
    token = sign(provider)
    assert call(app, token).status_code == 200
    ctx = app.extensions["iphs"]
    admin = accounts.add_user(ctx, "adam", "Adam", password="correct horse battery", roles={"administrator"})
    accounts.set_active(ctx, "sara.stad", False, accounts.actor_for(ctx, admin.username))
    refused(call(app, token))
    refused(call(app, sign(provider, exp=int(time.time()) + 400)))  # a fresh token too


def test_an_unreachable_provider_is_a_503_not_a_500(app, provider) -> None:
    token = sign(provider)
    provider.stop()
    response = call(app, token)
    assert response.status_code == 503 and response.mimetype == "application/problem+json"
    assert int(response.headers["Retry-After"]) >= 30


def test_without_a_configured_provider_a_jwt_is_refused(sqlite_url, provider) -> None:
    ctx = make_context(sqlite_url)
    application = create_app(context=ctx)
    try:
        refused(call(application, sign(provider)))
    finally:
        ctx.close()


def test_an_id_token_from_the_providers_token_endpoint_is_accepted(app, provider) -> None:
    """The whole way: authorization code with PKCE at the provider, then the id_token as a bearer token."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = provider.client.redirect_uris[0]
    provider.user["groups"] = ["IPHS-Innovationsledare"]
    authorized = requests.get(f"{provider.issuer}/authorize", params={
        "response_type": "code", "client_id": "iphs-flow", "redirect_uri": redirect_uri, "scope": "openid profile",
        "state": "s", "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
        "code_challenge_method": "S256"}, allow_redirects=False, timeout=10)
    code = parse_qs(urlsplit(authorized.headers["Location"]).query)["code"][0]
    tokens = requests.post(f"{provider.issuer}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier},
        auth=("iphs-flow", "s3cret-for-tests"), timeout=10).json()
    response = call(app, tokens["id_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json["username"] == "sara.stad" and "innovation_lead" in response.json["roles"]
    refused(call(app, tokens["access_token"]))  # the provider's opaque access token is not a JWT we can check
