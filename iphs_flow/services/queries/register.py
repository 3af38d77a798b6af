"""The register (diariet): cases with their registration data and registered documents, for registrars,
and the answer to a public-records request for one case (what exists, what is secret, what may be released).

SQL on purpose: one query for the page of cases, one for their documents, one for markings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, true

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.store.tables import Case, CaseRegistration, RegisteredDocument, RegistryClass

from ..errors import Forbidden, InvalidInput
from ..permissions import ADMINISTRATOR, REGISTRAR, Actor
from ..registration import (
    DocumentView,
    RegistrationView,
    document_views,
    field_labels,
    markings_of,
    not_text,
    registration_view,
)
from ..secrecy import FIELD
from ..visibility import visible_case
from .records import records_in

PER_PAGE = 25
READERS = frozenset({REGISTRAR, ADMINISTRATOR})


def require_registrar(actor: Actor) -> None:
    if not actor.is_system and not READERS & actor.roles:
        raise Forbidden("the register is kept by registrars (needs the role registrar)")


@dataclass(frozen=True)
class RegisterQuery:
    number: str = ""
    date_from: date | None = None
    date_to: date | None = None
    classification: str = ""
    unit: str = ""
    text: str = ""
    counterpart: str = ""
    page: int = 1


def parse_query(args: dict[str, Any]) -> RegisterQuery:
    """The register's filters from a query string; bad dates and pages are 422 with the field named."""
    problems: dict[str, list[str]] = {}

    def day(name: str) -> date | None:
        value = str(args.get(name) or "").strip()
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            problems[name] = ["a date as 2026-12-01"]
            return None

    def text(name: str) -> str:
        value = " ".join(str(args.get(name) or "").split())
        if not_text(value):
            problems[name] = ["not text (a NUL character or a lone surrogate)"]
            return ""
        if len(value) > 200:
            problems[name] = ["at most 200 characters"]
        return value[:200]

    page_text = str(args.get("page") or "1").strip()
    page = int(page_text) if page_text.isascii() and page_text.isdigit() and len(page_text) < 7 else 0
    if page < 1:
        problems["page"] = ["a page number from 1"]
    query = RegisterQuery(number=text("number"), date_from=day("from"), date_to=day("to"),
                          classification=text("classification"), unit=text("unit"), text=text("q"),
                          counterpart=text("party"), page=max(page, 1))
    if query.date_from and query.date_to and query.date_from > query.date_to:
        problems["to"] = ["not before the first date"]
    if problems:
        raise InvalidInput("the register search is not valid", problems)
    return query


@dataclass(frozen=True)
class RegisterRow:
    registration: RegistrationView
    documents: list[DocumentView]


@dataclass(frozen=True)
class RegisterPage:
    query: RegisterQuery
    rows: list[RegisterRow]
    total: int
    page: int
    pages: int


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), STOCKHOLM)


def _like(column: Any, value: str) -> Any:
    return func.lower(column).contains(value.lower(), autoescape=True)


