"""Pages for notifications and the outbox: a person's in-app messages and mail setting;
the administrator's outbox (mails held without SMTP, sent, failed) and failed jobs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import accounts, jobs, notifications
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("notices", __name__)
STATUSES = ("held", "pending", "digest", "sent", "incident", "dismissed", "digested")


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


@bp.get("/notifications")
@login_required
def inbox() -> str:
    actor = require_login_actor()
    ctx = _ctx()
    user = accounts.get_user(ctx, actor.username)
    return render_template("notifications.html", items=notifications.list_notifications(ctx, actor, limit=100),
                           mode=user.notify_mode, modes=notifications.NOTIFY_MODES)


@bp.post("/notifications/read")
@login_required
def read_all() -> Any:
    notifications.mark_read(_ctx(), require_login_actor())
    return redirect(url_for("notices.inbox"))


@bp.post("/notifications/mode")
@login_required
def choose_mode() -> Any:
    actor = require_login_actor()
    notifications.set_notify_mode(_ctx(), actor, actor.username, request.form.get("notify_mode", ""))
    return redirect(url_for("notices.inbox", saved=1))


@bp.get("/admin/outbox")
@login_required
def outbox() -> str:
    actor = require_login_actor()
    ctx = _ctx()
    status = request.args.get("status") or None
    if status not in STATUSES:
        status = None
    return render_template("admin_outbox.html", mails=jobs.list_outbox(ctx, actor, status=status, limit=200),
                           incidents=jobs.list_job_incidents(ctx, actor), status=status, statuses=STATUSES)


@bp.post("/admin/jobs/<int:job_id>/retry")
@login_required
def retry(job_id: int) -> Any:
    jobs.retry_job(_ctx(), job_id, require_login_actor())
    return redirect(url_for("notices.outbox"))


@bp.post("/admin/jobs/<int:job_id>/dismiss")
@login_required
def dismiss(job_id: int) -> Any:
    jobs.dismiss_job(_ctx(), job_id, require_login_actor())
    return redirect(url_for("notices.outbox"))
