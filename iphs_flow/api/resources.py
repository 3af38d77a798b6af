"""The /api/v1 endpoints: sessions, cases, tasks and their assignment, deployment, incidents."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from flask_wtf.csrf import generate_csrf

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import assignment
from iphs_flow.services import cases as case_service
from iphs_flow.services import processes as process_service
from iphs_flow.services.errors import Forbidden, InvalidInput, ServiceError
from iphs_flow.services.permissions import ADMINISTRATOR, PROCESS_DESIGNER
from iphs_flow.web.auth import _ctx, _unauthenticated, current_actor, current_user, require_login_actor

from . import PREFIX, service_problem
from .schemas import (
    AssignSchema,
    CaseDetailSchema,
    CaseSchema,
    CompleteTaskSchema,
    DelegateSchema,
    DeployOutcomeSchema,
    SessionSchema,
    StartCaseSchema,
    TaskListQuery,
    TaskSchema,
)

MAX_MODEL_BYTES = 2 * 1024 * 1024
MODEL_SUFFIXES = (".bpmn", ".dmn")

session_bp = Blueprint("api_session", __name__, url_prefix=PREFIX, description="Who is signed in")
cases_bp = Blueprint("api_cases", __name__, url_prefix=PREFIX, description="Cases")
tasks_bp = Blueprint("api_tasks", __name__, url_prefix=PREFIX, description="Tasks and their assignment")
processes_bp = Blueprint("api_processes", __name__, url_prefix=PREFIX, description="Process deployment")
admin_bp = Blueprint("api_admin", __name__, url_prefix=f"{PREFIX}/admin", description="Operations")


def blueprints() -> list[Blueprint]:
    return [session_bp, cases_bp, tasks_bp, processes_bp, admin_bp]


def _signed_in_only() -> Any:
    if current_actor() is None:
        return _unauthenticated()
    return None


for _bp in blueprints():
    _bp.before_request(_signed_in_only)
    _bp.register_error_handler(ServiceError, service_problem)


def ctx() -> AppContext:
    return _ctx()


@session_bp.route("/session")
@session_bp.response(200, SessionSchema)
def whoami() -> dict[str, Any]:
    """The signed-in person, with the CSRF token that cookie-authenticated writes must send."""
    user = current_user()
    assert user is not None
    return {"username": user.actor.username, "display_name": user.display_name,
            "roles": sorted(user.actor.roles), "groups": sorted(user.actor.groups), "csrf_token": generate_csrf()}


@cases_bp.route("/cases", methods=["POST"])
@cases_bp.arguments(StartCaseSchema)
@cases_bp.response(201, CaseSchema)
def start_case(body: dict[str, Any]) -> Any:
    """Start a case of the newest version of a process (any idea owner)."""
    return case_service.start_case(ctx(), body["process"], body["data"], require_login_actor(), title=body["title"])


@cases_bp.route("/cases")
@cases_bp.response(200, CaseSchema(many=True))
def list_cases() -> Any:
    """Your own cases; every case for innovation leads and administrators."""
    return case_service.list_cases(ctx(), require_login_actor(), status=request.args.get("status") or None)


@cases_bp.route("/cases/<path:case_ref>")
@cases_bp.response(200, CaseDetailSchema)
def get_case(case_ref: str) -> Any:
    """One case with data and history; 404 for a case you may not see, exactly as for one that does not exist."""
    return case_service.get_case(ctx(), case_ref, require_login_actor())


@tasks_bp.route("/tasks")
@tasks_bp.arguments(TaskListQuery, location="query")
@tasks_bp.response(200, TaskSchema(many=True))
def my_tasks(query: dict[str, Any]) -> Any:
    """Your inbox: tasks assigned to you and your groups' unclaimed tasks."""
    return case_service.list_tasks(ctx(), require_login_actor(), query["case"], everyone=query["everyone"])


@tasks_bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@tasks_bp.response(200, TaskSchema)
def claim(task_id: int) -> Any:
    return assignment.claim_task(ctx(), task_id, require_login_actor())


@tasks_bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@tasks_bp.response(200, TaskSchema)
def unclaim(task_id: int) -> Any:
    return assignment.unclaim_task(ctx(), task_id, require_login_actor())


@tasks_bp.route("/tasks/<int:task_id>/assign", methods=["POST"])
@tasks_bp.arguments(AssignSchema)
@tasks_bp.response(200, TaskSchema)
def assign(body: dict[str, Any], task_id: int) -> Any:
    return assignment.assign_task(ctx(), task_id, body["to"], require_login_actor(), rescope=body["rescope"])


@tasks_bp.route("/tasks/<int:task_id>/delegate", methods=["POST"])
@tasks_bp.arguments(DelegateSchema)
@tasks_bp.response(200, TaskSchema)
def delegate(body: dict[str, Any], task_id: int) -> Any:
    return assignment.delegate_task(ctx(), task_id, body["to"], require_login_actor())


@tasks_bp.route("/tasks/<int:task_id>/complete", methods=["POST"])
@tasks_bp.arguments(CompleteTaskSchema)
@tasks_bp.response(200, CaseSchema)
def complete(body: dict[str, Any], task_id: int) -> Any:
    """Complete a task with its form data (a gate decision is such a task)."""
    return case_service.complete_task(ctx(), task_id, body["data"], require_login_actor(), body["version"])


@processes_bp.route("/processes", methods=["POST"])
@processes_bp.response(201, DeployOutcomeSchema(many=True))
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


@admin_bp.route("/cases/<path:case_ref>/retry", methods=["POST"])
@admin_bp.response(200, CaseSchema)
def retry(case_ref: str) -> Any:
    """Run a case's failed step again (administrators)."""
    return case_service.retry_incident(ctx(), case_ref, require_login_actor())
