"""The process designers' pages: edit BPMN in the browser, deploy versions, move cases between them.

The modeler page (bpmn-js plus our own properties panel in static/designer.js) talks
JSON to the routes below; everything else is plain HTML forms. Every route calls the
design and versions services, which check the roles: a hidden link is a convenience,
the refusal happens below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import OWNER
from iphs_flow.engine.model_checks import Problem
from iphs_flow.engine.xml_safety import MAX_MODEL_BYTES
from iphs_flow.services import cases as case_service
from iphs_flow.services import design, versions
from iphs_flow.services.errors import Conflict, InvalidInput, NotFound, ServiceError
from iphs_flow.services.permissions import ADMINISTRATOR
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("designer", __name__)

NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"
_ASSETS = "bpmn-js/dist/assets/"
MODELER = {  # what the modeler page loads from node_modules (installed by `make install`)
    "bpmn-modeler.js": "bpmn-js/dist/bpmn-modeler.production.min.js",
    "diagram-js.css": _ASSETS + "diagram-js.css",
    "bpmn-js.css": _ASSETS + "bpmn-js.css",
    # the palette's icon font, as files (CSP allows fonts from this site, not data: URLs)
    "css/bpmn.css": _ASSETS + "bpmn-font/css/bpmn.css",
    **{f"font/bpmn.{ext}": f"{_ASSETS}bpmn-font/font/bpmn.{ext}" for ext in ("eot", "woff2", "woff", "ttf", "svg")},
}
CHANGES = {"added": "Tillagt", "removed": "Borttaget", "changed": "Ändrat"}


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def modeler_available() -> bool:
    return all((NODE_MODULES / path).is_file() for path in MODELER.values())


@bp.get("/design/vendor/<path:name>")
def modeler_asset(name: str) -> Any:
    if name not in MODELER:
        raise NotFound(f"there is no file {name}")
    return send_from_directory(NODE_MODULES, MODELER[name], max_age=3600)


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"element_id": problem.element_id, "file_name": problem.file_name, "line": problem.line,
            "message": problem.message, "severity": problem.severity}


def _error_json(err: ServiceError) -> tuple[Response, int]:
    body: dict[str, Any] = {"status": err.status, "detail": err.message}
    if isinstance(err, InvalidInput):
        body["fields"] = err.fields
    if isinstance(err, design.DraftInvalid):
        body["problems"] = [_problem_json(p) for p in err.problems]
    elif isinstance(err, InvalidInput) and getattr(err, "where", None) is not None:
        body["problems"] = [{"element_id": err.element_id, "file_name": err.file_name, "line": err.line,
                             "message": err.message, "severity": "error"}]
    if isinstance(err, design.DraftConflict):
        body["current_version"] = err.current_version
        body["updated_by"] = err.updated_by
    return jsonify(body), err.status


def _draft_json(view: design.DraftView) -> dict[str, Any]:
    return {"key": view.key, "version": view.version, "base_version": view.base_version,
            "updated_by": view.updated_by, "updated_at": view.updated_at.isoformat(),
            "files": view.files, "forms": view.forms, "main_file": design.main_bpmn(view)}


def _lane_roles() -> dict[str, str]:
    return {lane: (_("ärendets ägare") if group == OWNER else group)
            for lane, group in _ctx().settings.lane_groups.items() if lane != "*"}  # "*": no lane


# ------------------------------------------------------------------ start page


@bp.get("/design")
@login_required
def index() -> str:
    actor = require_login_actor()
    return render_template("designer_index.html", designs=design.list_designs(_ctx(), actor))


# ------------------------------------------------------------------ the modeler


@bp.get("/design/<key>")
@login_required
def edit(key: str) -> str:
    actor = require_login_actor()
    draft = design.get_draft(_ctx(), key, actor)
    bpmn_files = sorted(n for n in draft.files if n.lower().endswith(".bpmn"))
    chosen = request.args.get("file") or design.main_bpmn(draft)
    if chosen not in bpmn_files:
        raise NotFound(f"the draft of '{key}' has no file {chosen}")
    dmn_links = [(name, _optional_url("design_tables.dmn", key=key, name=name))
                 for name in sorted(draft.files) if name.lower().endswith(".dmn")]
    form_links = [(form_key, _optional_url("design_tables.form", key=key, form_key=form_key))
                  for form_key in sorted(draft.forms)]
    return render_template("designer_edit.html", draft=draft, file_name=chosen, bpmn_files=bpmn_files,
                           modeler=modeler_available(), lane_roles=_lane_roles(),
                           form_keys=sorted(set(draft.forms) | _shipped_forms()), dmn_links=dmn_links,
                           form_links=form_links,
                           form_url=_optional_url("design_tables.form", key=key, form_key="FORMKEY") or "")


def _optional_url(endpoint: str, **values: Any) -> str | None:
    """A link to the decision table and form editors when they are installed (web/design_tables.py)."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _shipped_forms() -> set[str]:
    folder = Path(_ctx().settings.forms_dir)
    return {p.name[:-len(".schema.json")] for p in folder.glob("*.schema.json")} if folder.is_dir() else set()


