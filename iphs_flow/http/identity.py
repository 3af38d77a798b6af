"""Who is asking: one answer for the web pages and the API.

The session is Flask's signed cookie holding only the user name and two times; the
user's roles and groups are re-read from the database on every request, so a role
change or a deactivation applies at once. Sessions end after `IPHS_SESSION_HOURS` without
activity and at the latest `IPHS_SESSION_MAX_HOURS` after login (measured with the engine
clock, so tests can move time).

Requests that carry an `Authorization` header never use the session cookie: token
authentication (http/bearer.py) is not ambient, so those requests are exempt from CSRF,
and a cookie riding along must not lend them its identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, sessions
from iphs_flow.services.accounts import SignedIn
from iphs_flow.services.errors import Forbidden
from iphs_flow.services.permissions import Actor

from .context import app_context, is_api_request, remote_addr
from .problems import problem

F = TypeVar("F", bound=Callable[..., Any])
# Where a page request without a session is sent (the web app's login page, by endpoint name).
LOGIN_ENDPOINT = "auth.login"


def uses_token() -> bool:
    """Only the API authenticates by header; on pages an Authorization header (say, a proxy's
    HTTP Basic login in front of the app) must not cost people their session."""
    return is_api_request() and bool(request.headers.get("Authorization"))


def _idle_limit() -> timedelta:
    return current_app.permanent_session_lifetime


def end_session() -> None:
    """Forget who this was, but keep the language they chose for the login page."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    g.pop("iphs_signed_in", None)


def _signed_in() -> SignedIn | None:
    """The request's person, once per request; None for anonymous, expired or deactivated."""
    if "iphs_signed_in" in g:
        return g.iphs_signed_in
    found: SignedIn | None = None
    bearer = g.get("bearer_actor")  # set by token authentication (the API), never from the cookie
    if isinstance(bearer, Actor):
        found = SignedIn(bearer, bearer.username, "")  # the language is read only when a text needs it
    elif not uses_token() and session.get("user"):
        seen, login_at = session.get("seen"), session.get("login_at")
        at = now().timestamp()
        if (not isinstance(seen, int | float) or at - seen > _idle_limit().total_seconds()
                or not isinstance(login_at, int | float)
                or at - login_at > app_context().settings.session_max_hours * 3600):
            end_session()
            g.session_expired = True
        elif sessions.active_username(app_context(), session.get("sid")) != session["user"]:
            end_session()  # logged out elsewhere, password changed, deactivated or signed out by an administrator
        else:
            found = accounts.signed_in(app_context(), str(session["user"]))
            if found is None:
                end_session()
            elif at - seen > 60:
                session["seen"] = at  # sliding expiry, without rewriting the cookie on every click
    g.iphs_signed_in = found
    return found


def current_actor() -> Actor | None:
    """The signed-in person's Actor, with roles and groups as they are now; None if anonymous."""
    found = _signed_in()
    return found.actor if found else None


def current_user() -> SignedIn | None:
    """Actor plus display name and language, for page headers."""
    return _signed_in()


def current_user_language() -> str | None:
    """The person's own language setting; for a token caller it is read when first asked."""
    found = _signed_in()
    if found is None:
        return None
    if not found.language and isinstance(g.get("bearer_actor"), Actor):
        person = accounts.signed_in(app_context(), found.actor.username)
        return person.language if person else None
    return found.language


def unauthenticated() -> Any:
    """401 problem for the API; a redirect to the login page (coming back here after) for pages."""
    if is_api_request():
        expired = bool(g.get("session_expired"))
        return problem(401, None, "the session has expired; sign in again" if expired else "sign in first",
                       headers={"WWW-Authenticate": 'Bearer realm="iphs-flow"'})
    return redirect(url_for(LOGIN_ENDPOINT, next=request.full_path if request.query_string else request.path,
                            expired=1 if g.get("session_expired") else None))


def require_login_actor() -> Actor:
    """The current Actor, or stop the request: 401 for the API, a redirect to /login for pages."""
    actor = current_actor()
    if actor is None:
        abort(unauthenticated())
    return actor


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_actor() is None:
            return unauthenticated()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def start_session(username: str) -> None:
    """A fresh session for a fresh login: nothing survives from before (session fixation)."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["user"] = username
    session["sid"] = sessions.open_session(app_context(), username, remote_addr())  # the server-side record
    session["login_at"] = now().timestamp()
    session["seen"] = now().timestamp()
    if lang:
        session["lang"] = lang
    g.pop("iphs_signed_in", None)


def note_refusal(err: Exception) -> None:
    """Write a refused action (403) to the access log; the error handlers call it."""
    if not isinstance(err, Forbidden):
        return
    actor = current_actor()
    accounts.log_access(app_context(), "access_denied", actor.username if actor else None,
                        {"method": request.method, "path": request.path[:300], "reason": str(err)[:500]},
                        remote_addr())


def init_sessions(app: Flask) -> None:
    """Session cookie settings (secure, HTTP-only, SameSite, expiring) and trusted proxies."""
    settings = app.extensions["iphs"].settings
    https = settings.base_url.startswith("https://")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = https
    if https:  # the __Host- prefix: browsers accept it only Secure, host-only, on path /
        app.config["SESSION_COOKIE_NAME"] = "__Host-iphs-session"
    app.config["IPHS_HTTPS"] = https
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=settings.session_hours)
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    if settings.proxy_hops > 0:
        # Behind N trusted reverse proxies, the client's address (rate limits, access log) and
        # scheme come from their X-Forwarded-* headers; without this setting those headers are ignored.
        n = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    @app.context_processor
    def _identity_context() -> dict[str, Any]:
        return {"current_user": current_user}
