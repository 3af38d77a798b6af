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
from iphs_flow.services import accounts
from iphs_flow.web import oidc
from iphs_flow.web.redirects import safe_next

bp = Blueprint("auth", __name__)


def _login_page(status: int = 200, **context: Any) -> tuple[str, int]:
    context.setdefault("next", request.values.get("next", ""))
    context.setdefault("username", "")
    context.setdefault("sso", sso_configured(current_app))
    return render_template("login.html", **context), status


def _username_key() -> str:
    return "login-user:" + (request.form.get("username") or "").strip().lower()[:200]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["IPHS_LOGIN_RATE"], methods=["POST"], key_func=get_remote_address)
@limiter.limit(lambda: current_app.config["IPHS_LOGIN_RATE"], methods=["POST"], key_func=_username_key)
def login() -> Any:
    if request.method == "GET":
        return _login_page(expired=bool(request.args.get("expired")),
                           sso_error=request.args.get("sso_error"))
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    if not username or not password:
        return _login_page(400, error="missing", username=username)
    actor = accounts.authenticate(app_context(), username, password, remote_addr())
    if actor is None:
        return _login_page(401, error="invalid", username=username)
    start_session(actor.username)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    user = session.get("user")
    if user:
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
    app.register_blueprint(bp)
    oidc.init_oidc(app)


__all__ = ["bp", "csrf", "current_actor", "current_user", "current_user_language", "init_auth", "limiter",
           "login_required", "note_refusal", "remote_addr", "require_login_actor", "safe_next", "start_session"]
