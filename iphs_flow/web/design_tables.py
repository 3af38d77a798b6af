"""Designers edit a draft's decision tables (DMN) and forms (JSON Schema + UI schema) in the browser.

Both editors are plain HTML forms first: the DMN XML sits in a labelled textarea and the
form in two, and Save, Validate and Preview are submit buttons, so everything works
without JavaScript. With JavaScript, dmn-js replaces the textarea with a table editor
(its XML is written back into the textarea before the form is sent), and the form
preview follows the typing. The preview is rendered by the same code that renders task
forms for users (`FormSpec` and templates/_form.html), so designers see what people get.

Saving names the draft version it started from: if a colleague saved in between, the
page says who, keeps everything typed, and offers to save over their version knowingly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.dmn_check import REFUSED, TableProblem, check_dmn
from iphs_flow.services import design, form_design, processes
from iphs_flow.services.errors import InvalidInput, NotFound
from iphs_flow.services.form_design import FormTextProblem
from iphs_flow.web.auth import login_required, require_login_actor
from iphs_flow.web.forms import Form
from iphs_flow.web.pages import spec_for

bp = Blueprint("design_tables", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _expected_version() -> int:
    """The draft version the page was loaded with; "save anyway" after a conflict names the newer one."""
    value = request.form.get("overwrite") or request.form.get("expected_version", "")
    if not value.isdigit():
        raise InvalidInput("the page did not say which draft version it edits; reload it",
                           {"expected_version": ["missing"]})
    return int(value)


def _conflict_message(err: design.DraftConflict) -> str:
    if err.updated_by:
        return _("%(who)s sparade utkastet medan du arbetade (nu version %(version)s). Dina ändringar är inte "
                 "sparade men finns kvar nedan. Ladda om sidan för att se deras version, eller spara ändå "
                 "för att skriva över den.", who=err.updated_by, version=err.current_version)
    return _("Utkastet har driftsatts eller kastats sedan du öppnade det. Dina ändringar finns kvar nedan; "
             "kopiera dem och öppna processen igen.")


# ------------------------------------------------------------------ decision tables (DMN)


def _dmn_message(p: TableProblem) -> str:
    where = []
    if p.decision_name:
        where.append(_("Beslut ”%(name)s”", name=p.decision_name))
    if p.rule_number:
        where.append(_("regel %(n)s", n=p.rule_number))
    if p.column:
        where.append(_("kolumn ”%(name)s”", name=p.column))
    prefix = (", ".join(where) + ": ") if where else ""
    text = {
        "unsafe": _("Filen får inte innehålla DOCTYPE- eller entitetsdeklarationer."),
        "too_large": _("Filen är större än %(mb)s MB.", mb=p.detail),
        "xml": _("Filen är inte välformad XML: %(detail)s", detail=p.detail),
        "not_dmn": _("Filen är inte en DMN-fil (rotelementet ska vara definitions i DMN:s namnrymd)."),
        "decision_count": _("Filen ska innehålla exakt ett beslut (den innehåller %(n)s).", n=p.detail),
        "structure": _("Motorn kan inte läsa tabellen: %(detail)s", detail=p.detail),
        "no_table": _("beslutet har ingen beslutstabell."),
        "input_expression": _("indatauttrycket saknas.") if p.detail == "empty" else
        _("indatauttrycket ”%(text)s” är inte tillåtet: %(detail)s", text=p.text, detail=p.detail),
        "input_entry": _("villkoret ”%(text)s” är inte tillåtet: %(detail)s", text=p.text, detail=p.detail),
        "output_entry": _("utdatat ”%(text)s” är inte tillåtet: %(detail)s", text=p.text, detail=p.detail),
        "entry_count": _("regeln har inte en cell per kolumn."),
        "output_name": _("utdatakolumnen saknar namn (det namn resultatet sparas under)."),
        "limit": _("Kontrollen av tabellen stoppades vid motorns gränser: %(detail)s", detail=p.detail),
    }[p.code]
    return prefix + text


def _dmn_file(key: str, name: str, actor: Any) -> design.DraftView:
    draft = design.get_draft(_ctx(), key, actor)
    if not name.lower().endswith(".dmn") or name not in draft.files:
        raise NotFound(f"the draft of '{key}' has no decision table file '{name}'")
    return draft


def _render_dmn(key: str, name: str, draft: design.DraftView, content: str, *, version: int, status: int = 200,
                problems: list[TableProblem] | None = None, conflict: str | None = None,
                refused: str | None = None, notice: str | None = None,
                overwrite_version: int | None = None) -> tuple[str, int]:
    messages = [(p, _dmn_message(p)) for p in problems or []]
    return render_template("design_dmn.html", key=key, name=name, draft=draft, content=content, version=version,
                           problems=messages, conflict=conflict, refused=refused, notice=notice,
                           overwrite_version=overwrite_version,
                           tables=sorted(n for n in draft.files if n.lower().endswith(".dmn"))), status


@bp.get("/design/<key>/dmn/<name>")
@login_required
def dmn(key: str, name: str) -> tuple[str, int]:
    actor = require_login_actor()
    draft = _dmn_file(key, name, actor)
    return _render_dmn(key, name, draft, draft.files[name], version=draft.version)


@bp.post("/design/<key>/dmn/<name>")
@login_required
def dmn_post(key: str, name: str) -> Any:
    actor = require_login_actor()
    draft = _dmn_file(key, name, actor)
    content = request.form.get("content", "").replace("\r\n", "\n")  # browsers send textareas with CRLF
    expected = _expected_version()
    problems = check_dmn(content.encode("utf-8"), name)
    if request.form.get("_action") == "validate":
        notice = None if problems else _("Inga problem hittades i tabellen.")
        return _render_dmn(key, name, draft, content, version=expected, problems=problems, notice=notice,
                           status=422 if problems else 200)
    if any(p.code in REFUSED for p in problems):
        return _render_dmn(key, name, draft, content, version=expected, problems=problems, status=422,
                           refused=_("Tabellen sparades inte."))
    try:
        saved = design.save_draft_file(_ctx(), key, name, content, actor, expected)
    except design.DraftConflict as err:
        return _render_dmn(key, name, draft, content, version=expected, status=409, conflict=_conflict_message(err),
                           overwrite_version=err.current_version or None)
    except InvalidInput as err:
        return _render_dmn(key, name, draft, content, version=expected, problems=problems, status=422,
                           refused=_("Tabellen sparades inte: %(why)s", why=err.message))
    if problems:
        return _render_dmn(key, name, saved, saved.files[name], version=saved.version, problems=problems,
                           notice=_("Tabellen är sparad i utkastet, men har problem som måste rättas innan "
                                    "processen kan driftsättas."))
    flash(_("Tabellen %(name)s är sparad i utkastet (version %(version)s).", name=name, version=saved.version))
    return redirect(url_for("design_tables.dmn", key=key, name=name))


# ------------------------------------------------------------------ forms


def _form_messages(problems: list[FormTextProblem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        text = {
            "empty": _("Skriv ett JSON Schema."),
            "too_large": _("Texten är för lång (högst %(kb)s kB).", kb=p.detail),
            "json": _("Ogiltig JSON på rad %(line)s, kolumn %(column)s: %(detail)s", line=p.line, column=p.column,
                      detail=p.detail),
            "not_object": _("Måste vara ett JSON-objekt: {…}."),
            "schema": _("Inte ett giltigt JSON Schema vid %(path)s: %(detail)s", path=p.path, detail=p.detail),
            "type": _("Formuläret måste beskriva ett objekt: \"type\": \"object\"."),
            "reserved": _("Fältnamnen %(names)s är reserverade för skript (eller börjar med _); byt namn på dem.",
                          names=p.detail),
            "property": _("Fältet ”%(name)s” måste beskrivas med ett objekt, till exempel {\"type\": \"string\"}.",
                          name=p.detail),
            "pattern": _("Mönstret vid %(path)s kan inte kontrolleras säkert (RE2, linjär tid): %(detail)s. "
                         "Bakåtreferenser och lookahead/lookbehind stöds inte.", path=p.path, detail=p.detail),
        }[p.code]
        out.setdefault(p.field, []).append(text)
    return out


def _preview(form_key: str, schema: dict[str, Any] | None, ui: dict[str, Any] | None) -> Form | None:
    """The form as users will see it, built by the task page's renderer; None if it cannot be shown."""
    if schema is None:
        return None
    try:
        return spec_for(form_key, {"schema": schema, "ui": ui or {}}).build({})
    except (AttributeError, KeyError, TypeError, ValueError, IndexError):
        return None


