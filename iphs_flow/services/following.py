"""Following a case (issue 18 point 2): a colleague who is not working on a case still hears how it goes.

Anyone signed in may follow a case they may see (services/visibility.py); a case they may
not see is NotFound, like one that does not exist. Nobody follows by default — not the
owner, not the people with tasks in the case: they already get the mails of their own
tasks and decisions, and a second mail about the same event would be noise. They may
follow like anyone else.

A follower is told of three things: the case moving to a new stage, a gate decision (its
outcome in the casework's words; the reason only when it is not marked secret), and a
short update an innovation lead writes to the followers. Each is one outbox job written in
the transaction that made the change; the scheduler turns it, in one transaction, into an
in-app notification and a mail (or digest item) per follower, keyed by job and person, so
no number of workers or schedulers tells anyone twice. Who follows, whether they still
may see the case, and what is secret are read when the job runs, not when it was written:
a follower who lost sight of the case in between is not told, and a reason marked secret
in between is left out.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.dialects import postgresql, sqlite

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.engine.clock import now
from iphs_flow.engine.vocabulary import HOLD_OUTCOMES
from iphs_flow.notify.follow_words import outcome_label, stage_label
from iphs_flow.notify.render import language_of, render
from iphs_flow.store import case_facts
from iphs_flow.store.tables import (
    Case,
    CaseFollower,
    CaseUpdate,
    FollowPreference,
    GateDecision,
    Notification,
    Outbox,
    StageRecord,
    UserAccount,
)
from iphs_flow.store.unit_of_work import Transaction

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .notifications import Recipient, base_url, bounded_key, queue_mail
from .permissions import INNOVATION_LEAD, Actor, require_case_visible
from .queries.full_text import visible_cases
from .secrecy import Secrets, secrets_of_case
from .visibility import find_case, visible_case

FOLLOW_NOTICE = "follow_notice"  # the outbox job kind
CASE_MAIL_MODES = ("same", "immediate", "daily", "none")
MAX_UPDATE = 1000
LEAD_FIELD = "innovation_lead"  # the assign_lead form names the case's innovation lead
DOUBLE_SUBMIT = timedelta(minutes=2)
SECRET_TITLE = {"sv": "(titeln är sekretessmarkerad)", "en": "(the title is marked secret)"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class FollowedCase:
    case_id: int
    number: str
    title: str
    status: str
    stage: int | None
    since: datetime


@dataclass(frozen=True)
class UpdateView:
    id: int
    case_id: int
    author: str
    author_name: str
    body: str
    created_at: datetime


@dataclass(frozen=True)
class FollowState:
    """What the case page shows: whether you follow, how many do, the updates, whether you may write one."""

    case_id: int
    following: bool
    followers: int
    may_send_update: bool
    updates: tuple[UpdateView, ...]


@dataclass(frozen=True)
class FollowSettings:
    case_mail: str  # same | immediate | daily | none
    monthly_digest: bool


# ---------------------------------------------------------------- following and stopping


def _insert(tx: Transaction) -> Any:
    return postgresql.insert if tx.session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _followed(case: Case, since: datetime) -> FollowedCase:
    return FollowedCase(case.id, case.number, case.title, case.status, case.stage, since)


def follow(ctx: AppContext, case_ref: str | int, actor: Actor) -> FollowedCase:
    """Follow a case one may see; following it again changes nothing (a double click is harmless)."""
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        tx.session.execute(_insert(tx)(CaseFollower).values(case_id=case.id, username=actor.username,
                                                             created_at=now())
                           .on_conflict_do_nothing(index_elements=["case_id", "username"]))
        since = tx.session.scalar(select(CaseFollower.created_at).where(
            CaseFollower.case_id == case.id, CaseFollower.username == actor.username))
        view = _followed(case, since or now())
        tx.commit()
        return view


def unfollow(ctx: AppContext, case_ref: str | int, actor: Actor) -> bool:
    """Stop following; True if one did follow. A case one follows can be left even after losing
    sight of it (nothing about it is shown); any other case one may not see is NotFound."""
    with ctx.uow.write() as tx:
        case = find_case(tx, case_ref)
        gone = tx.session.execute(delete(CaseFollower).where(
            CaseFollower.case_id == case.id, CaseFollower.username == actor.username)).rowcount
        if not gone:
            visible_case(tx, case.id, actor)
        tx.commit()
        return bool(gone)


def list_following(ctx: AppContext, actor: Actor) -> list[FollowedCase]:
    """The cases the actor follows and may still see, most recently followed first."""
    with ctx.uow.read() as tx:
        rows = tx.session.execute(
            select(Case, CaseFollower.created_at).join(CaseFollower, CaseFollower.case_id == Case.id)
            .where(CaseFollower.username == actor.username, visible_cases(tx.session, actor))
            .order_by(CaseFollower.created_at.desc(), CaseFollower.id.desc())).all()
        return [_followed(case, since) for case, since in rows]


def _lead_of(tx: Transaction, case_id: int) -> str | None:
    """The innovation lead named for the case (the latest record holding the field), if any."""
    for data in tx.session.scalars(select(StageRecord.data).where(StageRecord.case_id == case_id)
                                   .order_by(StageRecord.id.desc())):
        value = (data or {}).get(LEAD_FIELD)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def may_send_update(tx: Transaction, actor: Actor, case: Case) -> bool:
    """Innovation leads, and the person named as the case's innovation lead."""
    return actor.has(INNOVATION_LEAD) or _lead_of(tx, case.id) == actor.username


