"""The /api/v1 endpoints, one module per resource; this one holds the session and lists them all.

Every module is thin: it validates the request with a marshmallow schema, calls one use
case from iphs_flow.services, and dumps the read model it returns. Permissions, visibility
(404 for cases the caller may not see), conflicts and idempotency are decided below it.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf

from iphs_flow.http.identity import current_user

from . import admin, cases, following, lessons, me, messages, processes, register, search, tasks
from . import portfolio as portfolio_api
from .common import make_blueprint
from .schemas import SessionSchema

session_bp = make_blueprint("api_session", "Who is signed in")


@session_bp.route("/session")
@session_bp.response(200, SessionSchema)
def whoami() -> dict[str, Any]:
    """The signed-in person, with the CSRF token that cookie-authenticated writes must send."""
    user = current_user()
    assert user is not None
    return {"username": user.actor.username, "display_name": user.display_name,
            "roles": sorted(user.actor.roles), "groups": sorted(user.actor.groups), "csrf_token": generate_csrf()}


def blueprints() -> list[Blueprint]:
    return [session_bp, cases.bp, tasks.bp, processes.bp, me.bp, admin.bp, search.bp, messages.bp, following.bp,
            register.bp, lessons.bp, portfolio_api.bp]
