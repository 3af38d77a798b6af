"""Publishing a case on the city's public showcase: the innovation lead's use cases (issue 18).

The public sees only what a lead wrote for it — a public title, a plain-language summary,
the Agenda 2030 goals, the responsible unit and the unit's contact address, optionally a
picture — and the case's live stage and status in plain words. Nothing of the case's data,
its owner or its people is copied over by these functions: suggestions offered on the form
(queries/showcase.py) come from unmarked fields only, and the lead edits them.

A contact address that is a person's (it is the e-mail of an account) is taken only when
that person has given their consent on their own consent page, and withdrawing the consent
takes the address off every publication at once. Publishing, every change to a published
text and unpublishing are written into the case's history.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import ContactConsent, Publication, PublicationGoal, UserAccount
from iphs_flow.store.unit_of_work import Transaction

from .agenda_goals import goal_numbers
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, INNOVATION_LEAD, Actor
from .showcase_image import clean_image
from .visibility import visible_case

DRAFT, PUBLISHED, UNPUBLISHED = "draft", "published", "unpublished"
LIMITS = {"title": 200, "summary": 4000, "unit": 300, "contact_email": 300, "image_alt": 300, "reason": 2000}
EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class PublicationInput:
    """What the lead typed into the publish form."""

    title: str
    summary: str
    goals: tuple[int, ...]
    unit: str
    contact_email: str
    image_alt: str = ""


@dataclass(frozen=True)
class PublicationView:
    id: int
    case_id: int
    state: str
    title: str
    summary: str
    goals: tuple[int, ...]
    unit: str
    contact_email: str | None
    has_image: bool
    image_alt: str | None
    image_hash: str | None
    version: int
    published_by: str | None
    published_at: datetime | None
    unpublished_by: str | None
    unpublished_at: datetime | None
    unpublish_reason: str | None
    updated_by: str
    updated_at: datetime
    public_changed_at: datetime


@dataclass(frozen=True)
class ConsentView:
    username: str
    email: str | None  # the account's address now
    consented_email: str | None  # the address consented to, while the consent stands
    given_at: datetime | None


def publication_view(row: Publication) -> PublicationView:
    return PublicationView(
        row.id, row.case_id, row.state, row.title, row.summary, tuple(int(g) for g in row.goals or ()),
        row.unit, row.contact_email, row.image_hash is not None, row.image_alt, row.image_hash, row.version,
        row.published_by, row.published_at, row.unpublished_by, row.unpublished_at, row.unpublish_reason,
        row.updated_by, row.updated_at, row.public_changed_at)


def may_publish(actor: Actor) -> bool:
    return actor.has(INNOVATION_LEAD) or actor.has(ADMINISTRATOR)


def require_publisher(actor: Actor) -> None:
    if not may_publish(actor):
        raise Forbidden("only innovation leads and administrators publish cases (needs the role innovation_lead)")


def _publisher_case(tx: Transaction, case_ref: str | int, actor: Actor):  # noqa: ANN202
    """The case, NotFound for one the actor may not see (alike a missing one), Forbidden for non-leads."""
    case = visible_case(tx, case_ref, actor)
    require_publisher(actor)
    return case


def _check(values: PublicationInput, forms_dir: object) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name in ("title", "summary", "unit", "contact_email"):
        text = getattr(values, name)
        if not text.strip():
            problems.setdefault(name, []).append("required")
        elif len(text) > LIMITS[name]:
            problems.setdefault(name, []).append(f"at most {LIMITS[name]} characters")
    if len(values.image_alt) > LIMITS["image_alt"]:
        problems.setdefault("image_alt", []).append(f"at most {LIMITS['image_alt']} characters")
    email = values.contact_email.strip()
    if email and not EMAIL.match(email):
        problems.setdefault("contact_email", []).append("not an e-mail address")
    known = goal_numbers(forms_dir)  # type: ignore[arg-type]
    unknown = [g for g in values.goals if g not in known]
    if unknown:
        problems.setdefault("goals", []).append("unknown goal")
    if len(set(values.goals)) != len(values.goals):
        problems.setdefault("goals", []).append("a goal is chosen twice")
    return problems


def _person_without_consent(tx: Transaction, email: str) -> bool:
    """True when the address is a person's (an account's e-mail) and that person has not agreed."""
    address = email.strip().lower()
    owners = tx.session.scalars(select(UserAccount.username).where(func.lower(UserAccount.email) == address)).all()
    if not owners:
        return False
    agreed = set(tx.session.scalars(
        select(ContactConsent.username).where(ContactConsent.username.in_(owners),
                                              ContactConsent.withdrawn_at.is_(None),
                                              func.lower(ContactConsent.email) == address)).all())
    return any(owner not in agreed for owner in owners)


def _event_data(row: Publication) -> dict[str, object]:
    return {"publication": row.id, "title": row.title, "summary": row.summary, "goals": list(row.goals or []),
            "unit": row.unit, "contact_email": row.contact_email, "image": row.image_hash,
            "image_alt": row.image_alt}


def save_publication(ctx: AppContext, case_ref: str | int, values: PublicationInput, actor: Actor, *,
                     publish: bool, expected_version: int | None, image: bytes | None = None,
                     remove_image: bool = False) -> PublicationView:
    """Save the lead's texts: as a draft, or published (a published one's changes go live at once).

    `expected_version` is the version the form was opened on (None for a new record); a form
    opened before someone else saved is refused (Conflict), as is a double first save.
    """
    values = PublicationInput(values.title.strip(), values.summary.strip(), tuple(values.goals),
                              values.unit.strip(), values.contact_email.strip(), values.image_alt.strip())
    with ctx.uow.write() as tx:
        case = _publisher_case(tx, case_ref, actor)
        problems = _check(values, ctx.settings.forms_dir)
        if values.contact_email and "contact_email" not in problems and _person_without_consent(
                tx, values.contact_email):
            problems["contact_email"] = ["the address is a person's, who has not agreed to be shown as contact"]
        cleaned = None
        if image:
            try:
                cleaned = clean_image(image)
            except InvalidInput as err:
                problems.update(err.fields)
        row = tx.session.scalar(select(Publication).where(Publication.case_id == case.id))
        will_have_image = cleaned is not None or (row is not None and row.image_hash is not None and not remove_image)
        if will_have_image and not values.image_alt:
            problems.setdefault("image_alt", []).append("required for a picture")
        if problems:
            raise InvalidInput("the publication has errors", problems)
        if row is None and expected_version is not None or (row is not None and row.version != expected_version):
            raise Conflict("the publication was changed by someone else meanwhile; reload and try again")
        at = now()
        was = row.state if row is not None else None
        if row is None:
            row = Publication(case_id=case.id, state=DRAFT, created_by=actor.username, created_at=at,
                              title="", summary="", goals=[], unit="", updated_by=actor.username, updated_at=at,
                              public_changed_at=at)
            tx.session.add(row)
        row.title, row.summary, row.unit = values.title, values.summary, values.unit
        row.goals = sorted(values.goals)
        row.contact_email = values.contact_email or None
        if cleaned is not None:
            row.image, row.image_type, row.image_hash = cleaned.data, cleaned.media_type, cleaned.sha256
        elif remove_image:
            row.image, row.image_type, row.image_hash = None, None, None
        row.image_alt = values.image_alt if (cleaned is not None or row.image_hash) else None
        row.updated_by, row.updated_at = actor.username, at
        if publish and was != PUBLISHED:
            row.state, row.published_by, row.published_at = PUBLISHED, actor.username, at
            row.unpublished_by = row.unpublished_at = row.unpublish_reason = None
            kind = "publication_published"
        elif was == PUBLISHED:
            kind = "publication_updated"
        else:
            kind = "publication_draft_saved"
        if row.state == PUBLISHED:
            row.public_changed_at = at
        try:
            tx.flush()
        except IntegrityError:
            raise Conflict("the publication was saved by someone else meanwhile; reload and try again") from None
        tx.session.execute(delete(PublicationGoal).where(PublicationGoal.publication_id == row.id))
        if row.goals:
            tx.session.add_all([PublicationGoal(publication_id=row.id, goal=g) for g in row.goals])
        tx.events.add(case.id, actor.username, kind, data=_event_data(row), at=at)
        tx.flush()
        view = publication_view(row)
        tx.commit()
    return view


def unpublish(ctx: AppContext, case_ref: str | int, reason: str, actor: Actor, *,
              expected_version: int | None) -> PublicationView:
    """Take a case off the public pages at once; the reason is required and kept."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a reason is required to unpublish", {"reason": ["required"]})
    if len(reason) > LIMITS["reason"]:
        raise InvalidInput("the reason is too long", {"reason": [f"at most {LIMITS['reason']} characters"]})
    with ctx.uow.write() as tx:
        case = _publisher_case(tx, case_ref, actor)
        row = tx.session.scalar(select(Publication).where(Publication.case_id == case.id))
        if row is None or row.state != PUBLISHED:
            raise Conflict("the case is not published")
        if row.version != expected_version:
            raise Conflict("the publication was changed by someone else meanwhile; reload and try again")
        at = now()
        row.state, row.unpublished_by, row.unpublished_at = UNPUBLISHED, actor.username, at
        row.unpublish_reason = reason
        row.public_changed_at = at
        tx.events.add(case.id, actor.username, "publication_unpublished",
                      data={"publication": row.id, "reason": reason}, at=at)
        tx.flush()
        view = publication_view(row)
        tx.commit()
    return view


