"""Half-filled forms kept per task and person, so work is never lost between visits.

A draft is private to the person who saved it; it is deleted when they complete the
task, and simply left unused (and removed with the task row) when the task goes away.
"""

from __future__ import annotations

import json
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import TaskDraft

from . import json_safety
from .errors import InvalidInput
from .permissions import Actor
from .visibility import visible_task

MAX_DRAFT_BYTES = 256 * 1024


def save_draft(ctx: AppContext, task_id: int, data: dict[str, Any], actor: Actor) -> None:
    """Keep `data` for `actor` on task `task_id` (replacing an earlier draft)."""
    if not isinstance(data, dict):
        raise InvalidInput("a draft must be a JSON object", {"data": ["must be a JSON object"]})
    json_safety.check(data, "data")
    if len(json.dumps(data, ensure_ascii=False, default=str).encode()) > MAX_DRAFT_BYTES:
        raise InvalidInput("the draft is too large", {"data": ["too large"]})
    with ctx.uow.write() as tx:
        visible_task(tx, task_id, actor)
        draft = tx.drafts.get(task_id, actor.username)
        if draft is None:
            tx.drafts.add(TaskDraft(task_id=task_id, username=actor.username, data=data, saved_at=now()))
        else:
            draft.data = data
            draft.saved_at = now()
        tx.commit()


def load_draft(ctx: AppContext, task_id: int, actor: Actor) -> tuple[dict[str, Any], Any] | None:
    """(data, saved_at) of the actor's draft for the task, or None."""
    with ctx.uow.read() as tx:
        draft = tx.drafts.get(task_id, actor.username)
        return (dict(draft.data), draft.saved_at) if draft else None


def discard_draft(ctx: AppContext, task_id: int, actor: Actor) -> None:
    with ctx.uow.write() as tx:
        tx.drafts.delete(task_id, actor.username)
        tx.commit()
