"""Signing in and out, and who is asking: one answer for the web UI and the API.

The session is Flask's signed cookie holding only the user name and two times; the
user's roles and groups are re-read from the database on every request, so a role
change or a deactivation applies at once. Sessions end after `IPHS_SESSION_HOURS` without
activity (measured with the engine clock, so tests can move time).

Requests that carry an `Authorization` header never use the session cookie: token
authentication is not ambient, so those requests are exempt from CSRF, and a cookie
riding along must not lend them its identity.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, login_throttle, sessions
from iphs_flow.services.accounts import SignedIn
from iphs_flow.services.permissions import Actor

bp = Blueprint("auth", __name__)
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
F = TypeVar("F", bound=Callable[..., Any])


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _is_api() -> bool:
    return request.path.startswith("/api/")


def _uses_token() -> bool:
    """Only the API authenticates by header; on pages an Authorization header (say, a proxy's
    HTTP Basic login in front of the app) must not cost people their session."""
    return _is_api() and bool(request.headers.get("Authorization"))


def remote_addr() -> str | None:
    return request.remote_addr


# ---------------------------------------------------------------- who is asking


def _idle_limit() -> timedelta:
    return current_app.permanent_session_lifetime


def _end_session() -> None:
    """Forget who this was, but keep the language they chose for the login page."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def _signed_in() -> SignedIn | None:
    """The session's user, once per request; None for anonymous, expired or deactivated."""
    if "iphs_signed_in" in g:
        return g.iphs_signed_in
    found: SignedIn | None = None
    bearer = g.get("bearer_actor")  # set by token authentication (the API), never from the cookie
    if isinstance(bearer, Actor):
        found = SignedIn(bearer, bearer.username, "sv")
    elif not _uses_token() and session.get("user"):
        seen, login_at = session.get("seen"), session.get("login_at")
        at = now().timestamp()
        if (not isinstance(seen, int | float) or at - seen > _idle_limit().total_seconds()
                or not isinstance(login_at, int | float) or at - login_at > _ctx().settings.session_max_hours * 3600):
            _end_session()
            g.session_expired = True
        elif sessions.active_username(_ctx(), session.get("sid")) != session["user"]:
            _end_session()  # logged out elsewhere, password changed, deactivated or signed out by an administrator
        else:
            found = accounts.signed_in(_ctx(), str(session["user"]))
            if found is None:
                _end_session()
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
    found = _signed_in()
    return found.language if found else None


def _unauthenticated() -> Any:
    if _is_api():
        expired = bool(g.get("session_expired"))
        body = {"type": "about:blank", "title": "Unauthorized", "status": 401,
                "detail": "the session has expired; sign in again" if expired else "sign in first"}
        response = jsonify(body)
        response.status_code = 401
        response.mimetype = "application/problem+json"
        response.headers["WWW-Authenticate"] = 'Bearer realm="iphs-flow"'
        return response
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path,
                            expired=1 if g.get("session_expired") else None))


def require_login_actor() -> Actor:
    """The current Actor, or stop the request: 401 for the API, a redirect to /login for pages."""
    actor = current_actor()
    if actor is None:
        abort(_unauthenticated())
    return actor


