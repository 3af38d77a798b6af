"""/api/v1/admin: incidents (cases and jobs), retrying them, suspending, resuming, terminating cases."""

from __future__ import annotations

from typing import Any

from iphs_flow.services import case_admin, jobs
from iphs_flow.services import cases as case_service
from iphs_flow.services.queries import admin as admin_queries

from .common import ID, PREFIX, ctx, make_blueprint, require_login_actor
from .schemas import CaseSchema, IncidentsSchema, JobSchema, SuspendSchema, TerminateSchema

bp = make_blueprint("api_admin", "Operations (administrators)", url_prefix=f"{PREFIX}/admin")


@bp.route("/incidents")
@bp.response(200, IncidentsSchema)
def incidents() -> Any:
    """Cases stopped by a failed step and jobs (mails, notifications) that failed all their attempts."""
    return admin_queries.incidents(ctx(), require_login_actor())


@bp.route(f"/jobs/<{ID}:job_id>/retry", methods=["POST"])
@bp.response(200, JobSchema)
def retry_job(job_id: int) -> Any:
    """Give a failed job a fresh set of attempts, due now."""
    return jobs.retry_job(ctx(), job_id, require_login_actor())


@bp.route(f"/jobs/<{ID}:job_id>/dismiss", methods=["POST"])
@bp.response(200, JobSchema)
def dismiss_job(job_id: int) -> Any:
    """Give up a failed job for good; it stays listed as dismissed."""
    return jobs.dismiss_job(ctx(), job_id, require_login_actor())


@bp.route("/cases/<path:case_ref>/retry", methods=["POST"])
@bp.response(200, CaseSchema)
def retry(case_ref: str) -> Any:
    """Run a case's failed step again, after the cause has been fixed."""
    return case_service.retry_incident(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/suspend", methods=["POST"])
@bp.arguments(SuspendSchema)
@bp.response(200, CaseSchema)
def suspend(body: dict[str, Any], case_ref: str) -> Any:
    """Stop a running case: its tasks cannot be completed and its timers wait."""
    return case_admin.suspend_case(ctx(), case_ref, require_login_actor(), body["reason"])


@bp.route("/cases/<path:case_ref>/resume", methods=["POST"])
@bp.response(200, CaseSchema)
def resume(case_ref: str) -> Any:
    """Let a suspended case run again."""
    return case_admin.resume_case(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/terminate", methods=["POST"])
@bp.arguments(TerminateSchema)
@bp.response(200, CaseSchema)
def terminate(body: dict[str, Any], case_ref: str) -> Any:
    """End a case for good; the reason is required and kept in its history."""
    lesson = {key: body[key] for key in ("lessons_worked", "lessons_not_worked", "lessons_learned") if body.get(key)}
    return case_admin.terminate_case(ctx(), case_ref, require_login_actor(), body["reason"], lesson or None)
