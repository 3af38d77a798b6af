"""What API clients read about cases: pages of cases, history, gate decisions, incidents, model files.

Each function is one read transaction with the same visibility rules as the web pages:
a case the actor may not see is NotFound, exactly like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.store.tables import Case

from .case_sync import case_view
from .cases import visible_case
from .errors import Forbidden, InvalidInput, NotFound
from .jobs import JobView, list_job_incidents
from .permissions import ADMINISTRATOR, PROCESS_DESIGNER, Actor, require_role
from .queries.records import records_in
from .views import CaseView, EventView

MAX_PAGE = 200
CASE_STATUSES = ("running", "suspended", "incident", "completed", "terminated")


# ---------------------------------------------------------------- a page of cases


@dataclass(frozen=True)
class CasePage:
    items: list[CaseView]
    next_cursor: str | None


def encode_cursor(last_id: int) -> str:
    """Opaque to clients: base64 of the sort key of the last case on the page (cases go newest first)."""
    raw = json.dumps({"before": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        before = json.loads(raw)["before"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        before = None
    if not isinstance(before, int) or isinstance(before, bool) or before < 1:
        raise InvalidInput("the cursor is not one this API handed out; start again without it",
                           {"cursor": ["not a valid cursor"]})
    return before


def search_cases(ctx: AppContext, actor: Actor, *, status: str | None = None, stage: int | None = None,
                 process: str | None = None, owner: str | None = None, q: str | None = None,
                 updated_since: datetime | None = None, cursor: str | None = None,
                 limit: int = 50) -> CasePage:
    """Cases newest first, filtered in the database, one page at a time (keyset pagination).

    Idea owners list their own cases; innovation leads and administrators list everyone's
    and may filter by owner. Asking for someone else's cases without that role is refused
    rather than silently answered with one's own.
    """
    if not actor.sees_all_cases:
        if owner is not None and owner != actor.username:
            raise Forbidden("only innovation leads and administrators may list other people's cases")
        owner = actor.username
    if status is not None and status not in CASE_STATUSES:
        raise InvalidInput("unknown case status", {"status": [f"one of {', '.join(CASE_STATUSES)}"]})
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}", {"limit": [f"1 to {MAX_PAGE}"]})
    before = decode_cursor(cursor) if cursor else None
    text = (q or "").strip()[:100] or None
    with ctx.uow.read() as tx:
        rows = list(tx.cases.page(owner=owner, status=status, stage=stage, process_key=process, text=text,
                                  updated_since=updated_since, before_id=before, limit=limit + 1))
        more = len(rows) > limit
        rows = rows[:limit]
        open_tasks: dict[int, list[Any]] = {r.id: [] for r in rows}
        for task in tx.tasks.open_for_cases(list(open_tasks)):
            open_tasks[task.case_id].append(task)
        items = [case_view(r, open_tasks[r.id]) for r in rows]
    return CasePage(items, encode_cursor(items[-1].id) if more and items else None)


# ---------------------------------------------------------------- history and gate decisions


def _visible_case(tx: Any, actor: Actor, case_ref: str | int) -> Case:
    case = visible_case(tx, case_ref, actor)
    return case


def case_history(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[EventView]:
    """The case's history, oldest first, without loading its workflow state."""
    with ctx.uow.read() as tx:
        case = _visible_case(tx, actor, case_ref)
        return [EventView(e.at, e.actor, e.kind, e.task_key, e.task_name, e.data) for e in tx.events.for_case(case.id)]


@dataclass(frozen=True)
class GateDecision:
    task_id: int | None
    task_key: str | None
    task_name: str | None
    stage: int | None
    outcome: str
    reason: str | None
    decided_by: str
    decided_at: datetime
    data: dict[str, Any]


def gate_decisions(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[GateDecision]:
    """Every gate decision of a case, oldest first, from its gate decision records (every round kept).

    Decisions the process took itself (no reply in 30 days puts the case on hold) are
    there too, decided by `system`.
    """
    with ctx.uow.read() as tx:
        case = _visible_case(tx, actor, case_ref)
        return [GateDecision(task_id=d.task_id, task_key=d.gate, task_name=d.gate_name, stage=d.stage,
                             outcome=d.outcome, reason=d.reason, decided_by=d.decider, decided_at=d.at,
                             data=dict(d.data))
                for d in records_in(tx.session, case.id).decisions]


# ---------------------------------------------------------------- incidents


@dataclass(frozen=True)
class Incidents:
    cases: list[CaseView]
    jobs: list[JobView]


def incidents(ctx: AppContext, actor: Actor, limit: int = MAX_PAGE) -> Incidents:
    """What waits for an administrator: cases stopped by a failed step, and jobs that gave up."""
    require_role(actor, ADMINISTRATOR, "see incidents")
    with ctx.uow.read() as tx:
        rows = list(tx.cases.page(status="incident", limit=limit))
        open_tasks: dict[int, list[Any]] = {r.id: [] for r in rows}
        for task in tx.tasks.open_for_cases(list(open_tasks)):
            open_tasks[task.case_id].append(task)
        cases = [case_view(r, open_tasks[r.id]) for r in rows]
    return Incidents(cases, list_job_incidents(ctx, actor, limit))


# ---------------------------------------------------------------- model files


@dataclass(frozen=True)
class ModelFile:
    name: str
    content: str


def version_model(ctx: AppContext, key: str, version: int, actor: Actor) -> ModelFile:
    """The BPMN file of one deployed version (process designers and administrators)."""
    if not (actor.has(PROCESS_DESIGNER) or actor.has(ADMINISTRATOR)):
        require_role(actor, PROCESS_DESIGNER, "export process models")
    with ctx.uow.read() as tx:
        row = next((v for v in tx.processes.versions(key) if v.version == version), None)
        if row is None:
            raise NotFound(f"process '{key}' has no version {version}")
        files = dict(row.files)
    bpmn = sorted(name for name in files if name.endswith(".bpmn"))
    defining = [name for name in bpmn if f'id="{key}"' in files[name]] or bpmn
    if not defining:
        raise NotFound(f"version {version} of '{key}' has no BPMN file")
    return ModelFile(defining[0], files[defining[0]])