def _draft_form(key: str, form_key: str, actor: Any) -> tuple[design.DraftView, dict[str, Any]]:
    """The draft's form, or an empty one under a safe new name (a user task may name a form not written yet)."""
    draft = design.get_draft(_ctx(), key, actor)
    if form_key in draft.forms:
        return draft, draft.forms[form_key]
    if form_design.valid_form_key(form_key):
        try:  # a form shipped in forms/ but not yet in this process starts from the shipped text
            return draft, processes.load_forms(Path(_ctx().settings.forms_dir), {form_key})[form_key]
        except InvalidInput:
            return draft, {"schema": dict(form_design.NEW_FORM), "ui": {}}
    raise NotFound(f"the draft of '{key}' has no form '{form_key}'")


def _render_form(key: str, form_key: str, draft: design.DraftView, schema_text: str, ui_text: str, *,
                 version: int, errors: dict[str, list[str]] | None = None, status: int = 200,
                 conflict: str | None = None, overwrite_version: int | None = None, is_new: bool = False,
                 preview: Form | None = None) -> tuple[str, int]:
    return render_template("design_form.html", key=key, form_key=form_key, draft=draft, schema_text=schema_text,
                           ui_text=ui_text, version=version, errors=errors or {}, conflict=conflict,
                           overwrite_version=overwrite_version, is_new=is_new, preview=preview,
                           forms=sorted(draft.forms)), status


