"""What administrators list: cases stopped by a failed step, and jobs that gave up."""

from __future__ import annotations

from dataclasses import dataclass

from iphs_flow.bootstrap import AppContext

from ..case_sync import case_view
from ..jobs import JobView, list_job_incidents
from ..permissions import ADMINISTRATOR, Actor, require_role
from ..views import CaseView
from .case_lists import MAX_PAGE


@dataclass(frozen=True)
class Incidents:
    cases: list[CaseView]
    jobs: list[JobView]


def incidents(ctx: AppContext, actor: Actor, limit: int = MAX_PAGE) -> Incidents:
    """What waits for an administrator: cases stopped by a failed step, and jobs that gave up."""
    require_role(actor, ADMINISTRATOR, "see incidents")
    with ctx.uow.read() as tx:
        rows = list(tx.cases.page(status="incident", limit=limit))
        open_tasks: dict[int, list] = {r.id: [] for r in rows}
        for task in tx.tasks.open_for_cases(list(open_tasks)):
            open_tasks[task.case_id].append(task)
        cases = [case_view(r, open_tasks[r.id]) for r in rows]
    return Incidents(cases, list_job_incidents(ctx, actor, limit))
