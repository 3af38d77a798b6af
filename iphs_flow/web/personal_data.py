"""Administrators' pages for a person's rights: register extract, correction, erasure.

`/admin/personal-data` finds the person; their page is the register extract (also as JSON
for the reply to the person), a correction form, and the way to erasure: a preview that
says what happens where, then a confirmation that repeats the user name. Plain forms with
CSRF tokens; refusals re-render with the message and change nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import accounts, personal_data
from iphs_flow.services.errors import InvalidInput, NotFound
from iphs_flow.services.permissions import ADMINISTRATOR, Actor, require_role
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("personal_data", __name__)

SECTION_TITLES = {
    "cases": "Ärenden som personen äger", "tasks": "Uppgifter", "decisions_and_forms": "Formulär, beslut och händelser",
    "comments": "Kommentarer", "attachments": "Bifogade filer", "notifications": "Aviseringar", "mails": "E-post",
    "api_tokens": "API-nycklar", "access_log": "Åtkomstlogg", "mentions": "Där personen nämns i text",
    "secrecy_markings": "Sekretessmarkeringar personen gjort",
    "registered_documents": "Registrerade handlingar till eller från personen",
}


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _admin() -> Actor:
    actor = require_login_actor()
    require_role(actor, ADMINISTRATOR, "handle personal data")
    return actor


@bp.get("/admin/personal-data")
@login_required
def find() -> Any:
    _admin()
    wanted = (request.args.get("username") or "").strip()
    if wanted:
        try:
            accounts.get_user(_ctx(), wanted)
        except NotFound:
            return render_template("personal_data_find.html", wanted=wanted, people=_people(),
                                   error=_("Det finns ingen användare med det användarnamnet.")), 404
        return redirect(url_for("personal_data.extract", username=wanted))
    return render_template("personal_data_find.html", wanted="", people=_people(), error=None)


def _people() -> list[Any]:
    return [u for u in accounts.list_users(_ctx()) if not u.username.startswith("borttagen-")]


@bp.get("/admin/personal-data/<username>")
@login_required
def extract(username: str) -> Any:
    actor = _admin()
    made = personal_data.register_extract(_ctx(), username, actor)
    if request.args.get("format") == "json":
        response: Response = jsonify(made.as_json())
        response.headers["Content-Disposition"] = f'attachment; filename="registerutdrag-{made.username}.json"'
        return response
    return render_template("personal_data.html", extract=made, sections=made.sections, titles=SECTION_TITLES,
                           errors={}, form={})


@bp.post("/admin/personal-data/<username>/correct")
@login_required
def correct(username: str) -> Any:
    actor = _admin()
    form = {k: request.form.get(k, "") for k in ("display_name", "email", "reason")}
    try:
        personal_data.correct_person(_ctx(), username, actor, display_name=form["display_name"] or None,
                                     email=form["email"], reason=form["reason"])
    except InvalidInput as err:
        made = personal_data.register_extract(_ctx(), username, actor)
        return render_template("personal_data.html", extract=made, sections=made.sections, titles=SECTION_TITLES,
                               errors={k: v[0] for k, v in err.fields.items()}, form=form), 422
    flash(_("Rättelsen är gjord och noterad i åtkomstloggen."))
    return redirect(url_for("personal_data.extract", username=username))


@bp.get("/admin/personal-data/<username>/erase")
@login_required
def erase_preview(username: str) -> Any:
    actor = _admin()
    plan = personal_data.erasure_preview(_ctx(), username, actor)
    return render_template("personal_data_erase.html", plan=plan, username=username, error=None)


@bp.post("/admin/personal-data/<username>/erase")
@login_required
def erase(username: str) -> Any:
    actor = _admin()
    try:
        plan = personal_data.erase_person(_ctx(), username, actor, confirm=request.form.get("confirm", "").strip())
    except InvalidInput as err:
        plan = personal_data.erasure_preview(_ctx(), username, actor)
        message = (_("Skriv användarnamnet exakt för att bekräfta.") if "confirm" in err.fields
                   else _("Du kan inte radera dig själv."))
        return render_template("personal_data_erase.html", plan=plan, username=username, error=message), 422
    flash(_("Personuppgifterna är raderade eller ersatta med pseudonym på %(n)s ställen i %(cases)s ärenden.",
            n=plan.total, cases=plan.cases))
    return redirect(url_for("personal_data.find"))
