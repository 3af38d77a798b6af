"""/api/v1/tasks: the inbox, one task with its form, claiming, delegating and completing."""

from __future__ import annotations

from typing import Any

from iphs_flow.services import assignment
from iphs_flow.services import cases as case_service
from iphs_flow.services.queries import case_page
from iphs_flow.services.queries import tasks as task_queries

from .common import ETAG_HEADER, ID, ctx, expected_version, idempotent, make_blueprint, require_login_actor, with_etag
from .schemas import (
    AssignSchema,
    CaseSchema,
    CompleteHeaders,
    CompleteTaskSchema,
    DelegateSchema,
    TaskDetailSchema,
    TaskListQuery,
    TaskSchema,
)

bp = make_blueprint("api_tasks", "Tasks and their assignment")

CASE = CaseSchema()  # what an idempotent write stores and replays, made once


@bp.route("/tasks")
@bp.arguments(TaskListQuery, location="query")
@bp.response(200, TaskSchema(many=True))
def my_tasks(query: dict[str, Any]) -> Any:
    """Your inbox: tasks assigned to you and your groups' unclaimed tasks (`show=mine|group` for one kind)."""
    return task_queries.list_tasks(ctx(), require_login_actor(), query["case"], everyone=query["everyone"],
                                   show=query["show"])


@bp.route(f"/tasks/<{ID}:task_id>")
@bp.response(200, TaskDetailSchema, headers=ETAG_HEADER)
def get_task(task_id: int) -> Any:
    """A task with its form (JSON Schema and UI schema) and its case's version (also the ETag).

    Closed tasks are returned too, with who closed them and when; 404 for a task in a case
    you may not see.
    """
    page = case_page.task_page(ctx(), task_id, require_login_actor())
    form = page.form or {}
    body = {"task": page.task, "case": page.case, "case_version": page.case.version,
            "form_schema": form.get("schema"), "ui_schema": form.get("ui"), "data": page.case_data,
            "may_work": page.may_work, "closed_by": page.closed_by, "closed_at": page.closed_at}
    return with_etag(body, page.case.version)


@bp.route(f"/tasks/<{ID}:task_id>/claim", methods=["POST"])
@bp.response(200, TaskSchema)
def claim(task_id: int) -> Any:
    """Take an unclaimed task of one of your groups."""
    return assignment.claim_task(ctx(), task_id, require_login_actor())


@bp.route(f"/tasks/<{ID}:task_id>/unclaim", methods=["POST"])
@bp.response(200, TaskSchema)
def unclaim(task_id: int) -> Any:
    """Give a task you hold back to its group."""
    return assignment.unclaim_task(ctx(), task_id, require_login_actor())


@bp.route(f"/tasks/<{ID}:task_id>/assign", methods=["POST"])
@bp.arguments(AssignSchema)
@bp.response(200, TaskSchema)
def assign(body: dict[str, Any], task_id: int) -> Any:
    """Assign a task to someone (innovation leads)."""
    return assignment.assign_task(ctx(), task_id, body["to"], require_login_actor(), rescope=body["rescope"])


@bp.route(f"/tasks/<{ID}:task_id>/delegate", methods=["POST"])
@bp.arguments(DelegateSchema)
@bp.response(200, TaskSchema)
def delegate(body: dict[str, Any], task_id: int) -> Any:
    """Hand a task you hold to a colleague in its group."""
    return assignment.delegate_task(ctx(), task_id, body["to"], require_login_actor())


@bp.route(f"/tasks/<{ID}:task_id>/complete", methods=["POST"])
@bp.arguments(CompleteTaskSchema)
@bp.arguments(CompleteHeaders, location="headers")
@bp.response(200, CaseSchema)
def complete(body: dict[str, Any], headers: dict[str, Any], task_id: int) -> Any:
    """Complete a task with its form data (a gate decision is such a task).

    409 when the task was already completed, or when the case changed since you read it
    (If-Match with the ETag of GET /tasks/{id}, or `version` in the body). With an
    `Idempotency-Key`, a retry replays the first response instead of failing with 409.
    """
    actor = require_login_actor()
    version = expected_version(headers["if_match"], body["version"])
    return idempotent(headers["idempotency_key"], 200, CASE, lambda key: case_service.complete_task(
        ctx(), task_id, body["data"], actor, version, idempotency=key))
