"""Signing in and out of the web pages: the login form, its rate limits, logout.

Who is asking (session cookie, bearer token) is iphs_flow/http/identity.py, shared with
the API; the names pages use from it are importable from here too.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, g, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address

from iphs_flow.http.context import app_context, remote_addr
from iphs_flow.http.errors import note_rate_limited
from iphs_flow.http.identity import (
    current_actor,
    current_user,
    current_user_language,
    end_session,
    login_required,
    note_refusal,
    require_login_actor,
    start_session,
)
from iphs_flow.http.oidc import is_configured as sso_configured
from iphs_flow.http.protection import csrf, limiter
from iphs_flow.services import accounts, login_throttle, sessions
from iphs_flow.web import oidc
from iphs_flow.web.redirects import safe_next

bp = Blueprint("auth", __name__)


def _login_page(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("next", request.values.get("next", ""))
    context.setdefault("username", "")
    context.setdefault("sso", sso_configured(current_app))
    return render_template("login.html", **context), status


def _from_break_glass_network() -> bool:
    return login_throttle.is_break_glass(app_context(), remote_addr())


def _slowed(username: str, wait: int) -> Any:
    """The account waits (a growing delay, services/login_throttle): say how long, log it."""
    accounts.log_access(app_context(), "login_rate_limited", username[:200] or None,
                        {"reason": "account_delay", "wait_seconds": wait}, remote_addr())
    g.login_wait = wait
    return _login_page(429, error="rate", wait=wait, username=username)


def _exact_login_wait(response: Any) -> Any:
    """The account's own delay in Retry-After (the limiter would put its window's end there).
    Registered first, so it runs after the limiter's hook."""
    if g.get("login_wait"):
        response.headers["Retry-After"] = str(g.login_wait)
    return response


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IPHS_LOGIN_RATE"], methods=["POST"], key_func=get_remote_address,
               exempt_when=_from_break_glass_network)
def login() -> Any:
    if request.method == "GET":
        return _login_page(expired=bool(request.args.get("expired")),
                           sso_error=request.args.get("sso_error"))
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    if not username or not password:
        return _login_page(400, error="missing", username=username)
    wait = login_throttle.seconds_to_wait(app_context(), username, remote_addr())
    if wait:
        return _slowed(username, wait)
    actor = accounts.authenticate(app_context(), username, password, remote_addr())
    if actor is None:
        login_throttle.failed(app_context(), username, remote_addr())
        return _login_page(401, error="invalid", username=username)
    login_throttle.succeeded(app_context(), username, remote_addr())
    start_session(actor.username)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    user = session.get("user")
    if user:
        sessions.end_session(app_context(), session.get("sid"))  # a copy of this cookie stops working too
        accounts.log_access(app_context(), "logout", str(user), {}, remote_addr())
    end_session()
    g.pop("iphs_signed_in", None)
    return redirect(url_for("auth.login", logged_out=1))


@bp.errorhandler(429)
def _login_rate_limited(err: Any) -> Any:
    note_rate_limited(err)
    return _login_page(429, error="rate")


def init_auth(app: Flask) -> None:
    """The login and logout routes with their rate limits, and the SSO routes."""
    app.config["IPHS_LOGIN_RATE"] = app.extensions["iphs"].settings.login_rate
    app.after_request_funcs.setdefault(None, []).insert(0, _exact_login_wait)
    app.register_blueprint(bp)
    oidc.init_oidc(app)


__all__ = ["bp", "csrf", "current_actor", "current_user", "current_user_language", "init_auth", "limiter",
           "login_required", "note_refusal", "remote_addr", "require_login_actor", "safe_next", "start_session"]
