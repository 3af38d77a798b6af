"""The public showcase's reads: published cases as the public sees them, and the lead's preview.

Every read here selects the publication record's own columns and, of the case, only its
stage and status (shown in plain words from engine/vocabulary.py). Nothing else of the
case — its data, owner, people, history — is selected, so it cannot reach a public page,
the feed or the open data by mistake. Only records in the state `published` are read for
the public; any other id is NotFound, exactly like one that never existed.

`stamp` is what conditional GET needs (how many, the newest change) in one aggregate
query, so an unchanged page is answered 304 before any row is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import and_, exists, func, or_, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.vocabulary import StatusWords, plain_status, stage_word
from iphs_flow.store.tables import Case, Publication, PublicationGoal, StageRecord

from ..agenda_goals import FIELD, goal_numbers
from ..errors import NotFound
from ..permissions import Actor
from ..secrecy import secrets_of_case
from ..showcase import PUBLISHED, PublicationView, publication_view, require_publisher
from ..visibility import MAX_ID, visible_case
from .records import last_decisions

PER_PAGE = 20
CLOSED = ("completed", "terminated", "cancelled")
ENDED_EARLY = ("terminated", "cancelled")
PHASES = ("testar", "infort", "avslutat")  # what the city tests, has implemented, has ended

_COLUMNS = (Publication.id, Publication.case_id, Publication.title, Publication.summary, Publication.goals,
            Publication.unit, Publication.contact_email, Publication.image_hash, Publication.image_alt,
            Publication.image_type, Publication.published_at, Publication.public_changed_at, Publication.version,
            Case.stage, Case.status)


@dataclass(frozen=True)
class Filters:
    goal: int | None = None
    stage: int | None = None
    phase: str | None = None


@dataclass(frozen=True)
class Stamp:
    count: int
    changed_at: datetime | None
    edits: int = 0  # the sum of the records' versions: every saved edit counts, whatever the clock says


@dataclass(frozen=True)
class PublicCase:
    id: int
    title: str
    summary: str
    goals: tuple[int, ...]
    unit: str
    contact_email: str | None
    image_hash: str | None
    image_alt: str | None
    image_type: str | None
    stage: int | None
    stage_word: str | None  # Swedish message id
    status: StatusWords
    phase: str
    published_at: datetime | None
    changed_at: datetime
    edits: int = 0  # the record's version


@dataclass(frozen=True)
class PublicPage:
    items: list[PublicCase]
    total: int
    page: int
    pages: int
    stamp: Stamp


def phase_of(stage: int | None, status: str) -> str:
    if status in ENDED_EARLY:
        return "avslutat"
    if stage is not None and stage >= 5:
        return "infort"
    return "avslutat" if status in CLOSED else "testar"


def _phase_clause(phase: str) -> Any:
    if phase == "infort":
        return and_(Case.stage >= 5, Case.status.not_in(ENDED_EARLY))
    if phase == "avslutat":
        return or_(Case.status.in_(ENDED_EARLY),
                   and_(Case.status.in_(CLOSED), or_(Case.stage.is_(None), Case.stage < 5)))
    return and_(Case.status.not_in(CLOSED), or_(Case.stage.is_(None), Case.stage < 5))


def _where(filters: Filters) -> list[Any]:
    clauses: list[Any] = [Publication.state == PUBLISHED]
    if filters.goal is not None:
        clauses.append(exists().where(PublicationGoal.publication_id == Publication.id,
                                      PublicationGoal.goal == filters.goal))
    if filters.stage is not None:
        clauses.append(Case.stage == filters.stage)
    if filters.phase in PHASES:
        clauses.append(_phase_clause(filters.phase))
    return clauses


def public_status(status: str, last_outcome: str | None, resume_date: str | None) -> StatusWords:
    """Where the case stands, in the words its owner reads, without the internal states (errors, pauses)."""
    if status in ("incident", "suspended"):
        status = "running"
    return plain_status(status, last_outcome, resume_date, (), has_open_tasks=False)


def _public(row: Any, decisions: dict[int, Any]) -> PublicCase:
    last = decisions.get(row.case_id)
    return PublicCase(
        row.id, row.title, row.summary, tuple(int(g) for g in row.goals or ()), row.unit, row.contact_email,
        row.image_hash, row.image_alt if row.image_hash else None, row.image_type, row.stage, stage_word(row.stage),
        public_status(row.status, last.outcome if last else None, last.resume_date if last else None),
        phase_of(row.stage, row.status), row.published_at, row.public_changed_at, row.version)


def _read(session: Any, statement: Any) -> list[PublicCase]:
    rows = session.execute(statement).all()
    decisions = last_decisions(session, [r.case_id for r in rows])
    return [_public(r, decisions) for r in rows]


def stamp(ctx: AppContext, filters: Filters = Filters()) -> Stamp:
    """How many published cases match and when the newest of them last changed for the public."""
    with ctx.uow.read() as tx:
        count, changed, edits = tx.session.execute(
            select(func.count(Publication.id), func.max(Publication.public_changed_at), func.sum(Publication.version))
            .join(Case, Case.id == Publication.case_id).where(*_where(filters))).one()
    if isinstance(changed, str):  # SQLite hands back an aggregate's datetime as text
        changed = datetime.fromisoformat(changed)
    if changed is not None and changed.tzinfo is None:
        changed = changed.replace(tzinfo=timezone.utc)
    return Stamp(int(count or 0), changed, int(edits or 0))


def public_list(ctx: AppContext, filters: Filters = Filters(), page: int = 1, per_page: int = PER_PAGE,
                known: Stamp | None = None) -> PublicPage:
    """One page of published cases, newest change first."""
    found = known or stamp(ctx, filters)
    pages = max(1, -(-found.count // per_page))
    page = min(max(1, page), pages)
    with ctx.uow.read() as tx:
        items = _read(tx.session, select(*_COLUMNS).join(Case, Case.id == Publication.case_id)
                      .where(*_where(filters))
                      .order_by(Publication.public_changed_at.desc(), Publication.id.desc())
                      .limit(per_page).offset((page - 1) * per_page))
    return PublicPage(items, found.count, page, pages, found)


def all_published(ctx: AppContext) -> list[PublicCase]:
    """Every published case (the open data), oldest publication first so the files read stably."""
    with ctx.uow.read() as tx:
        return _read(tx.session, select(*_COLUMNS).join(Case, Case.id == Publication.case_id)
                     .where(Publication.state == PUBLISHED).order_by(Publication.id))


def public_case(ctx: AppContext, publication_id: int) -> PublicCase:
    """One published case; NotFound for a draft, an unpublished one and an id that never existed."""
    if not 0 < publication_id <= MAX_ID:
        raise NotFound(f"there is no published case {publication_id}")
    with ctx.uow.read() as tx:
        found = _read(tx.session, select(*_COLUMNS).join(Case, Case.id == Publication.case_id)
                      .where(Publication.id == publication_id, Publication.state == PUBLISHED))
    if not found:
        raise NotFound(f"there is no published case {publication_id}")
    return found[0]


def public_image(ctx: AppContext, publication_id: int) -> tuple[bytes, str, str]:
    """The re-encoded picture of a published case: bytes, media type, hash."""
    if not 0 < publication_id <= MAX_ID:
        raise NotFound("no picture")
    with ctx.uow.read() as tx:
        row = tx.session.execute(select(Publication.image, Publication.image_type, Publication.image_hash)
                                 .where(Publication.id == publication_id, Publication.state == PUBLISHED)).first()
    if row is None or row.image is None:
        raise NotFound("no picture")
    return bytes(row.image), str(row.image_type), str(row.image_hash)


def preview(ctx: AppContext, case_ref: str | int, actor: Actor) -> PublicCase:
    """The lead's saved record exactly as the public page will show it, whatever its state."""
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        require_publisher(actor)
        found = _read(tx.session, select(*_COLUMNS).join(Case, Case.id == Publication.case_id)
                      .where(Publication.case_id == case.id))
    if not found:
        raise NotFound("nothing is saved for the public yet")
    return found[0]


