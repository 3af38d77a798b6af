"""Personal API tokens: made once, stored as a hash, acting as their owner, refused when they should be.

Every test goes through the real app (Flask test client) over a real database, SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import accounts, api_tokens
from iphs_flow.services.errors import InvalidInput, NotFound
from iphs_flow.store.tables import AccessLog, ApiToken, Case
from tests.integration.api_world import Browser, actor, build_world
from tests.integration.web_session import csrf_token, login


@pytest.fixture
def world(db_url):
    ctx, app = build_world(db_url)
    yield ctx, app
    ctx.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make(ctx, username="anna", scopes=("read", "write"), days=None, name="Ärendeportalen"):
    return api_tokens.create_token(ctx, actor(ctx, username), name, list(scopes), days)


def refused(response) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="iphs-flow", error="invalid_token"'
    assert "Set-Cookie" not in response.headers


def log(ctx, event):
    with ctx.uow.read() as tx:
        rows = tx.session.query(AccessLog).filter_by(event=event).order_by(AccessLog.id)
        return [(e.username, e.detail) for e in rows]


def cases_in(ctx) -> int:
    with ctx.uow.read() as tx:
        return tx.session.query(Case).count()


# ---------------------------------------------------------------- lifecycle and storage


def test_a_new_token_is_shown_once_and_only_its_sha256_is_stored(world) -> None:
    ctx, _ = world
    made = make(ctx, days=30)
    assert made.secret.startswith(f"{made.info.prefix}_") and len(made.secret) == len("iphs_12345678_") + 43
    assert made.info.scopes == ("read", "write") and made.info.state == "active"
    with ctx.uow.read() as tx:
        row = tx.session.get(ApiToken, made.info.id)
        stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
        secret_hash = row.secret_hash
    assert secret_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert not any(made.secret.split("_", 2)[2] in value for value in stored)
    listed = api_tokens.list_tokens(ctx, actor(ctx, "anna"))
    assert [t.prefix for t in listed] == [made.info.prefix]
    assert not any(made.secret in repr(t) for t in listed)
    assert log(ctx, "api_token_created")[-1][1]["prefix"] == made.info.prefix


def test_write_implies_read_and_unknown_scopes_names_and_expiries_are_refused(world) -> None:
    ctx, _ = world
    assert make(ctx, scopes=["write"]).info.scopes == ("read", "write")
    for kwargs, field in [({"name": " "}, "name"), ({"scopes": ["admin"]}, "scopes"), ({"scopes": []}, "scopes"),
                          ({"days": 0}, "expires_in_days"), ({"days": 10_000}, "expires_in_days")]:
        with pytest.raises(InvalidInput) as err:
            make(ctx, **kwargs)
        assert field in err.value.fields
    assert len(api_tokens.list_tokens(ctx, actor(ctx, "anna"))) == 1


def test_a_token_acts_as_its_owner_with_the_roles_they_have_now(world) -> None:
    ctx, app = world
    made = make(ctx, "lena")
    client = app.test_client()
    me = client.get("/api/v1/session", headers=bearer(made.secret))
    assert me.status_code == 200 and me.json["username"] == "lena" and "innovation_lead" in me.json["roles"]
    accounts.set_roles(ctx, "lena", set(), actor(ctx, "adam"), groups=set())
    assert client.get("/api/v1/session", headers=bearer(made.secret)).json["roles"] == ["idea_owner"]
    assert api_tokens.list_tokens(ctx, actor(ctx, "lena"))[0].last_used_at is not None


def test_revoked_expired_and_deactivated_tokens_are_refused(world) -> None:
    ctx, app = world
    client = app.test_client()
    revoked, expiring, deactivated = make(ctx), make(ctx, days=1), make(ctx, "bertil")
    for made in (revoked, expiring, deactivated):
        assert client.get("/api/v1/cases", headers=bearer(made.secret)).status_code == 200

    api_tokens.revoke_token(ctx, revoked.info.id, actor(ctx, "anna"))
    refused(client.get("/api/v1/cases", headers=bearer(revoked.secret)))

    clock.freeze(clock.now() + timedelta(days=1, seconds=1))
    refused(client.get("/api/v1/cases", headers=bearer(expiring.secret)))
    clock.reset()

    accounts.set_active(ctx, "bertil", False, actor(ctx, "adam"))
    refused(client.get("/api/v1/cases", headers=bearer(deactivated.secret)))

    refused(client.get("/api/v1/cases", headers=bearer("iphs_0000000_nonsense")))
    wrong_secret = revoked.secret[:-4] + ("AAAA" if not revoked.secret.endswith("AAAA") else "BBBB")
    refused(client.get("/api/v1/cases", headers=bearer(wrong_secret)))
    reasons = [(user, detail["reason"]) for user, detail in log(ctx, "api_token_refused")]
    assert reasons == [("anna", "revoked"), ("anna", "expired"), ("bertil", "deactivated"), (None, "malformed"),
                       (None, "unknown")]


def test_a_read_token_cannot_write_and_nothing_changes(world) -> None:
    ctx, app = world
    reader = make(ctx, scopes=["read"])
    response = app.test_client().post("/api/v1/cases", json={"process": "gate_decision", "title": "Läsare"},
                                      headers=bearer(reader.secret))
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert cases_in(ctx) == 0
    assert log(ctx, "access_denied")[-1] == ("anna", {"method": "POST", "path": "/api/v1/cases",
                                                     "reason": "the token has only the read scope"})


def test_a_write_token_writes_without_csrf_and_never_gets_a_session_cookie(world) -> None:
    ctx, app = world
    writer = make(ctx)
    client = app.test_client()
    started = client.post("/api/v1/cases", json={"process": "gate_decision", "title": "Via token"},
                          headers=bearer(writer.secret))
    assert started.status_code == 201, started.get_data(as_text=True)
    assert started.json["owner"] == "anna" and "Set-Cookie" not in started.headers
    me = client.get("/api/v1/session", headers=bearer(writer.secret))  # generates a CSRF token, still no cookie
    assert me.status_code == 200 and "Set-Cookie" not in me.headers
    assert client.get_cookie("session") is None
    # and without the token the client is nobody: no session was made for it
    assert client.get("/api/v1/session").status_code == 401


def test_cookie_writes_still_need_the_csrf_token(world) -> None:
    ctx, app = world
    client = app.test_client()
    assert login(client, "anna").status_code == 302
    response = client.post("/api/v1/cases", json={"process": "gate_decision", "title": "Utan CSRF"})
    assert response.status_code == 400 and "CSRF" in response.json["detail"]
    assert cases_in(ctx) == 0


def test_a_session_cookie_riding_along_lends_a_bad_token_no_identity(world) -> None:
    ctx, app = world
    client = app.test_client()
    assert login(client, "adam").status_code == 302
    refused(client.get("/api/v1/session", headers=bearer("iphs_deadbeef_" + "x" * 43)))
    basic = client.get("/api/v1/session", headers={"Authorization": "Basic YWRhbTpwdw=="})
    assert basic.status_code == 401 and 'error="invalid_request"' in basic.headers["WWW-Authenticate"]


# ---------------------------------------------------------------- /api/v1/tokens


def test_tokens_are_created_with_a_session_listed_and_revoked_over_the_api(world) -> None:
    ctx, app = world
    anna = Browser(app, "anna")
    created = anna.post("/api/v1/tokens", json={"name": "Rapportverktyget", "scopes": ["write"],
                                                "expires_in_days": 90})
    assert created.status_code == 201, created.get_data(as_text=True)
    secret = created.json["token"]
    assert created.json["scopes"] == ["read", "write"] and created.json["expires_at"]
    listed = anna.get("/api/v1/tokens").json
    assert [t["prefix"] for t in listed] == [created.json["prefix"]] and "token" not in listed[0]

    outsider = app.test_client()
    # a token cannot mint successors that would outlive its own revocation
    minted = outsider.post("/api/v1/tokens", json={"name": "Kopia"}, headers=bearer(secret))
    assert minted.status_code == 403
    assert outsider.get("/api/v1/tokens", headers=bearer(secret)).json[0]["state"] == "active"
    revoked = outsider.delete(f"/api/v1/tokens/{created.json['id']}", headers=bearer(secret))
    assert revoked.status_code == 200 and revoked.json["state"] == "revoked"
    refused(outsider.get("/api/v1/tokens", headers=bearer(secret)))
    assert log(ctx, "api_token_revoked")[-1] == ("anna", {"token": created.json["id"], "prefix": created.json["prefix"],
                                                          "by": "anna"})


def test_creating_a_token_over_the_api_needs_the_csrf_token_and_valid_fields(world) -> None:
    _, app = world
    client = app.test_client()
    assert login(client, "anna").status_code == 302
    assert client.post("/api/v1/tokens", json={"name": "Utan CSRF"}).status_code == 400
    anna = Browser(app, "anna")
    bad = anna.post("/api/v1/tokens", json={"name": "", "scopes": ["root"], "expires_in_days": 0})
    assert bad.status_code == 422 and set(bad.json["errors"]) >= {"name", "scopes/0", "expires_in_days"}
    assert anna.get("/api/v1/tokens").json == []


def test_only_the_owner_or_an_administrator_may_revoke_a_token(world) -> None:
    ctx, app = world
    made = make(ctx)
    bertil = Browser(app, "bertil")
    response = bertil.client.delete(f"/api/v1/tokens/{made.info.id}", headers={"X-CSRFToken": bertil.token})
    assert response.status_code == 404
    assert bertil.get("/api/v1/tokens", query_string={"user": "anna"}).status_code == 403
    for token_id in (0, 2**63, 10**40):  # out of range: 404, never a database overflow
        response = bertil.client.delete(f"/api/v1/tokens/{token_id}", headers={"X-CSRFToken": bertil.token})
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
        with pytest.raises(NotFound):
            api_tokens.revoke_token(ctx, token_id, actor(ctx, "bertil"))
    with pytest.raises(NotFound):
        api_tokens.revoke_token(ctx, made.info.id, actor(ctx, "bertil"))
    adam = Browser(app, "adam")
    assert [t["id"] for t in adam.get("/api/v1/tokens", query_string={"user": "anna"}).json] == [made.info.id]
    response = adam.client.delete(f"/api/v1/tokens/{made.info.id}", headers={"X-CSRFToken": adam.token})
    assert response.status_code == 200 and response.json["state"] == "revoked"
    assert log(ctx, "api_token_revoked")[-1][1]["by"] == "adam"


# ---------------------------------------------------------------- the page API-nycklar


def test_the_api_keys_page_creates_a_key_shows_it_once_and_revokes_it(world) -> None:
    ctx, app = world
    client = app.test_client()
    assert client.get("/account/tokens").status_code == 302  # signed-out people go to the login page
    assert login(client, "anna").status_code == 302
    page = client.get("/account/tokens")
    assert page.status_code == 200 and "API-nycklar" in page.get_data(as_text=True)
    assert client.post("/account/tokens", data={"name": "Utan CSRF", "scope": "read",
                                                "expires_in_days": "30"}).status_code == 400
    created = client.post("/account/tokens", data={"name": "Ärendeportalen", "scope": "write", "expires_in_days": "",
                                                   "csrf_token": csrf_token(client, "/account/tokens")})
    html = created.get_data(as_text=True)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    [made] = api_tokens.list_tokens(ctx, actor(ctx, "anna"))
    start = html.index('id="new-token"')
    secret = html[html.index('value="', start) + 7:html.index('"', html.index('value="', start) + 7)]
    assert secret.startswith(made.prefix + "_") and made.scopes == ("read", "write") and made.expires_at is None
    assert app.test_client().get("/api/v1/session", headers=bearer(secret)).json["username"] == "anna"

    again = client.get("/account/tokens").get_data(as_text=True)
    assert secret not in again and made.prefix in again and "Ärendeportalen" in again
    revoked = client.post(f"/account/tokens/{made.id}/revoke",
                          data={"csrf_token": csrf_token(client, "/account/tokens")})
    assert revoked.status_code == 302
    assert "återkallad" in client.get(revoked.headers["Location"]).get_data(as_text=True)
    refused(app.test_client().get("/api/v1/session", headers=bearer(secret)))


def test_the_api_keys_page_explains_what_is_wrong_and_keeps_the_input(world) -> None:
    ctx, app = world
    client = app.test_client()
    assert login(client, "anna").status_code == 302
    response = client.post("/account/tokens", data={"name": "", "scope": "root", "expires_in_days": "7",
                                                    "csrf_token": csrf_token(client, "/account/tokens")})
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="error-summary"' in html
    assert 'href="#token-name"' in html and 'href="#token-scope-read"' in html and 'href="#token-expiry"' in html
    assert 'aria-invalid="true"' in html
    assert api_tokens.list_tokens(ctx, actor(ctx, "anna")) == []
    with_name = client.post("/account/tokens", data={"name": "Bara namn", "scope": "read", "expires_in_days": "7",
                                                     "csrf_token": csrf_token(client, "/account/tokens")})
    assert with_name.status_code == 422 and 'value="Bara namn"' in with_name.get_data(as_text=True)


def test_another_persons_token_cannot_be_revoked_from_the_page(world) -> None:
    ctx, app = world
    made = make(ctx)
    client = app.test_client()
    assert login(client, "bertil").status_code == 302
    response = client.post(f"/account/tokens/{made.info.id}/revoke",
                           data={"csrf_token": csrf_token(client, "/account/tokens")})
    assert response.status_code == 404
    assert api_tokens.list_tokens(ctx, actor(ctx, "anna"))[0].state == "active"