def publication_of(ctx: AppContext, case_ref: str | int, actor: Actor) -> PublicationView | None:
    """The case's publication record for its lead (None when nothing has been saved yet)."""
    with ctx.uow.read() as tx:
        case = _publisher_case(tx, case_ref, actor)
        row = tx.session.scalar(select(Publication).where(Publication.case_id == case.id))
        return publication_view(row) if row is not None else None


# ---------------------------------------------------------------- a person's consent to be a contact


def consent_of(ctx: AppContext, actor: Actor) -> ConsentView:
    with ctx.uow.read() as tx:
        return _consent(tx, actor.username)


def _consent(tx: Transaction, username: str) -> ConsentView:
    user = tx.session.scalar(select(UserAccount).where(UserAccount.username == username))
    if user is None:
        raise NotFound(f"there is no person {username}")
    row = tx.session.scalar(select(ContactConsent).where(ContactConsent.username == username))
    standing = row is not None and row.withdrawn_at is None
    return ConsentView(username, user.email, row.email if standing else None, row.given_at if standing else None)


def give_contact_consent(ctx: AppContext, actor: Actor) -> ConsentView:
    """The person agrees that their own account's e-mail address may be a unit's public contact."""
    with ctx.uow.write() as tx:
        user = tx.session.scalar(select(UserAccount).where(UserAccount.username == actor.username))
        if user is None:
            raise NotFound(f"there is no person {actor.username}")
        if not user.email:
            raise InvalidInput("you have no e-mail address on your account", {"consent": ["no e-mail address"]})
        row = tx.session.scalar(select(ContactConsent).where(ContactConsent.username == actor.username))
        if row is None:
            row = ContactConsent(username=actor.username, email=user.email)
            tx.session.add(row)
        row.email, row.given_at, row.withdrawn_at = user.email, now(), None
        tx.flush()
        view = _consent(tx, actor.username)
        tx.commit()
    return view


