"""Administrators' page for retention: the rules (gallringsbeslut) and the weeding lists.

Nothing is weeded from here: the page proposes the list of what is due, an
administrator approves or cancels it, and the scheduler weeds what was approved.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import retention
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.permissions import ADMINISTRATOR, Actor, require_role
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("retention", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _admin() -> Actor:
    actor = require_login_actor()
    require_role(actor, ADMINISTRATOR, "handle retention")
    return actor


def _page(actor: Actor, *, status: int = 200, errors: dict[str, str] | None = None,
          form: dict[str, str] | None = None, problem: str | None = None) -> tuple[str, int]:
    return render_template("retention.html", rules=retention.list_rules(_ctx(), actor),
                           lists=retention.weeding_lists(_ctx(), actor), types=retention.DOCUMENT_TYPES,
                           errors=errors or {}, form=form or {}, problem=problem), status


@bp.get("/admin/records")
@login_required
def records() -> str:
    """Where administrators start with public records: retention, personal data, the e-archive."""
    _admin()
    return render_template("records.html")


@bp.get("/admin/retention")
@login_required
def index() -> tuple[str, int]:
    return _page(_admin())


@bp.post("/admin/retention/rules")
@login_required
def add_rule() -> Any:
    actor = _admin()
    form = {k: (request.form.get(k) or "").strip() for k in ("document_type", "process_key", "outcomes",
                                                               "keep_years", "decision")}
    errors: dict[str, str] = {}
    keep_days: int | None = None
    if form["keep_years"]:
        try:
            keep_days = round(float(form["keep_years"].replace(",", ".")) * 365)
        except ValueError:
            errors["keep_years"] = _("Ange antal år som ett tal, eller lämna tomt för att bevara för alltid.")
    if not errors:
        try:
            retention.add_rule(_ctx(), actor, document_type=form["document_type"], keep_days=keep_days,
                               decision=form["decision"], process_key=form["process_key"] or None,
                               outcomes=tuple(form["outcomes"].replace(";", ",").split(",")))
        except InvalidInput as err:
            names = {"keep_days": "keep_years"}
            errors = {names.get(k, k): v[0] for k, v in err.fields.items()}
    if errors:
        return _page(actor, status=422, errors=errors, form=form, problem=_("Regeln kunde inte läggas till."))
    flash(_("Gallringsregeln är tillagd."))
    return redirect(url_for("retention.index"))


@bp.post("/admin/retention/rules/<int:rule_id>/remove")
@login_required
def remove_rule(rule_id: int) -> Any:
    retention.remove_rule(_ctx(), rule_id, _admin())
    flash(_("Gallringsregeln är borttagen."))
    return redirect(url_for("retention.index"))


@bp.post("/admin/retention/lists")
@login_required
def propose() -> Any:
    actor = _admin()
    try:
        made = retention.propose_weeding(_ctx(), actor)
    except Conflict:
        return _page(actor, status=409, problem=_("Det finns redan en gallringslista som inte är klar."))
    flash(_("Gallringslista %(id)s med %(n)s poster är föreslagen. Inget gallras förrän den godkänns.",
            id=made.id, n=len(made.items)))
    return redirect(url_for("retention.index"))


@bp.post("/admin/retention/lists/<int:list_id>/<any(approve, cancel):action>")
@login_required
def decide(list_id: int, action: str) -> Any:
    actor = _admin()
    run = retention.approve_weeding if action == "approve" else retention.cancel_weeding
    try:
        run(_ctx(), list_id, actor)
    except Conflict:
        return _page(actor, status=409, problem=_("Listan är redan godkänd, gallrad eller avbruten."))
    flash(_("Gallringslistan är godkänd; schemaläggaren gallrar inom en timme.") if action == "approve"
          else _("Gallringslistan är avbruten."))
    return redirect(url_for("retention.index"))
