"""Mark a case a duplicate of another: recorded in both cases' history, so both pages link each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from iphs_flow.bootstrap import AppContext
from iphs_flow.store.tables import Case, CaseEvent, HumanTask

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .permissions import Actor, may_work_on
from .visibility import require_visible, visible_case

MARKED = "marked_duplicate"  # on the duplicate: {"of_case_id", "of_number", "reason"}
LINKED = "duplicate_linked"  # on the original: {"case_id", "number", "reason"}
MAX_REASON = 2000


@dataclass(frozen=True)
class CaseLink:
    case_id: int
    number: str
    title: str
    status: str
    at: datetime
    by: str
    reason: str


@dataclass(frozen=True)
class DuplicateLinks:
    duplicate_of: list[CaseLink]  # this case repeats these
    duplicates: list[CaseLink]  # these repeat this case


def may_mark(tx: object, case: Case, actor: Actor) -> bool:
    """Innovation leads and administrators, and whoever may decide an open gate of the case."""
    if actor.sees_all_cases:
        return True
    rows = tx.session.execute(  # type: ignore[attr-defined]
        select(HumanTask.assignee, HumanTask.candidate_group, HumanTask.form_key)
        .where(HumanTask.case_id == case.id, HumanTask.state == "open")).all()
    return any((form or "").startswith("gate_") and may_work_on(actor, assignee, group)
               for assignee, group, form in rows)


def mark_duplicate(ctx: AppContext, case_ref: str | int, original_ref: str | int, actor: Actor,
                   reason: str = "") -> DuplicateLinks:
    """Record that `case_ref` describes the same need as the earlier `original_ref`."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise InvalidInput(f"the reason may be at most {MAX_REASON} characters", {"reason": ["too long"]})
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        if not may_mark(tx, case, actor):
            raise Forbidden("only the gate's decider, innovation leads and administrators may mark duplicates")
        try:
            original = visible_case(tx, original_ref, actor)
        except NotFound:
            raise InvalidInput(f"there is no case {original_ref} that you may see",
                               {"original": ["no such case"]}) from None
        if original.id == case.id:
            raise InvalidInput("a case cannot be a duplicate of itself", {"original": ["the same case"]})
        already = tx.session.scalars(select(CaseEvent.data).where(CaseEvent.case_id == case.id,
                                                                  CaseEvent.kind == MARKED)).all()
        if any((data or {}).get("of_case_id") == original.id for data in already):
            raise Conflict(f"{case.number} is already marked a duplicate of {original.number}")
        tx.events.add(case.id, actor.username, MARKED,
                      data={"of_case_id": original.id, "of_number": original.number, "reason": reason})
        tx.events.add(original.id, actor.username, LINKED,
                      data={"case_id": case.id, "number": case.number, "reason": reason})
        tx.flush()
        links = _links(tx, case.id, actor)
        tx.commit()
    return links


def duplicate_links(ctx: AppContext, case_ref: str | int, actor: Actor) -> DuplicateLinks:
    """The cases this one is marked a duplicate of, and those marked duplicates of it, that the actor may see."""
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        return _links(tx, case.id, actor)


def _links(tx: object, case_id: int, actor: Actor) -> DuplicateLinks:
    session = tx.session  # type: ignore[attr-defined]
    events = session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id,
                                                     CaseEvent.kind.in_((MARKED, LINKED)))
                             .order_by(CaseEvent.id)).all()
    of: list[CaseLink] = []
    dups: list[CaseLink] = []
    for event in events:
        other_id = event.data.get("of_case_id") if event.kind == MARKED else event.data.get("case_id")
        other = session.get(Case, int(other_id)) if isinstance(other_id, int) else None
        if other is None:
            continue
        try:
            require_visible(tx, actor, other, other.id)
        except NotFound:
            continue  # a case the actor may not see is not named, not even as a link
        link = CaseLink(other.id, other.number, other.title, other.status, event.at, event.actor,
                        str(event.data.get("reason") or ""))
        (of if event.kind == MARKED else dups).append(link)
    return DuplicateLinks(of, dups)
