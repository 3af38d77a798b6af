"""Revocable sessions and login throttling without lockout (issue 14)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from iphs_flow.app import create_app
from iphs_flow.cli import cli
from iphs_flow.engine import clock
from iphs_flow.services import accounts, login_throttle, sessions
from iphs_flow.store.tables import AccessLog
from tests.conftest import ADMIN, make_context
from tests.integration.web_session import PASSWORD, csrf_token, login


@pytest.fixture
def site(db_url):
    ctx = make_context(db_url, login_rate="1000/minute", break_glass_networks=("10.20.0.0/16",))
    accounts.add_user(ctx, "eva", "Eva", password=PASSWORD)
    accounts.add_user(ctx, "adam", "Adam", password=PASSWORD, roles={"administrator"})
    yield ctx, create_app(context=ctx)
    ctx.close()


def signed_in_client(app, username="eva", addr="127.0.0.1"):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = addr
    assert login(client, username).status_code == 302
    return client


def cookie_of(client) -> str:
    return client.get_cookie("session").value


def replay(app, cookie: str):
    other = app.test_client()
    other.set_cookie("session", cookie)
    return other.get("/inbox")


def test_a_cookie_copied_before_logout_is_signed_out_after_it(site):
    ctx, app = site
    client = signed_in_client(app)
    copied = cookie_of(client)
    assert replay(app, copied).status_code == 200  # the copy works while the session lives
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    replayed = replay(app, copied)
    assert replayed.status_code == 302 and "/login" in replayed.headers["Location"]


def test_a_password_change_deactivation_and_sign_out_everywhere_end_every_session_at_once(site):
    ctx, app = site
    eva = accounts.actor_for(ctx, "eva")
    endings = {
        "her own password change": lambda: accounts.set_password(ctx, "eva", PASSWORD, eva),
        "an administrator's sign out everywhere": lambda: sessions.sign_out_everywhere(ctx, "eva", ADMIN),
        "deactivation": lambda: accounts.set_active(ctx, "eva", False, ADMIN),
    }
    for what, end in endings.items():
        laptop, phone = signed_in_client(app), signed_in_client(app)
        assert laptop.get("/inbox").status_code == 200 and phone.get("/inbox").status_code == 200
        end()
        assert laptop.get("/inbox").status_code == 302, what
        assert phone.get("/inbox").status_code == 302, what


def test_an_administrator_signs_a_person_out_everywhere_from_the_security_page_and_from_the_cli(site):
    ctx, app = site
    eva = signed_in_client(app)
    adam = signed_in_client(app, "adam")
    page = adam.get("/admin/security")
    assert page.status_code == 200 and "eva" in page.get_data(as_text=True)
    response = adam.post("/admin/security/signout", data={"username": "eva",
                                                          "csrf_token": csrf_token(adam, "/admin/security")})
    assert response.status_code == 302
    assert eva.get("/inbox").status_code == 302
    assert adam.get("/inbox").status_code == 200  # only eva's sessions ended
    assert signed_in_client(app).get("/admin/security").status_code == 403  # not for everyone
    eva_again = signed_in_client(app)
    result = CliRunner().invoke(cli, ["users", "signout", "eva"], obj=ctx)
    assert result.exit_code == 0 and "2 session(s) ended" in result.output  # the two signed in since
    assert eva_again.get("/inbox").status_code == 302
    with ctx.uow.read() as tx:
        assert tx.session.query(AccessLog).filter_by(event="signed_out_everywhere", username="eva").count() == 2


def attempt(app, username, password, addr):
    client = app.test_client()
    return client.post("/login", data={"username": username, "password": password, "csrf_token": csrf_token(client)},
                       environ_base={"REMOTE_ADDR": addr})


def test_failed_logins_slow_the_account_down_more_and_more_but_never_lock_the_owner_out(site, frozen_clock):
    ctx, app = site
    waits = []
    for _ in range(10):  # ten wrong guesses; the attacker waits as told whenever slowed
        refused = attempt(app, "eva", "fel lösenord", "192.0.2.7")
        while refused.status_code == 429:
            waits.append(int(refused.headers["Retry-After"]))
            clock.advance(timedelta(seconds=waits[-1]))
            refused = attempt(app, "eva", "fel lösenord", "192.0.2.7")
        assert refused.status_code == 401
    assert waits == sorted(waits) and waits[0] >= 1 and waits[-1] > waits[0]  # it grows...
    assert max(waits) <= ctx.settings.login_delay_max_seconds  # ...up to a ceiling, never a lockout
    slowed = attempt(app, "eva", PASSWORD, "198.51.100.1")  # the owner, from home, right after
    assert slowed.status_code == 429 and "sekunder" in slowed.get_data(as_text=True)
    clock.advance(timedelta(seconds=int(slowed.headers["Retry-After"])))
    assert attempt(app, "eva", PASSWORD, "198.51.100.1").status_code == 302  # in, at most half a minute later
    assert attempt(app, "eva", "fel igen", "192.0.2.7").status_code == 401  # and the count starts over
    with ctx.uow.read() as tx:
        assert tx.session.query(AccessLog).filter_by(event="login_rate_limited", username="eva").count() >= 2


def test_the_break_glass_administrator_signs_in_from_the_admin_network_while_the_account_is_hammered(site,
                                                                                                     frozen_clock):
    ctx, app = site
    for _ in range(6):
        attempt(app, "adam", "gissning", "203.0.113.66")
    assert attempt(app, "adam", PASSWORD, "203.0.113.99").status_code == 429  # from outside: slowed
    assert attempt(app, "adam", PASSWORD, "10.20.3.4").status_code == 302  # from the admin network: in at once
    shown = login_throttle.throttled_accounts(ctx, ADMIN)
    assert [(t.username, t.zone) for t in shown] == [("adam", "outside")]
    adam = signed_in_client(app, "adam", addr="10.20.3.4")
    page = adam.get("/admin/security").get_data(as_text=True)
    assert "adam" in page and "203.0.113.66" in page  # the refused attempts and where they came from


def test_per_address_limits_hold_outside_the_break_glass_network(db_url):
    ctx = make_context(db_url, login_rate="3/minute", break_glass_networks=("10.20.0.0/16",))
    app = create_app(context=ctx)
    for n in range(3):
        assert attempt(app, f"nobody{n}", "x" * 12, "192.0.2.50").status_code == 401
    assert attempt(app, "nobody9", "x" * 12, "192.0.2.50").status_code == 429
    for n in range(5):
        assert attempt(app, f"nobody{n}", "x" * 12, "10.20.0.5").status_code == 401  # no per-address limit inside
    ctx.close()