@bp.get("/design/<key>/draft.json")
@login_required
def draft_json(key: str) -> Any:
    try:
        return jsonify(_draft_json(design.get_draft(_ctx(), key, require_login_actor())))
    except ServiceError as err:
        return _error_json(err)


def _json_body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object", {"": ["not a JSON object"]})
    return body


def _expected(body: dict[str, Any]) -> int:
    value = body.get("expected_version")
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("expected_version must be a number", {"expected_version": ["not a number"]})
    return value


@bp.post("/design/<key>/draft/files/<name>")
@login_required
def save_file(key: str, name: str) -> Any:
    actor = require_login_actor()
    try:
        body = _json_body()
        content = body.get("content")
        if not isinstance(content, str):
            raise InvalidInput("content must be the XML text", {"content": ["not text"]})
        view = design.save_draft_file(_ctx(), key, name, content, actor, _expected(body))
    except ServiceError as err:
        return _error_json(err)
    return jsonify({"version": view.version, "updated_by": view.updated_by,
                    "updated_at": view.updated_at.isoformat()})


@bp.post("/design/<key>/draft/forms/<form_key>")
@login_required
def save_form(key: str, form_key: str) -> Any:
    actor = require_login_actor()
    try:
        body = _json_body()
        view = design.save_draft_form(_ctx(), key, form_key, body.get("schema"), body.get("ui") or {}, actor,
                                      _expected(body))
    except ServiceError as err:
        return _error_json(err)
    return jsonify({"version": view.version, "forms": sorted(view.forms)})


@bp.post("/design/<key>/validate")
@login_required
def validate(key: str) -> Any:
    try:
        problems = design.validate_draft(_ctx(), key, require_login_actor())
    except ServiceError as err:
        return _error_json(err)
    return jsonify({"problems": [_problem_json(p) for p in problems]})


@bp.post("/design/<key>/deploy")
@login_required
def deploy(key: str) -> Any:
    try:
        outcomes = design.deploy_draft(_ctx(), key, require_login_actor())
    except ServiceError as err:
        return _error_json(err)
    return jsonify({"deployed": [{"key": o.key, "name": o.name, "version": o.version, "created": o.created,
                                  "warnings": list(o.warnings)} for o in outcomes]})


@bp.post("/design/<key>/discard")
@login_required
def discard(key: str) -> Any:
    # Throwing away a shared draft cannot be undone: it needs an explicit yes (WCAG 3.3.4).
    if request.form.get("confirm") != "yes":
        flash(_("Utkastet är kvar: kryssa i att du vill ta bort ändringarna och försök igen."), "error")
        return redirect(url_for("designer.edit", key=key) + "#discard", code=303)
    design.discard_draft(_ctx(), key, require_login_actor())
    flash(_("Utkastet för %(key)s är kastat. Nästa ändring utgår från den senaste versionen.", key=key))
    return redirect(url_for("designer.index"))


