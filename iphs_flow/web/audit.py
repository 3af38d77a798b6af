"""Administrators' audit view: who read or changed which case, filtered, paged, exported as CSV."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import audit
from iphs_flow.services.errors import InvalidInput, NotFound
from iphs_flow.services.permissions import ADMINISTRATOR, Actor, require_role
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("audit", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _admin() -> Actor:
    actor = require_login_actor()
    require_role(actor, ADMINISTRATOR, "read the audit trail")
    return actor


def _filters() -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    form = {k: (request.args.get(k) or "").strip() for k in ("case", "user", "from", "to", "kind")}
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for key in ("from", "to"):
        try:
            days[key] = date.fromisoformat(form[key]) if form[key] else None
        except ValueError:
            errors[key] = _("Skriv datumet som ÅÅÅÅ-MM-DD.")
            days[key] = None
    if form["kind"] not in ("", "read", "change"):
        form["kind"] = ""
    filters = {"case_ref": form["case"] or None, "username": form["user"] or None, "start": days["from"],
               "end": days["to"], "kind": form["kind"] or None}
    return filters, form, errors


@bp.get("/admin/audit")
@login_required
def index() -> Any:
    actor = _admin()
    filters, form, errors = _filters()
    page = None
    status = 200
    if not errors:
        try:
            page = audit.audit_trail(_ctx(), actor, cursor=request.args.get("cursor") or None, **filters)
        except NotFound:
            errors["case"] = _("Det finns inget sådant ärende.")
        except InvalidInput:
            errors["cursor"] = _("Sidan finns inte längre; börja om från första sidan.")
    if errors:
        status = 422 if "case" not in errors else 404
    next_args = None
    if page is not None and page.next_cursor:
        next_args = {**{k: v for k, v in form.items() if v}, "cursor": page.next_cursor}
    filled = {k: v for k, v in form.items() if v}
    return render_template("audit.html", page=page, form=form, errors=errors, next_args=next_args,
                           filled=filled), status


@bp.get("/admin/audit.csv")
@login_required
def export() -> Any:
    actor = _admin()
    filters, _form, errors = _filters()
    if errors:
        return Response("\n".join(errors.values()), status=422, mimetype="text/plain")
    audit.audit_trail(_ctx(), actor, limit=1, **filters)  # refusals (an unknown case) before the download starts
    body = stream_with_context(_with_bom(audit.audit_csv(_ctx(), actor, **filters)))
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="granskningslogg.csv"'})


def _with_bom(rows: Any) -> Any:
    yield "\ufeff"  # so Excel reads Swedish letters right
    yield from rows
