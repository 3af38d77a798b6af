"""Comments on a case: a plain conversation beside the process, visible to all who see the case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import CaseComment

from .errors import InvalidInput
from .permissions import Actor
from .visibility import visible_case

MAX_COMMENT = 4000


@dataclass(frozen=True)
class CommentView:
    id: int
    author: str
    body: str
    created_at: datetime


def add_comment(ctx: AppContext, case_ref: str | int, body: str, actor: Actor) -> CommentView:
    text = (body or "").strip()
    if not text:
        raise InvalidInput("write a comment first", {"body": ["empty"]})
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"a comment has at most {MAX_COMMENT} characters", {"body": ["too long"]})
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        row = CaseComment(case_id=case.id, author=actor.username, body=text, created_at=now())
        tx.comments.add(row)
        view = CommentView(row.id, row.author, row.body, row.created_at)
        tx.commit()
    return view


def list_comments(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[CommentView]:
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        rows = tx.comments.for_case(case.id)
        return [CommentView(r.id, r.author, r.body, r.created_at) for r in rows]