def withdraw_contact_consent(ctx: AppContext, actor: Actor) -> tuple[ConsentView, int]:
    """Withdraw the consent: the address leaves every publication that shows it, at once (recorded).

    Returns the consent as it now stands and how many publications lost the address.
    """
    with ctx.uow.write() as tx:
        row = tx.session.scalar(select(ContactConsent).where(ContactConsent.username == actor.username))
        if row is None or row.withdrawn_at is not None:
            raise Conflict("you have not given consent")
        at = now()
        row.withdrawn_at = at
        addresses = {row.email.lower()}
        user = tx.session.scalar(select(UserAccount).where(UserAccount.username == actor.username))
        if user is not None and user.email:
            addresses.add(user.email.lower())
        shown = tx.session.scalars(
            select(Publication).where(func.lower(Publication.contact_email).in_(addresses))).all()
        for publication in shown:
            publication.contact_email = None
            publication.updated_by, publication.updated_at = actor.username, at
            if publication.state == PUBLISHED:
                publication.public_changed_at = at
            tx.events.add(publication.case_id, actor.username, "publication_updated",
                          data={"publication": publication.id, "contact_email": None,
                                "reason": "contact consent withdrawn"}, at=at)
        tx.flush()
        view = _consent(tx, actor.username)
        tx.commit()
    return view, len(shown)