def search_register(ctx: AppContext, query: RegisterQuery, actor: Actor) -> RegisterPage:
    """The cases of the register matching every filter given, newest registration first, a page at a time."""
    require_registrar(actor)
    reg = CaseRegistration
    where: list[Any] = []
    if query.number:
        where.append(_like(Case.number, query.number))
    if query.date_from:
        where.append(or_(reg.registered_on >= query.date_from,
                         and_(reg.case_id.is_(None), Case.created_at >= _start(query.date_from))))
    if query.date_to:
        where.append(or_(reg.registered_on <= query.date_to,
                         and_(reg.case_id.is_(None), Case.created_at < _start(query.date_to + timedelta(days=1)))))
    if query.classification:
        where.append(or_(reg.classification == query.classification,
                         reg.classification.startswith(query.classification + ".", autoescape=True)))
    if query.unit:
        where.append(_like(reg.unit, query.unit))
    if query.text:
        documents = exists().where(RegisteredDocument.case_id == Case.id,
                                   _like(RegisteredDocument.description, query.text))
        where.append(or_(_like(reg.description, query.text),
                         and_(reg.description.is_(None), _like(Case.title, query.text)), documents))
    if query.counterpart:
        where.append(exists().where(RegisteredDocument.case_id == Case.id,
                                    _like(RegisteredDocument.counterpart, query.counterpart)))
    base = select(Case.id).select_from(Case).outerjoin(reg, reg.case_id == Case.id).where(and_(true(), *where))
    with ctx.uow.read() as tx:
        total = int(tx.session.scalar(select(func.count()).select_from(base.subquery())) or 0)
        pages = max(1, -(-total // PER_PAGE))
        ordered = base.order_by(func.coalesce(reg.registered_on, func.date(Case.created_at)).desc(),
                                Case.id.desc()) \
            .limit(PER_PAGE).offset((query.page - 1) * PER_PAGE)
        ids = list(tx.session.scalars(ordered))
        cases = {c.id: c for c in tx.session.scalars(select(Case).where(Case.id.in_(ids)))} if ids else {}
        docs: dict[int, list[RegisteredDocument]] = {}
        if ids:
            for row in tx.session.scalars(select(RegisteredDocument).where(RegisteredDocument.case_id.in_(ids))
                                          .order_by(RegisteredDocument.case_id, RegisteredDocument.number)):
                docs.setdefault(row.case_id, []).append(row)
        rows = [RegisterRow(registration_view(tx, cases[i]), document_views(tx, cases[i], docs.get(i, [])))
                for i in ids]
    return RegisterPage(query, rows, total, query.page, pages)


def class_names(ctx: AppContext) -> list[tuple[str, str]]:
    with ctx.uow.read() as tx:
        return [(r.code, r.name) for r in tx.session.scalars(select(RegistryClass).order_by(RegistryClass.position))]


# ---------------------------------------------------------------- a public-records request


@dataclass(frozen=True)
class RequestItem:
    """One document of the case, as the answer to a request for it lists it."""

    number: str | None  # the registered number, for registered documents
    at: datetime
    kind: str  # attachment | decision | message | form
    direction: str  # incoming | outgoing | internal
    description: str
    counterpart: str | None
    secret: list[tuple[str, str]]  # (what, provision): the parts secret under OSL
    release: str  # release | release_masked | withhold

    def as_json(self) -> dict[str, Any]:
        return {"number": self.number, "date": self.at.astimezone(STOCKHOLM).date().isoformat(), "kind": self.kind,
                "direction": self.direction, "description": self.description, "counterpart": self.counterpart,
                "secret": [{"part": what, "provision": provision} for what, provision in self.secret],
                "release": self.release}


@dataclass(frozen=True)
class RecordsRequest:
    registration: RegistrationView
    items: list[RequestItem]
    secret_fields: list[tuple[str, str]]  # (label, provision) of each marked field

    def as_json(self) -> dict[str, Any]:
        r = self.registration
        return {"case_number": r.number, "registered_on": r.registered_on.isoformat(),
                "classification": r.classification, "classification_name": r.classification_name,
                "description": r.description, "unit": r.unit,
                "secret_fields": [{"field": label, "provision": p} for label, p in self.secret_fields],
                "documents": [i.as_json() for i in self.items]}


def records_request(ctx: AppContext, case_ref: str | int, actor: Actor) -> RecordsRequest:
    """What of the case exists and what may be released: each registered document and each form
    recorded, with the parts marked secret and the provision; a document with secret fields is
    released with those parts masked, a secret attachment is withheld (a registrar's draft answer:
    the final secrecy assessment is made when the request is decided)."""
    require_registrar(actor)
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        registration = registration_view(tx, case)
        labels = field_labels(case.process_version.forms)
        marked = markings_of(tx, case.id)
        field_marks = {m.target: m.provision for m in marked if m.target_kind == FIELD}
        items: list[RequestItem] = []
        for d in document_views(tx, case):
            secret = [(d.description, d.secret)] if d.secret else []
            if d.kind == "decision" and field_marks.get("reason"):
                secret = [(labels.get("reason", "reason"), field_marks["reason"])]
            release = "withhold" if d.secret else ("release_masked" if secret else "release")
            items.append(RequestItem(d.full_number, d.registered_at, d.kind, d.direction, d.description,
                                     d.counterpart, secret, release))
        records = records_in(tx.session, case.id)
        for record in records.in_order():
            keys = [k for k in record.data if k in field_marks]
            secret = [(labels.get(k, k), field_marks[k]) for k in keys]
            name = record.gate_name if record.kind == "decision" else record.task_name  # type: ignore[union-attr]
            items.append(RequestItem(None, record.at, "decision" if record.kind == "decision" else "form",
                                     "internal", name, None, secret, "release_masked" if secret else "release"))
        secret_fields = sorted((labels.get(k, k), p) for k, p in field_marks.items())
    items.sort(key=lambda i: i.at)
    return RecordsRequest(registration, items, secret_fields)
