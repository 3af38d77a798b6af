"""Signing in and out of the web UI: sessions, CSRF, rate limits, headers and the access log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iphs_flow.app import create_app
from iphs_flow.engine import clock
from iphs_flow.services import accounts
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import AccessLog
from tests.conftest import ADMIN, make_context
from tests.integration.web_session import PASSWORD, csrf_token, login


@pytest.fixture
def web(sqlite_url):
    ctx = make_context(sqlite_url, login_rate="1000/minute")
    accounts.add_user(ctx, "eva", "Eva Ek", password=PASSWORD, roles={"approver"}, groups={"gate-deciders"})
    app = create_app(context=ctx)
    yield app
    ctx.close()


def _events(app, username=None):
    with app.extensions["iphs"].uow.read() as tx:
        rows = tx.session.query(AccessLog).order_by(AccessLog.id).all()
        return [r.event for r in rows if username is None or r.username == username]


def _whoami(client):
    return client.get("/api/v1/session")


def test_the_login_page_is_swedish_and_its_form_carries_a_csrf_token(web) -> None:
    page = web.test_client().get("/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Logga in" in html and "Användarnamn" in html and "Lösenord" in html
    assert 'name="csrf_token"' in html
    assert 'autocomplete="current-password"' in html


def test_a_correct_password_signs_in_with_a_new_http_only_lax_session(web) -> None:
    client = web.test_client()
    with client.session_transaction() as before:
        before["planted"] = "by an attacker"  # session fixation: nothing may survive the login
    response = login(client, "eva", next="/healthz")
    assert response.status_code == 302 and response.headers["Location"] == "/healthz"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    with client.session_transaction() as after:
        assert after["user"] == "eva" and "planted" not in after
    assert _whoami(client).json["username"] == "eva"
    assert _events(web, "eva")[-1] == "login"


def test_a_wrong_password_is_refused_and_logged_without_saying_which_part_was_wrong(web) -> None:
    client = web.test_client()
    for user in ("eva", "nobody"):
        response = login(client, user, "not the password")
        assert response.status_code == 401
        assert "Fel användarnamn eller lösenord." in response.get_data(as_text=True)
    assert _whoami(client).status_code == 401
    assert _events(web, "eva")[-1] == "login_failed" and _events(web, "nobody") == ["login_failed"]


def test_a_login_without_a_valid_csrf_token_is_refused(web) -> None:
    client = web.test_client()
    csrf_token(client)
    for token in (None, "forged", csrf_token(web.test_client())):  # the last: another session's token
        data = {"username": "eva", "password": PASSWORD}
        if token:
            data["csrf_token"] = token
        response = client.post("/login", data=data)
        assert response.status_code == 400
        assert "Ladda om sidan" in response.get_data(as_text=True)
    assert _whoami(client).status_code == 401
    assert "login" not in _events(web, "eva")


def test_the_next_page_after_login_stays_on_this_site(web) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        response = login(web.test_client(), "eva", next=target)
        assert response.headers["Location"] == "/", target


def test_pages_that_need_a_login_send_anonymous_visitors_to_it_and_the_api_answers_401(web) -> None:
    client = web.test_client()
    response = _whoami(client)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.json["detail"] == "sign in first"


def test_an_idle_session_expires_and_is_refused(web, frozen_clock) -> None:
    client = web.test_client()
    login(client, "eva")
    clock.advance(timedelta(hours=7, minutes=59))
    assert _whoami(client).status_code == 200  # activity slides the expiry forward
    clock.advance(timedelta(hours=8, minutes=1))
    response = _whoami(client)
    assert response.status_code == 401 and "expired" in response.json["detail"]
    assert _whoami(client).status_code == 401  # and it stays gone
    with client.session_transaction() as session:
        assert "user" not in session


def test_even_an_active_session_ends_twelve_hours_after_its_login(web, frozen_clock) -> None:
    client = web.test_client()
    login(client, "eva")
    for _ in range(5):
        clock.advance(timedelta(hours=2, minutes=20))
        assert _whoami(client).status_code == 200  # busy all day: 11 h 40 min after login
    clock.advance(timedelta(minutes=21))
    response = _whoami(client)
    assert response.status_code == 401 and "expired" in response.json["detail"]


def test_a_session_cookie_signed_with_another_key_is_ignored(web) -> None:
    other = create_app(context=web.extensions["iphs"])
    other.config["SECRET_KEY"] = "another key entirely"
    forged = other.test_client()
    login(forged, "eva")
    cookie = forged.get_cookie("session")
    client = web.test_client()
    client.set_cookie("session", cookie.value)
    assert _whoami(client).status_code == 401


def test_role_changes_and_deactivation_apply_to_open_sessions_at_once(web) -> None:
    ctx = web.extensions["iphs"]
    client = web.test_client()
    login(client, "eva")
    assert "approver" in _whoami(client).json["roles"]
    accounts.set_roles(ctx, "eva", {"innovation_lead"}, ADMIN, groups={"innovation-leads"})
    me = _whoami(client).json
    assert "approver" not in me["roles"] and "innovation_lead" in me["roles"]
    assert me["groups"] == ["innovation-leads"]
    accounts.set_active(ctx, "eva", False, ADMIN)
    assert _whoami(client).status_code == 401
    assert login(web.test_client(), "eva").status_code == 401


def test_only_administrators_change_roles_and_every_change_is_logged(web) -> None:
    ctx = web.extensions["iphs"]
    eva = accounts.actor_for(ctx, "eva")
    from iphs_flow.services.errors import Forbidden

    with pytest.raises(Forbidden):
        accounts.set_roles(ctx, "eva", {"administrator"}, eva)
    accounts.set_roles(ctx, "eva", {"administrator"}, ADMIN)
    entries = accounts.access_log(ctx, ADMIN, username="eva", event="role_changed")
    assert entries[0].detail["by"] == "adam" and entries[0].detail["after"] == ["administrator", "idea_owner"]
    with pytest.raises(Forbidden):
        accounts.access_log(ctx, Actor("eva", frozenset({"approver"})))


def test_logout_ends_the_session_and_is_logged(web) -> None:
    client = web.test_client()
    login(client, "eva")
    token = csrf_token(client)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert _whoami(client).status_code == 401
    assert _events(web, "eva")[-2:] == ["login", "logout"]


def test_a_proxys_basic_authorization_header_does_not_cost_people_their_page_session(web) -> None:
    client = web.test_client()
    login(client, "eva")
    basic = {"Authorization": "Basic cHJveHk6c2VjcmV0"}  # proxy:secret, added by a proxy in front of the app
    page = client.get("/inbox", headers=basic)
    assert page.status_code == 200 and "Eva Ek" in page.get_data(as_text=True)
    assert client.get("/api/v1/session", headers=basic).status_code == 401  # the API reads the header as its login


def test_logout_needs_the_csrf_token_so_other_sites_cannot_sign_people_out(web) -> None:
    client = web.test_client()
    login(client, "eva")
    assert client.post("/logout").status_code == 400
    assert _whoami(client).status_code == 200


def test_login_attempts_are_rate_limited_per_address_and_per_user_name(sqlite_url) -> None:
    ctx = make_context(sqlite_url, login_rate="3/minute")
    accounts.add_user(ctx, "eva", "Eva", password=PASSWORD)
    app = create_app(context=ctx)
    client = app.test_client()
    for _ in range(3):
        assert login(client, "eva", "wrong password").status_code == 401
    refused = login(client, "eva", PASSWORD)
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "För många inloggningsförsök" in refused.get_data(as_text=True)
    # the same name from another address is still limited: guessing one account is slowed down
    other = app.test_client()
    response = other.post(
        "/login", data={"username": "eva", "password": PASSWORD, "csrf_token": csrf_token(other)},
        environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert response.status_code == 429
    with ctx.uow.read() as tx:
        assert tx.session.query(AccessLog).filter_by(event="login_rate_limited").count() == 2
    ctx.close()


def test_every_response_carries_the_security_headers(web) -> None:
    response = web.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    assert "Strict-Transport-Security" not in response.headers  # plain http in development


def test_behind_https_cookies_are_secure_and_hsts_is_sent(sqlite_url) -> None:
    ctx = make_context(sqlite_url, base_url="https://iphs.stad.example")
    accounts.add_user(ctx, "eva", "Eva", password=PASSWORD)
    client = create_app(context=ctx).test_client()
    response = login(client, "eva")
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Set-Cookie"].startswith("__Host-iphs-session=")
    assert "max-age=" in response.headers["Strict-Transport-Security"]
    ctx.close()


def test_with_redis_the_per_address_login_limit_holds_across_app_processes(tmp_path) -> None:
    redis = pytest.importorskip("redis")
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url).ping()
    except redis.exceptions.ConnectionError as err:
        pytest.skip(f"Redis is not running on 127.0.0.1:6379: {err}")
    import uuid

    db = f"sqlite:///{tmp_path / 'shared.db'}"
    user = f"eva-{uuid.uuid4().hex[:8]}"
    net = uuid.uuid4().hex[:4]  # Redis outlives the test: fresh addresses each run
    first_ctx = make_context(db, login_rate="3/minute", ratelimit_storage=url)
    accounts.add_user(first_ctx, user, "Eva", password=PASSWORD)
    first = create_app(context=first_ctx)
    address = f"fd00:{net}::1"
    accounts.add_user(first_ctx, f"{user}-2", "Eva två", password=PASSWORD)
    for n in range(3):  # one address, three names: only the per-address limit counts
        client = first.test_client()
        token = csrf_token(client)
        response = client.post("/login", data={"username": f"{user}-x{n}", "password": "wrong password",
                                                "csrf_token": token}, environ_base={"REMOTE_ADDR": address})
        assert response.status_code == 401
    assert any(address in key.decode() for key in redis.Redis.from_url(url).keys("*iphs-flow*"))
    # A second process with its own limiter storage object sees the same counters in Redis.
    second_ctx = make_context(db, login_rate="3/minute", ratelimit_storage=url)
    client = create_app(context=second_ctx).test_client()
    token = csrf_token(client)
    response = client.post("/login", data={"username": f"{user}-2", "password": PASSWORD, "csrf_token": token},
                           environ_base={"REMOTE_ADDR": address})
    assert response.status_code == 429
    first_ctx.close()
    second_ctx.close()


def test_a_page_that_needs_a_login_sends_visitors_there_and_back_again(sqlite_url) -> None:
    from iphs_flow.web.auth import login_required, require_login_actor

    ctx = make_context(sqlite_url, login_rate="1000/minute")
    accounts.add_user(ctx, "eva", "Eva", password=PASSWORD)
    app = create_app(context=ctx)

    @login_required
    def my_page() -> str:
        return f"Hej {require_login_actor().username}"

    app.add_url_rule("/mina-sidor", view_func=my_page)
    client = app.test_client()
    response = client.get("/mina-sidor?flik=2")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/mina-sidor?flik%3D2")
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="next" value="/mina-sidor?flik=2"' in form
    back = login(client, "eva", next="/mina-sidor?flik=2")
    assert back.headers["Location"] == "/mina-sidor?flik=2"
    assert client.get("/mina-sidor").get_data(as_text=True) == "Hej eva"
    ctx.close()


def test_a_mistyped_sso_role_map_stops_the_app_at_start_up(sqlite_url, monkeypatch) -> None:
    from iphs_flow.config import Settings

    ctx = make_context(sqlite_url, oidc_issuer="http://127.0.0.1:1", oidc_client_id="x",
                       oidc_role_map={"IPHS-Admin": {"roles": ["king"]}})
    with pytest.raises(ValueError, match="IPHS_OIDC_ROLE_MAP"):
        create_app(context=ctx)
    ctx.close()
    monkeypatch.setenv("IPHS_OIDC_ROLE_MAP", "{not json")
    with pytest.raises(ValueError, match="IPHS_OIDC_ROLE_MAP is not valid JSON"):
        Settings.from_env()


def test_the_api_describes_itself_in_openapi(web) -> None:
    spec = web.test_client().get("/api/v1/openapi.json").json
    paths = set(spec["paths"])
    assert {"/api/v1/cases/{case_ref}", "/api/v1/tasks/{task_id}/claim", "/api/v1/processes",
            "/api/v1/admin/cases/{case_ref}/retry"} <= paths


def test_forwarded_addresses_count_only_behind_a_configured_proxy(sqlite_url) -> None:
    for hops, expected in ((0, "127.0.0.1"), (1, "203.0.113.7")):
        ctx = make_context(sqlite_url, proxy_hops=hops)
        accounts.add_user(ctx, f"eva{hops}", "Eva", password=PASSWORD)
        client = create_app(context=ctx).test_client()
        token = csrf_token(client)
        client.post("/login", data={"username": f"eva{hops}", "password": "wrong", "csrf_token": token},
                    headers={"X-Forwarded-For": "203.0.113.7"})
        with ctx.uow.read() as tx:
            entry = tx.session.query(AccessLog).filter_by(username=f"eva{hops}", event="login_failed").one()
            assert entry.remote_addr == expected
        ctx.close()


def test_a_page_refusing_an_action_shows_why_in_swedish_layout_and_logs_it(web) -> None:
    from iphs_flow.services import cases
    from iphs_flow.web.auth import login_required, require_login_actor

    @login_required
    def retry_page(case_ref: str) -> str:
        cases.retry_incident(web.extensions["iphs"], case_ref, require_login_actor())
        return "ok"

    web.add_url_rule("/arenden/<case_ref>/forsok-igen", view_func=retry_page)
    client = web.test_client()
    login(client, "eva")
    response = client.get("/arenden/1/forsok-igen")
    assert response.status_code == 403 and '<html lang="sv">' in response.get_data(as_text=True)
    assert _events(web, "eva")[-1] == "access_denied"
