"""Lists of cases: the API's case search, the web's case tables, counts per stage.

Rows come from the case table's own columns, the version number and the open tasks of
the page's cases in one more query: never the workflow state or the process files
(store/repositories.py makes touching those in a list raise).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.vocabulary import StatusWords
from iphs_flow.store.tables import Case, HumanTask

from ..case_sync import case_view
from ..errors import Forbidden, InvalidInput
from ..permissions import Actor
from ..views import CaseView, TaskView
from .records import last_decisions, status_words
from .tasks import task_view

MAX_PAGE = 200
CASE_STATUSES = ("running", "suspended", "incident", "completed", "terminated")


# ---------------------------------------------------------------- a page of cases


@dataclass(frozen=True)
class CaseListPage:
    """One page of a case search, and the cursor of the next page (None on the last)."""

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
                 limit: int = 50) -> CaseListPage:
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
    return CaseListPage(items, encode_cursor(items[-1].id) if more and items else None)


# ---------------------------------------------------------------- case tables and counts


@dataclass(frozen=True)
class CaseRow:
    id: int
    number: str
    title: str
    status: str
    stage: int | None
    owner: str
    updated_at: datetime
    waiting: list[TaskView]
    status_words: StatusWords | None = None


def case_rows(ctx: AppContext, actor: Actor, *, owner: str | None = None, limit: int = 200,
              offset: int = 0) -> tuple[list[CaseRow], int]:
    """Cases as table rows (with what each waits for), without loading workflow state.

    Everyone sees their own cases; innovation leads and administrators may list all.
    """
    if not actor.sees_all_cases:
        owner = actor.username
    query = select(Case.id, Case.number, Case.title, Case.status, Case.stage, Case.owner, Case.updated_at)
    if owner is not None:
        query = query.where(Case.owner == owner)
    with ctx.uow.read() as tx:
        total = tx.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
        rows = tx.session.execute(query.order_by(Case.id.desc()).limit(max(1, min(limit, 1000)))
                                  .offset(max(0, offset))).all()
        waiting: dict[int, list[TaskView]] = {r.id: [] for r in rows}
        if rows:
            tasks = tx.session.scalars(select(HumanTask).where(HumanTask.state == "open",
                                                               HumanTask.case_id.in_(list(waiting)))
                                       .order_by(HumanTask.id)).all()
            by_id = {r.id: r for r in rows}
            for t in tasks:
                r = by_id[t.case_id]
                waiting[t.case_id].append(task_view(t, r.number, r.title))
        last = last_decisions(tx.session, [r.id for r in rows])
        out = [CaseRow(r.id, r.number, r.title, r.status, r.stage, r.owner, r.updated_at, waiting[r.id],
                       status_words(r.status, last.get(r.id), waiting[r.id]))
               for r in rows]
    return out, total


def count_cases(ctx: AppContext) -> list[tuple[str, int | None, int]]:
    """(status, stage, count) for an overview that shows no case data."""
    with ctx.uow.read() as tx:
        return tx.cases.counts()


def stage_counts(ctx: AppContext, actor: Actor) -> dict[int | None, int]:
    """Running cases per stage, counted in the database."""
    if not actor.sees_all_cases:
        raise Forbidden("only innovation leads and administrators see all cases")
    counts: dict[int | None, int] = {}
    for status, stage, n in [row for row in count_cases(ctx)]:
        if status == "running":
            counts[stage] = counts.get(stage, 0) + n
    return counts
