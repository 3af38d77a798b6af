"""Administrators' security page (`/admin/security`): who is signed in, which accounts are
slowed by failed logins, the refused attempts, and "sign out everywhere" per person."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.services import accounts, login_throttle, sessions
from iphs_flow.services.errors import InvalidInput, NotFound
from iphs_flow.services.permissions import ADMINISTRATOR, Actor, require_role
from iphs_flow.web.auth import login_required, remote_addr, require_login_actor

bp = Blueprint("security_admin", __name__)

REFUSALS = ("login_rate_limited", "login_failed")


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _admin() -> Actor:
    actor = require_login_actor()
    require_role(actor, ADMINISTRATOR, "see sign-ins and throttled logins")
    return actor


def _page(actor: Actor, status: int = 200, problem: str | None = None) -> tuple[str, int]:
    ctx = _ctx()
    open_now = sessions.open_sessions(ctx, actor)
    refused = [e for event in REFUSALS for e in accounts.access_log(ctx, actor, event=event, limit=50)]
    refused.sort(key=lambda e: e.at, reverse=True)
    return render_template("admin_security.html", open_sessions=open_now,
                           people=sorted({s.username for s in open_now}),
                           throttled=login_throttle.throttled_accounts(ctx, actor), refused=refused[:50],
                           at=now(), problem=problem), status


@bp.get("/admin/security")
@login_required
def security() -> tuple[str, int]:
    return _page(_admin())


@bp.post("/admin/security/signout")
@login_required
def sign_out() -> Any:
    actor = _admin()
    username = (request.form.get("username") or "").strip()
    try:
        ended = sessions.sign_out_everywhere(_ctx(), username, actor, remote_addr())
    except (InvalidInput, NotFound) as err:
        return _page(actor, err.status, err.message)
    flash(_("%(user)s är utloggad överallt (%(count)s sessioner).", user=username, count=ended))
    return redirect(url_for("security_admin.security"))
