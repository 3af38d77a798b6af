"""Retention (gallring): records are weeded only by a retention decision, and only after
an administrator has approved the list of what is due.

Rules say how long each kind of document is kept (drafts, notifications, whole closed
cases of a process, narrowed by how they ended), or that it is kept for ever. An
administrator asks for the list of what is due now, reads it, and approves it (or
cancels it); the scheduler then weeds what the approved list names, each item in its own
transaction and only if it is still due. What was weeded stays recorded on the list:
the kind, the case number, the dates and the rule, never the content.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import (
    Case,
    CaseAttachment,
    Notification,
    RetentionRule,
    TaskDraft,
    WeedingItem,
    WeedingList,
)

from .errors import Conflict, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, Actor, require_role
from .queries import retention as due
from .search_index import write_documents

log = logging.getLogger(__name__)

DOCUMENT_TYPES = {"case": "Ärende (hela ärendet med handlingar)", "task_draft": "Utkast till formulär",
                  "notification": "Avisering"}
# The city's example decisions (issue 19): a starting point an administrator installs and adjusts.
DEFAULT_RULES = (
    ("task_draft", None, (), 2 * 365, "Utkast gallras efter 2 år"),
    ("notification", None, (), 2 * 365, "Aviseringar gallras efter 2 år"),
    ("case", "improvement", ("not_now", "terminated"), 5 * 365, "Förbättringsförslag som inte genomförs: 5 år"),
    ("case", "innovation", (), None, "Innovationsärenden bevaras för alltid"),
)


@dataclass(frozen=True)
class RuleView:
    id: int
    document_type: str
    process_key: str | None
    outcomes: tuple[str, ...]
    keep_days: int | None
    decision: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class ItemView:
    id: int
    document_type: str
    case_number: str | None
    description: str
    status: str
    weeded_at: datetime | None


@dataclass(frozen=True)
class ListView:
    id: int
    status: str
    created_by: str
    created_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    applied_at: datetime | None
    items: tuple[ItemView, ...]

    def count(self, status: str) -> int:
        return sum(1 for i in self.items if i.status == status)


def _rule_view(row: RetentionRule) -> RuleView:
    return RuleView(row.id, row.document_type, row.process_key, tuple(row.outcomes or ()), row.keep_days,
                    row.decision, row.created_by, row.created_at)


def _list_view(tx: Any, row: WeedingList) -> ListView:
    items = tx.session.scalars(select(WeedingItem).where(WeedingItem.list_id == row.id).order_by(WeedingItem.id))
    return ListView(row.id, row.status, row.created_by, row.created_at, row.approved_by, row.approved_at,
                    row.applied_at, tuple(ItemView(i.id, i.document_type, i.case_number, i.description, i.status,
                                                   i.weeded_at) for i in items))


def _admin(actor: Actor, action: str) -> None:
    require_role(actor, ADMINISTRATOR, action)


# ------------------------------------------------------------------ rules


def list_rules(ctx: AppContext, actor: Actor) -> list[RuleView]:
    _admin(actor, "read retention rules")
    with ctx.uow.read() as tx:
        return [_rule_view(r) for r in tx.session.scalars(select(RetentionRule).order_by(RetentionRule.id))]


def add_rule(ctx: AppContext, actor: Actor, *, document_type: str, keep_days: int | None, decision: str,
             process_key: str | None = None, outcomes: tuple[str, ...] = ()) -> RuleView:
    _admin(actor, "decide retention")
    fields: dict[str, list[str]] = {}
    if document_type not in DOCUMENT_TYPES:
        fields["document_type"] = [f"one of {', '.join(DOCUMENT_TYPES)}"]
    if keep_days is not None and not 0 <= keep_days <= 200 * 365:
        fields["keep_days"] = ["between 0 and 73000 days, or none to keep for ever"]
    if not decision.strip():
        fields["decision"] = ["name the retention decision the rule implements"]
    if document_type == "case" and not (process_key or "").strip():
        fields["process_key"] = ["a rule for whole cases names its process"]
    if fields:
        raise InvalidInput("the retention rule cannot be added", fields)
    with ctx.uow.write() as tx:
        row = RetentionRule(document_type=document_type, process_key=(process_key or "").strip() or None,
                            outcomes=[o.strip() for o in outcomes if o.strip()], keep_days=keep_days,
                            decision=decision.strip()[:300], created_by=actor.username, created_at=now())
        tx.session.add(row)
        tx.flush()
        view = _rule_view(row)
        tx.commit()
    return view


def remove_rule(ctx: AppContext, rule_id: int, actor: Actor) -> None:
    _admin(actor, "decide retention")
    with ctx.uow.write() as tx:
        row = tx.session.get(RetentionRule, rule_id)
        if row is None:
            raise NotFound(f"there is no retention rule {rule_id}")
        tx.session.delete(row)
        tx.commit()


def install_default_rules(ctx: AppContext, actor: Actor) -> list[RuleView]:
    """The example decisions, unless a rule for the same thing exists already."""
    existing = {(r.document_type, r.process_key) for r in list_rules(ctx, actor)}
    return [add_rule(ctx, actor, document_type=kind, process_key=process, outcomes=outcomes, keep_days=days,
                     decision=decision)
            for kind, process, outcomes, days, decision in DEFAULT_RULES if (kind, process) not in existing]


# ------------------------------------------------------------------ what is due


@dataclass(frozen=True)
class _Due:
    rule_id: int
    document_type: str
    ref_id: int
    case_number: str | None
    description: str


def _forever(rules: list[RetentionRule], document_type: str, process_key: str | None) -> bool:
    return any(r.keep_days is None and r.document_type == document_type and r.process_key in (None, process_key)
               for r in rules)


def _due_now(tx: Any, at: datetime) -> list[_Due]:
    rules = list(tx.session.scalars(select(RetentionRule).order_by(RetentionRule.id)))
    found: dict[tuple[str, int], _Due] = {}
    for rule in rules:
        if rule.keep_days is None:
            continue
        cutoff = at - timedelta(days=rule.keep_days)
        if rule.document_type == "task_draft":
            for draft_id, saved_at, number, process in due.due_drafts(tx.session, cutoff, rule.process_key):
                if not _forever(rules, "task_draft", process):
                    found.setdefault(("task_draft", draft_id), _Due(
                        rule.id, "task_draft", draft_id, number, f"Utkast i {number}, sparat {saved_at:%Y-%m-%d}"))
        elif rule.document_type == "notification":
            for note_id, created_at, number, process in due.due_notifications(tx.session, cutoff, rule.process_key):
                if not _forever(rules, "notification", process):
                    where = f" i {number}" if number else ""
                    found.setdefault(("notification", note_id), _Due(
                        rule.id, "notification", note_id, number, f"Avisering{where}, skapad {created_at:%Y-%m-%d}"))
        elif rule.document_type == "case":
            rows = due.closed_cases_before(tx.session, cutoff, rule.process_key)
            endings = due.last_decisions(tx.session, [r.id for r in rows])
            for case_id, number, process, status, closed_at in rows:
                ending = "terminated" if status == "terminated" else endings.get(case_id, status)
                if rule.outcomes and ending not in rule.outcomes:
                    continue
                if _forever(rules, "case", process):
                    continue
                found.setdefault(("case", case_id), _Due(
                    rule.id, "case", case_id, number,
                    f"Ärende {number} ({process}), avslutat {closed_at:%Y-%m-%d}, utfall {ending}"))
    return list(found.values())


def _open_list(tx: Any) -> WeedingList | None:
    return tx.session.scalars(select(WeedingList).where(WeedingList.status.in_(("proposed", "approved")))
                              .order_by(WeedingList.id)).first()


def propose_weeding(ctx: AppContext, actor: Actor) -> ListView:
    """The list of everything due now, for an administrator to read and approve."""
    _admin(actor, "propose weeding")
    with ctx.uow.write() as tx:
        if (open_list := _open_list(tx)) is not None:
            raise Conflict(f"weeding list {open_list.id} is {open_list.status}; approve, apply or cancel it first")
        row = WeedingList(status="proposed", created_by=actor.username, created_at=now())
        tx.session.add(row)
        tx.flush()
        for item in _due_now(tx, now()):
            tx.session.add(WeedingItem(list_id=row.id, rule_id=item.rule_id, document_type=item.document_type,
                                       ref_id=item.ref_id, case_number=item.case_number,
                                       description=item.description[:500], status="pending"))
        tx.flush()
        view = _list_view(tx, row)
        tx.commit()
    return view


def _change_list(ctx: AppContext, list_id: int, actor: Actor, expected: str, new: str) -> ListView:
    _admin(actor, "decide weeding")
    with ctx.uow.write() as tx:
        row = tx.session.get(WeedingList, list_id)
        if row is None:
            raise NotFound(f"there is no weeding list {list_id}")
        if row.status != expected:
            raise Conflict(f"weeding list {list_id} is {row.status}, not {expected}")
        row.status = new
        if new == "approved":
            row.approved_by, row.approved_at = actor.username, now()
        tx.users.log(f"weeding_{new}", actor.username, {"list": list_id})
        view = _list_view(tx, row)
        tx.commit()
    return view


def approve_weeding(ctx: AppContext, list_id: int, actor: Actor) -> ListView:
    return _change_list(ctx, list_id, actor, "proposed", "approved")


def cancel_weeding(ctx: AppContext, list_id: int, actor: Actor) -> ListView:
    return _change_list(ctx, list_id, actor, "proposed", "cancelled")


def weeding_lists(ctx: AppContext, actor: Actor, limit: int = 20) -> list[ListView]:
    _admin(actor, "read weeding lists")
    with ctx.uow.read() as tx:
        rows = tx.session.scalars(select(WeedingList).order_by(WeedingList.id.desc()).limit(limit))
        return [_list_view(tx, r) for r in rows]


# ------------------------------------------------------------------ weeding (the scheduler)


def apply_approved_weeding(ctx: AppContext) -> int:
    """Weed what approved lists name, item by item; returns how many were weeded."""
    weeded = 0
    with ctx.uow.read() as tx:
        lists = [r.id for r in tx.session.scalars(select(WeedingList).where(WeedingList.status == "approved"))]
    for list_id in lists:
        with ctx.uow.read() as tx:
            item_ids = list(tx.session.scalars(select(WeedingItem.id).where(
                WeedingItem.list_id == list_id, WeedingItem.status == "pending").order_by(WeedingItem.id)))
        for item_id in item_ids:
            try:
                weeded += _weed(ctx, item_id)
            except Exception:  # noqa: BLE001 - one item must not stop the rest; it stays pending
                log.exception("weeding item %s failed", item_id)
        with ctx.uow.write() as tx:
            row = tx.session.get(WeedingList, list_id)
            pending = tx.session.scalars(select(WeedingItem.id).where(
                WeedingItem.list_id == list_id, WeedingItem.status == "pending")).first()
            if row is not None and row.status == "approved" and pending is None:
                row.status, row.applied_at = "applied", now()
                tx.users.log("weeding_applied", "system", {"list": list_id})
            tx.commit()
    return weeded


def _weed(ctx: AppContext, item_id: int) -> int:
    files: list[str] = []
    with ctx.uow.write() as tx:
        item = tx.session.get(WeedingItem, item_id)
        if item is None or item.status != "pending":
            return 0
        still_due = {(d.document_type, d.ref_id) for d in _due_now(tx, now())}
        if (item.document_type, item.ref_id) not in still_due:
            item.status = "skipped"  # changed, reopened or covered by a newer rule since the list was made
            tx.commit()
            return 0
        if item.document_type == "task_draft":
            tx.session.execute(delete(TaskDraft).where(TaskDraft.id == item.ref_id))
        elif item.document_type == "notification":
            tx.session.execute(delete(Notification).where(Notification.id == item.ref_id))
        elif item.document_type == "case":
            files = list(tx.session.scalars(select(CaseAttachment.stored_name)
                                            .where(CaseAttachment.case_id == item.ref_id)))
            case = tx.session.get(Case, item.ref_id)
            write_documents(tx.session, item.ref_id, [])  # out of the search index, full-text rows too
            if case is not None:
                tx.session.delete(case)  # its tasks, history, comments and attachments go with it
        item.status, item.weeded_at = "weeded", now()
        tx.commit()
    for name in files:
        (ctx.settings.attachments_dir / name).unlink(missing_ok=True)
    return 1
