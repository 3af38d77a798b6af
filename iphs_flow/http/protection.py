"""CSRF tokens and rate limits: the guards before any view runs.

Every state-changing request that rides on a session cookie proves it came from our own
pages (Flask-WTF's token); token-authenticated API calls have nothing ambient to abuse and
are exempt. One Flask-Limiter serves the login limits (web/auth.py) and the shared API
limit (http/bearer.py); if Redis is down it counts in this process rather than lock
everyone (and the break-glass administrator) out.
"""

from __future__ import annotations

from flask import Flask, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect

from .context import is_api_request
from .identity import uses_token
from .rate_storage import storage_uri

csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def csrf_check() -> None:
    """Every state-changing request with a session proves it came from our own pages."""
    if request.method not in UNSAFE:
        return
    if is_api_request() and (uses_token() or not session.get("user")):
        return  # nothing ambient to abuse: token auth, or no session at all (the API answers 401)
    if None in request.form:
        # A multipart part without a name (found by schemathesis): flask-wtf would crash reading its name.
        raise CSRFError("The form has a part without a name.")
    csrf.protect()


def init_protection(app: Flask) -> None:
    settings = app.extensions["iphs"].settings
    # Tokens live as long as the session; a form left open over lunch still submits.
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["RATELIMIT_STORAGE_URI"] = storage_uri(settings.ratelimit_storage)
    app.config["RATELIMIT_HEADERS_ENABLED"] = True
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "iphs-flow")
    app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
    app.config["RATELIMIT_SWALLOW_ERRORS"] = True
    csrf.init_app(app)
    limiter.init_app(app)
    app.before_request(csrf_check)
