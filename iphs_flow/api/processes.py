"""/api/v1/processes: what is deployed, its versions and models, and deploying new ones."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from iphs_flow.services import processes as process_service
from iphs_flow.services import versions
from iphs_flow.services.errors import Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import ADMINISTRATOR, PROCESS_DESIGNER

from .common import ID, ctx, make_blueprint, require_login_actor
from .schemas import ChangeSchema, DeployOutcomeSchema, DiffQuery, ProcessSchema, VersionSchema

MAX_MODEL_BYTES = 2 * 1024 * 1024
MODEL_SUFFIXES = (".bpmn", ".dmn")

bp = make_blueprint("api_processes", "Processes: deployed models, versions, deployment")


@bp.route("/processes")
@bp.response(200, ProcessSchema(many=True))
def list_processes() -> Any:
    """Every deployed process with its newest version (what can be started)."""
    require_login_actor()
    return process_service.list_processes(ctx())


@bp.route("/processes/<string:key>")
@bp.response(200, ProcessSchema)
def get_process(key: str) -> Any:
    """One process's newest version and the forms it uses."""
    require_login_actor()
    return process_service.get_process(ctx(), key)


@bp.route("/processes/<string:key>/versions")
@bp.response(200, VersionSchema(many=True))
def list_versions(key: str) -> Any:
    """Every version of a process, with how many cases run on each (process designers, administrators)."""
    return versions.list_versions(ctx(), key, require_login_actor())


@bp.route(f"/processes/<string:key>/versions/<{ID}:version>")
@bp.response(200, VersionSchema)
def get_version(key: str, version: int) -> Any:
    """One version of a process: who deployed it when, and how many cases run on it (process designers)."""
    found = [v for v in versions.list_versions(ctx(), key, require_login_actor()) if v.version == version]
    if not found:
        raise NotFound(f"process '{key}' has no version {version}")
    return found[0]


@bp.route(f"/processes/<string:key>/versions/<{ID}:version>/bpmn")
@bp.response(200, {"type": "string"}, content_type="application/xml", description="the BPMN 2.0 XML")
def export_bpmn(key: str, version: int) -> Any:
    """The BPMN file of one version, as deployed (process designers, administrators)."""
    model = versions.version_model(ctx(), key, version, require_login_actor())
    response = Response(model.content, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{key}-v{version}.bpmn"'
    return response


@bp.route("/processes/<string:key>/diff")
@bp.arguments(DiffQuery, location="query")
@bp.response(200, ChangeSchema(many=True))
def diff(query: dict[str, Any], key: str) -> Any:
    """Elements and forms added, removed and changed between two versions (process designers)."""
    return versions.diff_versions(ctx(), key, query["from_"], query["to"], require_login_actor())


@bp.route("/processes", methods=["POST"])
@bp.response(201, DeployOutcomeSchema(many=True))
def deploy() -> Any:
    """Deploy .bpmn/.dmn files (multipart, any field names); a new version of each changed process."""
    actor = require_login_actor()
    if not (actor.has(PROCESS_DESIGNER) or actor.has(ADMINISTRATOR)):
        raise Forbidden("you may not deploy processes (needs the role process_designer or administrator)")
    files: dict[str, bytes] = {}
    fields: dict[str, list[str]] = {}
    for upload in request.files.values():
        name = (upload.filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
        if not name.lower().endswith(MODEL_SUFFIXES):
            fields.setdefault(name or "(file)", []).append("only .bpmn and .dmn files are deployed")
            continue
        content = upload.read(MAX_MODEL_BYTES + 1)
        if len(content) > MAX_MODEL_BYTES:
            fields.setdefault(name, []).append(f"larger than {MAX_MODEL_BYTES // 1024} KB")
            continue
        files[name] = content
    if fields:
        raise InvalidInput("some files cannot be deployed", fields)
    if not files:
        raise InvalidInput("send at least one .bpmn file (multipart/form-data)", {"files": ["no files"]})
    return process_service.deploy_process(ctx(), files, actor)