def preview_image(ctx: AppContext, case_ref: str | int, actor: Actor) -> tuple[bytes, str, str]:
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        require_publisher(actor)
        row = tx.session.execute(select(Publication.image, Publication.image_type, Publication.image_hash)
                                 .where(Publication.case_id == case.id)).first()
    if row is None or row.image is None:
        raise NotFound("no picture")
    return bytes(row.image), str(row.image_type), str(row.image_hash)


@dataclass(frozen=True)
class PublishForm:
    """What the publish form needs: the case's number and internal title for the lead, the record or suggestions."""

    case_id: int
    number: str
    internal_title: str
    record: PublicationView | None
    suggested_title: str
    suggested_goals: tuple[int, ...]
    stage_word: str | None


def publish_form(ctx: AppContext, case_ref: str | int, actor: Actor) -> PublishForm:
    """The lead's form. Suggestions come from the case's title and the need form's goals, never from a
    field marked secret (services/secrecy.py); the lead edits them before anything is public."""

    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        require_publisher(actor)
        row = tx.session.scalar(select(Publication).where(Publication.case_id == case.id))
        secrets = secrets_of_case(tx.session, case.id)
        title = "" if secrets.hides("title") else case.title
        goals: tuple[int, ...] = ()
        if not secrets.hides(FIELD):
            known = goal_numbers(ctx.settings.forms_dir)
            for data in tx.session.scalars(select(StageRecord.data).where(StageRecord.case_id == case.id)
                                           .order_by(StageRecord.id.desc())):
                value = (data or {}).get(FIELD)
                if isinstance(value, list) and value:
                    goals = tuple(g for g in value if isinstance(g, int) and g in known)
                    break
        return PublishForm(case.id, case.number, case.title, publication_view(row) if row is not None else None,
                           title, goals, stage_word(case.stage))
