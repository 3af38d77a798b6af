"""Registration pages (OSL 5 kap.): the case's registration and secrecy forms, the register
(/diarium) for registrars, and the answer to a public-records request for one case."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.http.identity import login_required, require_login_actor
from iphs_flow.services import registration
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.queries import register

from . import pages

bp = Blueprint("registration", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _refused(case_id: int, err: InvalidInput | Conflict) -> tuple[str, int]:
    """The case page again, with why (and which field) the change was refused."""
    if isinstance(err, Conflict):
        flash(_("Registreringen ändrades av någon annan under tiden. Ladda om sidan och försök igen.")
              if "meanwhile" in err.message else _("Den delen av ärendet är redan sekretessmarkerad."), "error")
        return pages.case(case_id), 409
    names = {"classification": _("Klassificering"), "description": _("Offentlig beskrivning"),
             "unit": _("Ansvarig enhet"), "registered_on": _("Registreringsdatum"),
             "target": _("Vad som är sekretessbelagt"),
             "provision": _("Bestämmelse"), "reason": _("Skäl"), "kind": _("Vad som är sekretessbelagt")}
    for name, problems in (err.fields or {}).items():
        flash(f"{names.get(name, name)}: {'; '.join(problems)}", "error")
    return pages.case(case_id), 422


@bp.post("/cases/<int:case_id>/registration")
@login_required
def update(case_id: int) -> Any:
    form = request.form
    version = form.get("version", "")
    shown = int(version) if version.isascii() and version.isdigit() and len(version) < 10 else -1
    try:
        registration.update_registration(
            _ctx(), case_id, require_login_actor(), version=shown,
            classification=form.get("classification"), description=form.get("description"), unit=form.get("unit"),
            registered_on=form.get("registered_on"))
    except (InvalidInput, Conflict) as err:
        return _refused(case_id, err)
    flash(_("Registreringen är sparad."))
    return redirect(url_for("pages.case", case_id=case_id) + "#registration", 303)


@bp.post("/cases/<int:case_id>/secrecy")
@login_required
def mark(case_id: int) -> Any:
    kind, _sep, target = (request.form.get("target") or "").partition(":")
    try:
        registration.mark_secret(_ctx(), case_id, require_login_actor(), kind=kind, target=target,
                                 provision=request.form.get("provision", ""), reason=request.form.get("reason", ""))
    except (InvalidInput, Conflict) as err:
        return _refused(case_id, err)
    flash(_("Sekretessmarkeringen är sparad."))
    return redirect(url_for("pages.case", case_id=case_id) + "#registration", 303)


@bp.post("/cases/<int:case_id>/secrecy/<int:marking_id>/lift")
@login_required
def lift(case_id: int, marking_id: int) -> Any:
    try:
        registration.lift_secrecy(_ctx(), case_id, marking_id, require_login_actor(),
                                  reason=request.form.get("reason", ""))
    except InvalidInput as err:
        return _refused(case_id, err)
    flash(_("Sekretessmarkeringen är hävd."))
    return redirect(url_for("pages.case", case_id=case_id) + "#registration", 303)


@bp.get("/diarium")
@login_required
def diarium() -> Any:
    actor = require_login_actor()
    register.require_registrar(actor)
    errors: dict[str, list[str]] = {}
    try:
        query = register.parse_query(request.args.to_dict())
    except InvalidInput as err:
        errors = err.fields or {}
        query = register.RegisterQuery()
    found = register.search_register(_ctx(), query, actor) if not errors else None
    return render_template("diarium.html", found=found, errors=errors, args=request.args,
                           classes=register.class_names(_ctx())), 422 if errors else 200


@bp.get("/diarium/<int:case_id>")
@login_required
def request_answer(case_id: int) -> Any:
    answer = register.records_request(_ctx(), case_id, require_login_actor())
    if request.args.get("format") == "json":
        return jsonify(answer.as_json())
    return render_template("records_request.html", answer=answer)


def init_registration(app: Any) -> None:
    app.register_blueprint(bp)