def login_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_actor() is None:
            return _unauthenticated()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    """Only a path on this site: no scheme, no host, no `//evil.example`."""
    if not target:
        return url_for("index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("index")
    return target


def start_session(username: str) -> None:
    """A fresh session for a fresh login: nothing survives from before (session fixation)."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["user"] = username
    session["sid"] = sessions.open_session(_ctx(), username, remote_addr())  # the server-side record
    session["login_at"] = now().timestamp()
    session["seen"] = now().timestamp()
    if lang:
        session["lang"] = lang
    g.pop("iphs_signed_in", None)


# ---------------------------------------------------------------- routes


def _login_page(status: int = 200, **context: Any) -> tuple[str, int]:
    from iphs_flow.web import oidc

    context.setdefault("next", request.values.get("next", ""))
    context.setdefault("username", "")
    context.setdefault("sso", oidc.is_configured(current_app))
    return render_template("login.html", **context), status


def _from_break_glass_network() -> bool:
    return login_throttle.is_break_glass(_ctx(), remote_addr())


def _slowed(username: str, wait: int) -> Any:
    """The account waits (a growing delay, services/login_throttle): say how long, log it."""
    accounts.log_access(_ctx(), "login_rate_limited", username[:200] or None,
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
    wait = login_throttle.seconds_to_wait(_ctx(), username, remote_addr())
    if wait:
        return _slowed(username, wait)
    actor = accounts.authenticate(_ctx(), username, password, remote_addr())
    if actor is None:
        login_throttle.failed(_ctx(), username, remote_addr())
        return _login_page(401, error="invalid", username=username)
    login_throttle.succeeded(_ctx(), username, remote_addr())
    start_session(actor.username)
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> Any:
    user = session.get("user")
    if user:
        sessions.end_session(_ctx(), session.get("sid"))  # a copy of this cookie stops working too
        accounts.log_access(_ctx(), "logout", str(user), {}, remote_addr())
    _end_session()
    g.pop("iphs_signed_in", None)
    return redirect(url_for("auth.login", logged_out=1))


def note_refusal(err: Exception) -> None:
    """Write a refused action (403) to the access log; entrypoints call it from their error handlers."""
    from iphs_flow.services.errors import Forbidden

    if not isinstance(err, Forbidden):
        return
    actor = current_actor()
    accounts.log_access(_ctx(), "access_denied", actor.username if actor else None,
                        {"method": request.method, "path": request.path[:300], "reason": str(err)[:500]},
                        remote_addr())


# ---------------------------------------------------------------- wiring


def _csrf_check() -> None:
    """Every state-changing request with a session proves it came from our own pages."""
    if request.method not in UNSAFE:
        return
    if _is_api() and (_uses_token() or not session.get("user")):
        return  # nothing ambient to abuse: token auth, or no session at all (the API answers 401)
    if None in request.form:
        # A multipart part without a name (found by schemathesis): flask-wtf would crash reading its name.
        raise CSRFError("The form has a part without a name.")
    csrf.protect()


def _csrf_refused(err: CSRFError) -> Any:
    accounts.log_access(_ctx(), "csrf_refused", session.get("user"), {"path": request.path[:300],
                                                                        "reason": err.description},
                        remote_addr())
    if _is_api():
        response = jsonify({"type": "about:blank", "title": "Bad Request", "status": 400,
                            "detail": f"CSRF check failed: {err.description}"})
        response.status_code = 400
        response.mimetype = "application/problem+json"
        return response
    return render_template("error.html", message=(
        "Formuläret kunde inte skickas eftersom sidan var för gammal eller inte kom härifrån. "
        "Ladda om sidan och försök igen.")), 400


def _too_many(err: Any) -> Any:
    if _is_api():
        from iphs_flow.web.bearer import too_many

        return too_many(err)  # the shared API limit: a problem with Retry-After, no access-log row per call
    accounts.log_access(_ctx(), "login_rate_limited", (request.form.get("username") or "")[:200] or None,
                        {"limit": str(getattr(err, "description", ""))}, remote_addr())
    if _is_api():
        response = jsonify({"type": "about:blank", "title": "Too Many Requests", "status": 429,
                            "detail": "too many attempts; wait a minute and try again"})
        response.status_code = 429
        response.mimetype = "application/problem+json"
        return response
    if request.endpoint == "auth.login":
        return _login_page(429, error="rate")
    return render_template("error.html", message="För många försök. Vänta en minut och försök igen."), 429


def init_auth(app: Flask) -> None:
    """Sessions, CSRF, login rate limits, SSO and the auth routes for one app."""
    ctx: AppContext = app.extensions["iphs"]
    settings = ctx.settings
    https = settings.base_url.startswith("https://")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = https
    if https:  # the __Host- prefix: browsers accept it only Secure, host-only, on path /
        app.config["SESSION_COOKIE_NAME"] = "__Host-iphs-session"
    app.config["IPHS_HTTPS"] = https
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=settings.session_hours)
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False
    # Tokens live as long as the session; a form left open over lunch still submits.
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["IPHS_LOGIN_RATE"] = settings.login_rate
    app.config["RATELIMIT_STORAGE_URI"] = settings.ratelimit_storage
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "iphs-flow")
    # If Redis is down, count in this process rather than lock everyone (and the break-glass admin) out.
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    if settings.proxy_hops > 0:
        # Behind N trusted reverse proxies, the client's address (rate limits, access log) and
        # scheme come from their X-Forwarded-* headers; without this setting those headers are ignored.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]
    csrf.init_app(app)
    limiter.init_app(app)
    app.after_request_funcs.setdefault(None, []).insert(0, _exact_login_wait)
    app.before_request(_csrf_check)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(429, _too_many)
    app.register_blueprint(bp)

    @app.context_processor
    def _auth_context() -> dict[str, Any]:
        return {"current_user": current_user}

    from iphs_flow.web import oidc

    oidc.init_oidc(app)

    from iphs_flow.web import bearer

    bearer.init_bearer(app)  # after limiter.init_app: refused tokens still count against the limit