def _author_names(tx: Transaction, usernames: set[str]) -> dict[str, str]:
    if not usernames:
        return {}
    rows = tx.session.execute(select(UserAccount.username, UserAccount.display_name)
                              .where(UserAccount.username.in_(sorted(usernames)))).all()
    return {name: shown or name for name, shown in rows}


def _updates(tx: Transaction, case_id: int) -> tuple[UpdateView, ...]:
    rows = tx.session.scalars(select(CaseUpdate).where(CaseUpdate.case_id == case_id)
                              .order_by(CaseUpdate.id.desc())).all()
    names = _author_names(tx, {r.author for r in rows})
    return tuple(UpdateView(r.id, r.case_id, r.author, names.get(r.author, r.author), r.body, r.created_at)
                 for r in rows)


def follow_state(ctx: AppContext, case_ref: str | int, actor: Actor) -> FollowState:
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        following = bool(tx.session.scalar(select(exists().where(
            CaseFollower.case_id == case.id, CaseFollower.username == actor.username))))
        count = tx.session.scalar(select(func.count()).select_from(CaseFollower)
                                  .where(CaseFollower.case_id == case.id)) or 0
        return FollowState(case.id, following, int(count), may_send_update(tx, actor, case), _updates(tx, case.id))


def list_updates(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[UpdateView]:
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        return list(_updates(tx, case.id))


# ---------------------------------------------------------------- an update to the followers


def clean_update(body: Any) -> str:
    """Plain text: line breaks kept, control characters dropped, 1 to MAX_UPDATE characters."""
    if not isinstance(body, str):
        raise InvalidInput("write the update as text", {"body": ["must be text"]})
    text = _CONTROL.sub("", body.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if not text:
        raise InvalidInput("write the update first", {"body": ["empty"]})
    if len(text) > MAX_UPDATE:
        raise InvalidInput(f"an update has at most {MAX_UPDATE} characters",
                           {"body": [f"too long: at most {MAX_UPDATE} characters"]})
    return text


def send_update(ctx: AppContext, case_ref: str | int, body: Any, actor: Actor) -> UpdateView:
    """Record a short update on the case (its page and history) and tell its followers.

    The same text by the same person on the same case within two minutes is a double
    submit (Conflict), so a reloaded form does not tell everyone twice.
    """
    text = clean_update(body)
    at = now()
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        if not may_send_update(tx, actor, case):
            raise Forbidden("only innovation leads and the case's innovation lead may write to its followers")
        recent = tx.session.scalar(select(CaseUpdate.id).where(
            CaseUpdate.case_id == case.id, CaseUpdate.author == actor.username, CaseUpdate.body == text,
            CaseUpdate.created_at >= at - DOUBLE_SUBMIT).limit(1))
        if recent is not None:
            raise Conflict("this update was just sent to the followers")
        row = CaseUpdate(case_id=case.id, author=actor.username, body=text, created_at=at)
        tx.session.add(row)
        tx.session.flush()
        tx.events.add(case.id, actor.username, "followers_updated", data={"update_id": row.id, "text": text}, at=at)
        tx.outbox.add_once(f"follow:update:{row.id}", FOLLOW_NOTICE,
                           {"event": "update", "update_id": row.id, "skip": [actor.username]},
                           case_id=case.id, due_at=at)
        view = UpdateView(row.id, case.id, actor.username,
                          _author_names(tx, {actor.username}).get(actor.username, actor.username), text, at)
        tx.commit()
        return view


# ---------------------------------------------------------------- settings


def _preference(tx: Transaction, username: str) -> FollowPreference | None:
    return tx.session.get(FollowPreference, username)


def get_settings(ctx: AppContext, actor: Actor) -> FollowSettings:
    with ctx.uow.read() as tx:
        pref = _preference(tx, actor.username)
        return FollowSettings(pref.case_mail, pref.monthly_digest) if pref else FollowSettings("same", False)


def set_settings(ctx: AppContext, actor: Actor, case_mail: Any, monthly_digest: Any) -> FollowSettings:
    """How the actor hears of followed cases, and whether they get the monthly digest (their own choice)."""
    fields: dict[str, list[str]] = {}
    if case_mail not in CASE_MAIL_MODES:
        fields["case_mail"] = [f"one of {', '.join(CASE_MAIL_MODES)}"]
    if not isinstance(monthly_digest, bool):
        fields["monthly_digest"] = ["true or false"]
    if fields:
        raise InvalidInput("unknown follow setting", fields)
    at = now()
    with ctx.uow.write() as tx:
        pref = _preference(tx, actor.username)
        if pref is None:
            pref = FollowPreference(username=actor.username, case_mail="same", monthly_digest=False, updated_at=at)
            tx.session.add(pref)
        if monthly_digest and not pref.monthly_digest:
            pref.subscribed_at = at
        pref.case_mail, pref.monthly_digest, pref.updated_at = case_mail, monthly_digest, at
        if not monthly_digest:
            pref.subscribed_at = None
        tx.users.log("follow_settings_changed", actor.username,
                     {"case_mail": case_mail, "monthly_digest": monthly_digest})
        tx.commit()
        return FollowSettings(case_mail, monthly_digest)


# ---------------------------------------------------------------- writing the notices (inside a case's transaction)


def _has_followers(tx: Transaction, case_id: int) -> bool:
    known = case_facts.known(tx.session, case_id, case_facts.FOLLOWED)
    if known is not None:  # read in this transaction already
        return known
    return bool(tx.session.scalar(select(exists().where(CaseFollower.case_id == case_id))))


def announce_stage_change(tx: Transaction, case: Case, old: int | None, new: int | None, actor: str,
                          at: datetime) -> None:
    """The case moved from stage `old` to `new`: a notice job when anyone follows.

    The history row of the move (`stage_entered`) is written by case_sync.apply_step, for
    the portfolio and the digest too.
    """
    if old is None or new is None or old == new:
        return
    if _has_followers(tx, case.id):
        tx.outbox.add_once(f"follow:stage:{case.id}:{uuid.uuid4().hex}", FOLLOW_NOTICE,
                           {"event": "stage", "from": old, "to": new, "skip": [actor]}, case_id=case.id, due_at=at)


def announce_decision(tx: Transaction, case: Case, decision: GateDecision) -> None:
    """A gate decision was recorded: a notice job when anyone follows (the row is read again when it runs)."""
    if _has_followers(tx, case.id):
        tx.session.flush()  # its round is counted by its INSERT (records.py): known once written
        tx.outbox.add_once(bounded_key("follow:decision", case.id, decision.gate, decision.round), FOLLOW_NOTICE,
                           {"event": "decision", "gate": decision.gate, "round": decision.round,
                            "skip": [decision.decider]}, case_id=case.id, due_at=decision.at or now())


# ---------------------------------------------------------------- running a notice job (the scheduler)


def _title(case: Case, secrets: Secrets, language: str) -> str:
    return SECRET_TITLE[language] if secrets.hides("title") else case.title


def _what(tx: Transaction, payload: dict[str, Any], case: Case, secrets: Secrets) -> tuple[str, Any] | None:
    """(template, a function of the language giving its words) for this notice; None when it is moot."""
    event = payload.get("event")
    if event == "stage":
        return "follow_stage", lambda lang: {"stage_from": stage_label(payload.get("from"), lang),
                                             "stage_to": stage_label(payload.get("to"), lang)}
    if event == "decision":
        row = tx.session.scalar(select(GateDecision).where(
            GateDecision.case_id == case.id, GateDecision.gate == payload.get("gate"),
            GateDecision.round == payload.get("round")))
        if row is None:
            return None
        reason = None if secrets.hides_reason else row.reason
        resume = row.resume_date if row.outcome in HOLD_OUTCOMES and not secrets.hides("resume_date") else None
        return "follow_decision", lambda lang: {"outcome": outcome_label(row.outcome, lang),
                                                "gate_name": row.gate_name, "reason": reason or "",
                                                "resume_date": resume or ""}
    if event == "update":
        row = tx.session.get(CaseUpdate, payload.get("update_id"))
        if row is None:
            return None
        author = _author_names(tx, {row.author}).get(row.author, row.author)
        return "follow_update", lambda lang: {"author": author, "text": row.body}
    return None


def _mode(user: UserAccount, pref: FollowPreference | None) -> str:
    choice = pref.case_mail if pref is not None else "same"
    return (user.notify_mode or "immediate") if choice == "same" else choice


def dispatch_follow_notice(tx: Transaction, job: Outbox, settings: Settings, at: datetime) -> int:
    """Tell each follower who may still see the case, in their language, in the app and by their mail
    setting; returns how many were told. Run twice, the keys make the second run add nothing."""
    case = tx.cases.get(job.case_id) if job.case_id is not None else None
    if case is None:
        return 0
    payload = job.payload or {}
    secrets = secrets_of_case(tx.session, case.id)
    what = _what(tx, payload, case, secrets)
    if what is None:
        return 0
    template, words = what
    skip = set(payload.get("skip") or ())
    names = [n for n in tx.session.scalars(select(CaseFollower.username).where(CaseFollower.case_id == case.id)
                                           .order_by(CaseFollower.id)) if n not in skip]
    if not names:
        return 0
    participants, groups = tx.tasks.participants(case.id)
    link = f"{base_url(settings)}/cases/{case.id}"
    told = 0
    for username in names:
        user = tx.users.by_username(username)
        if user is None or not user.is_active:
            continue
        reader = Actor(user.username, frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)))
        try:
            require_case_visible(reader, case.owner, participants, groups, case.id)
        except NotFound:
            continue  # lost sight of the case since following it: not told
        language = language_of(user.language)
        text = render(template, language, {"recipient_name": user.display_name or user.username,
                                           "case_number": case.number, "case_title": _title(case, secrets, language),
                                           "link": link, **words(language)})
        key = bounded_key(job.idempotency_key, username)
        tx.notifications.add_once(Notification(key=key, username=username, case_id=case.id, template=template,
                                               subject=text.subject, body=text.body, link=link, created_at=at,
                                               read_at=None))
        mode = _mode(user, _preference(tx, username))
        if mode != "none":
            person = Recipient(user.username, user.display_name or user.username, user.email, language, mode)
            queue_mail(tx, settings, person, key, text.subject, text.body, link, case.id, at)
        told += 1
    return told