@bp.get("/design/<key>/forms/<form_key>")
@login_required
def form(key: str, form_key: str) -> tuple[str, int]:
    actor = require_login_actor()
    draft, found = _draft_form(key, form_key, actor)
    is_new = form_key not in draft.forms
    return _render_form(key, form_key, draft, form_design.pretty(found["schema"]), form_design.pretty(found["ui"]),
                        version=draft.version, is_new=is_new,
                        preview=_preview(form_key, found["schema"], found["ui"]))


@bp.post("/design/<key>/forms/<form_key>")
@login_required
def form_post(key: str, form_key: str) -> Any:
    actor = require_login_actor()
    draft, _found = _draft_form(key, form_key, actor)
    is_new = form_key not in draft.forms
    schema_text = request.form.get("schema", "")
    ui_text = request.form.get("ui", "")
    expected = _expected_version()
    schema, ui, problems = form_design.read_form_texts(schema_text, ui_text)
    errors = _form_messages(problems)
    preview = _preview(form_key, schema, ui) if not problems else None
    if problems or request.form.get("_action") == "preview":
        return _render_form(key, form_key, draft, schema_text, ui_text, version=expected, errors=errors,
                            status=422 if problems else 200, is_new=is_new, preview=preview)
    assert schema is not None and ui is not None
    try:
        saved = design.save_draft_form(_ctx(), key, form_key, schema, ui, actor, expected)
    except design.DraftConflict as err:
        return _render_form(key, form_key, draft, schema_text, ui_text, version=expected, status=409,
                            conflict=_conflict_message(err), overwrite_version=err.current_version or None,
                            is_new=is_new, preview=preview)
    except InvalidInput as err:
        return _render_form(key, form_key, draft, schema_text, ui_text, version=expected, status=422,
                            errors={"schema": [err.message]}, is_new=is_new, preview=preview)
    flash(_("Formuläret %(key)s är sparat i utkastet (version %(version)s).", key=form_key, version=saved.version))
    return redirect(url_for("design_tables.form", key=key, form_key=form_key))


@bp.post("/design/<key>/forms/<form_key>/preview")
@login_required
def form_preview(key: str, form_key: str) -> tuple[str, int]:
    """The preview region alone, for the editor's script: the same HTML the page shows after Förhandsgranska."""
    actor = require_login_actor()
    _draft_form(key, form_key, actor)
    schema, ui, problems = form_design.read_form_texts(request.form.get("schema", ""), request.form.get("ui", ""))
    preview = _preview(form_key, schema, ui) if not problems else None
    return render_template("_design_form_preview.html", preview=preview, errors=_form_messages(problems)), \
        (422 if problems else 200)


@bp.get("/design/<key>/forms/new")
@login_required
def new_form(key: str) -> tuple[str, int]:
    actor = require_login_actor()
    draft = design.get_draft(_ctx(), key, actor)
    return render_template("design_form_new.html", key=key, draft=draft, form_key="", error=None), 200


@bp.post("/design/<key>/forms/new")
@login_required
def new_form_post(key: str) -> Any:
    actor = require_login_actor()
    draft = design.get_draft(_ctx(), key, actor)
    form_key = (request.form.get("form_key") or "").strip()
    error = None
    if not form_design.valid_form_key(form_key):
        error = _("Använd bokstäverna a–z, siffror, - och _ (högst 100 tecken, inte en siffra först).")
    elif form_key in draft.forms:
        error = _("Det finns redan ett formulär som heter %(key)s i utkastet.", key=form_key)
    if error:
        return render_template("design_form_new.html", key=key, draft=draft, form_key=form_key, error=error), 422
    return redirect(url_for("design_tables.form", key=key, form_key=form_key))