@bp.get("/design/<key>/export.bpmn")
@login_required
def export(key: str) -> Any:
    source = "deployed" if request.args.get("source") == "deployed" else "draft"
    name, text = design.export_bpmn(_ctx(), key, require_login_actor(), source)
    response = Response(text, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ------------------------------------------------------------------ import


@bp.get("/design/import")
@login_required
def import_page() -> str:
    actor = require_login_actor()
    return render_template("designer_import.html", designs=design.list_designs(_ctx(), actor), error=None,
                           max_mb=MAX_MODEL_BYTES // 1024 // 1024)


@bp.post("/design/import")
@login_required
def import_post() -> Any:
    actor = require_login_actor()
    upload = request.files.get("file")
    key = request.form.get("key") or None
    try:
        if upload is None or not upload.filename:
            raise InvalidInput(_("Välj en .bpmn- eller .dmn-fil."), {"file": ["empty"]})
        content = upload.stream.read(MAX_MODEL_BYTES + 1)
        view = design.import_file(_ctx(), Path(upload.filename).name, content, actor, key)
    except (InvalidInput, Conflict, NotFound) as err:
        return render_template("designer_import.html", designs=design.list_designs(_ctx(), actor),
                               error=err.message, max_mb=MAX_MODEL_BYTES // 1024 // 1024), err.status
    flash(_("Filen %(name)s är inläst i utkastet för %(key)s. Kontrollera och driftsätt den här.",
            name=Path(upload.filename).name, key=view.key))
    return redirect(url_for("designer.edit", key=view.key))


# ------------------------------------------------------------------ versions and migration


@bp.get("/design/<key>/versions")
@login_required
def version_list(key: str) -> str:
    actor = require_login_actor()
    listed = versions.list_versions(_ctx(), key, actor)
    numbers = [v.version for v in listed]
    new = _int_arg("new", numbers[-1])
    old = _int_arg("old", numbers[-2] if len(numbers) > 1 else numbers[-1])
    changes = versions.diff_versions(_ctx(), key, old, new, actor) if old != new else []
    return render_template("designer_versions.html", key=key, versions=listed, numbers=numbers, old=old,
                           new=new, changes=changes, change_name=lambda c: _(CHANGES.get(c, c)),
                           open_cases=design.open_cases(_ctx(), key, actor),
                           may_migrate=actor.has(ADMINISTRATOR), newest=numbers[-1])


def _int_arg(name: str, default: int) -> int:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else default


@bp.get("/design/<key>/cases/<int:case_id>/migrate")
@login_required
def migrate_preview(key: str, case_id: int) -> str:
    actor = require_login_actor()
    case = case_service.get_case(_ctx(), case_id, actor).case
    if case.process_key != key:
        raise NotFound(f"there is no case {case_id} of process {key}")
    listed = versions.list_versions(_ctx(), key, actor)
    target = _int_arg("version", listed[-1].version)
    plan = versions.preview_migration(_ctx(), case_id, actor, target)
    changes = versions.diff_versions(_ctx(), key, case.process_version, target, actor)
    return render_template("designer_migrate.html", key=key, case=case, target=target, plan=plan,
                           changes=changes, change_name=lambda c: _(CHANGES.get(c, c)))


@bp.post("/design/<key>/cases/<int:case_id>/migrate")
@login_required
def migrate(key: str, case_id: int) -> Any:
    actor = require_login_actor()
    version = request.form.get("version", "")
    if not version.isdigit():
        raise InvalidInput("choose a version", {"version": ["not a number"]})
    case = case_service.get_case(_ctx(), case_id, actor).case
    if case.process_key != key:
        raise NotFound(f"there is no case {case_id} of process {key}")
    try:
        moved = versions.migrate_case(_ctx(), case_id, actor, int(version))
    except Conflict as err:
        flash(_("Ärendet kunde inte flyttas: %(why)s", why=err.message), "error")
        return redirect(url_for("designer.migrate_preview", key=key, case_id=case_id, version=version))
    flash(_("Ärendet %(number)s kör nu version %(version)s.", number=moved.number, version=moved.process_version))
    return redirect(url_for("designer.version_list", key=key))


def init_designer(app: Any) -> None:
    """Register the designers' pages and the data the modeler page reads."""
    app.register_blueprint(bp)
