"""Registration of a case as a public record (offentlighets- och sekretesslagen 5 kap.).

A case is registered: its diarienummer is the case number, with a registration date (the
day it started, changed only by a registrar and recorded), a classification from the
city's klassificeringsstruktur, a short public description and the responsible unit.
Its incoming documents (attachments) and outgoing ones (decisions and messages sent by
mail) are registered with a running number within the diarienummer ("IPHS 2026/0042:3").

Parts of a case may be secret: a lead or registrar marks a field (by its key) or an
attachment, citing an OSL provision. Who *handles the case* sees everything:

- innovation leads, administrators and registrars (they run and register every case);
- whoever holds, held or completed one of the case's tasks, and the members of the group
  an open task waits for (they decide it and must see its facts) — except the owner,
  whose own tasks do not make them a handler.

Everyone else who may see the case — its owner, the managers of its people, members of
groups that had a task they never held — gets the marked fields left out with a note of
the provision, and a marked attachment is not found for them. The owner still sees what
they themselves submitted (their own answers and uploads). `withheld_from` answers this
per person; services/secrecy.py is the plain reading for outlets that serve no handler.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.calendar import STOCKHOLM, today
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import (
    Case,
    CaseAttachment,
    CaseEvent,
    CaseRegistration,
    HumanTask,
    OslProvision,
    RegisteredDocument,
    RegistryClass,
    SecrecyMarking,
)
from iphs_flow.store.unit_of_work import Transaction

from . import search_index
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, INNOVATION_LEAD, REGISTRAR, Actor, require_role
from .secrecy import ATTACHMENT, FIELD, NOTHING_SECRET, TARGET_KINDS, Secrets, secrets_of_case
from .visibility import visible_case

HANDLER_ROLES = frozenset({INNOVATION_LEAD, ADMINISTRATOR, REGISTRAR})
EDITOR_ROLES = frozenset({INNOVATION_LEAD, REGISTRAR})
INCOMING = "incoming"
OUTGOING = "outgoing"
# Mails that leave the city with a decision or a message about the case (expedieras): registered.
OUTGOING_TEMPLATES = {"decision": "decision", "receipt": "message", "resume": "message"}
MAX_DESCRIPTION = 500
MAX_REASON = 2000
FIELD_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,199}")
UNMARKABLE = frozenset({"title", "decision"})  # the register's heading and the outcome are public


# ---------------------------------------------------------------- who handles the case


def handles_case(tx: Transaction, actor: Actor, case: Case) -> bool:
    """Whether `actor` handles `case` and so sees its secret-marked parts (module docstring)."""
    if actor.is_system or HANDLER_ROLES & actor.roles:
        return True
    if actor.username == case.owner:
        return False
    rows = tx.session.execute(select(HumanTask.assignee, HumanTask.closed_by, HumanTask.candidate_group,
                                     HumanTask.state).where(HumanTask.case_id == case.id)).all()
    for assignee, closed_by, group, state in rows:
        if actor.username in (assignee, closed_by):
            return True
        if state == "open" and assignee is None and group and group in actor.groups:
            return True
    return False


def handlers_among(tx: Transaction, case: Case, usernames: set[str]) -> set[str]:
    """Which of `usernames` handle `case` (for mails: recipients are resolved by name, not as actors)."""
    if not usernames:
        return set()
    out: set[str] = set()
    for name in usernames:
        user = tx.users.by_username(name)
        if user is None:
            continue
        actor = Actor(name, frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)))
        if handles_case(tx, actor, case):
            out.add(name)
    return out


@dataclass(frozen=True)
class Withheld:
    """What of one case is left out for one person, with the provision of each part."""

    secrets: Secrets = NOTHING_SECRET
    provisions: Mapping[str, str] = field(default_factory=dict)  # field key or "attachment:<id>" -> provision
    labels: Mapping[str, str] = field(default_factory=dict)  # field key -> label
    # The owner: what they themselves wrote (their records and events) is shown to them even where
    # the same field, written by others, is left out.
    author: str | None = None

    def hides(self, key: str) -> bool:
        return self.secrets.hides(key)

    def hides_attachment(self, attachment_id: int) -> bool:
        return self.secrets.hides_attachment(attachment_id)

    def provision(self, key: str) -> str:
        return self.provisions.get(key, "OSL")

    def label(self, key: str) -> str:
        return self.labels.get(key, key)

    def redact(self, data: Mapping[str, Any] | None, by: str | None = None) -> dict[str, Any]:
        """`data` without the marked fields; `by` is who wrote it (the owner's own writing is kept for them)."""
        data = data or {}
        if by is not None and by == self.author:
            return dict(data)
        return {k: v for k, v in data.items() if not self.secrets.hides(k)}

    def hidden_in(self, data: Mapping[str, Any] | None) -> list[str]:
        return [k for k in (data or {}) if self.secrets.hides(k)]

    def redact_event(self, kind: str, data: Mapping[str, Any] | None, by: str | None = None) -> dict[str, Any]:
        """An event's data with the marked form fields (its `data`) and mail parameters (`params`) left out."""
        out = dict(data or {})
        if not self.secrets or (by is not None and by == self.author):
            return out
        for key in ("data", "params"):
            if isinstance(out.get(key), Mapping):
                inner = self.redact(out[key])
                hidden = self.hidden_in(out[key])
                out[key] = inner
                if hidden:
                    out["withheld"] = sorted({*out.get("withheld", []), *hidden})
                    out["secrecy"] = sorted({*out.get("secrecy", []), *(self.provision(k) for k in hidden)})
        return out

    def notes(self) -> list[tuple[str, str]]:
        """(label, provision) of each withheld field, for the page's "Sekretess enligt OSL ..." note."""
        return sorted((self.label(k), self.provision(k)) for k in self.secrets.fields)

    def __bool__(self) -> bool:
        return bool(self.secrets)


NOTHING_WITHHELD = Withheld()


def field_labels(forms: Mapping[str, Any]) -> dict[str, str]:
    """Each field key's label (its schema title) in the process's forms; the first form that asks it wins."""
    labels: dict[str, str] = {}
    for form in forms.values():
        properties = ((form or {}).get("schema") or {}).get("properties") or {}
        for key, spec in properties.items():
            if isinstance(spec, Mapping) and isinstance(spec.get("title"), str):
                labels.setdefault(key, spec["title"])
    return labels


def _own_submissions(tx: Transaction, case: Case, username: str) -> tuple[set[str], set[int]]:
    """Field keys only the person themselves submitted in the case (nobody else wrote them), and
    the attachment ids they brought in."""
    own: set[str] = set()
    others: set[str] = set()
    for actor, data in tx.session.execute(select(CaseEvent.actor, CaseEvent.data).where(
            CaseEvent.case_id == case.id, CaseEvent.kind.in_(("case_started", "task_completed")))):
        submitted = (data or {}).get("data")
        if isinstance(submitted, Mapping):
            (own if actor == username else others).update(submitted)
    keys = own - others
    files = set(tx.session.scalars(select(CaseAttachment.id).where(CaseAttachment.case_id == case.id,
                                                                    CaseAttachment.uploaded_by == username)))
    return keys, files


def markings_of(tx: Transaction, case_id: int) -> list[SecrecyMarking]:
    return list(tx.session.scalars(select(SecrecyMarking).where(SecrecyMarking.case_id == case_id)
                                   .order_by(SecrecyMarking.id)))


def withheld_from(tx: Transaction, actor: Actor, case: Case) -> Withheld:
    """What `actor` may not see of `case` (nothing for those who handle it)."""
    secrets = secrets_of_case(tx.session, case.id)
    if not secrets or handles_case(tx, actor, case):
        return NOTHING_WITHHELD
    fields, files = set(secrets.fields), set(secrets.attachments)
    author = None
    if actor.username == case.owner:
        own_keys, own_files = _own_submissions(tx, case, actor.username)
        fields -= own_keys
        files -= own_files
        author = actor.username
    if not fields and not files:
        return NOTHING_WITHHELD
    provisions = {}
    for marking in markings_of(tx, case.id):
        key = marking.target if marking.target_kind == FIELD else f"attachment:{marking.target}"
        provisions[key] = marking.provision
    return Withheld(Secrets(frozenset(fields), frozenset(files)), provisions,
                    field_labels(case.process_version.forms), author)


# ---------------------------------------------------------------- lists: klassificeringsstruktur, OSL


@dataclass(frozen=True)
class ListEntry:
    code: str
    name: str
    active: bool = True


def classes(tx: Transaction, *, active_only: bool = True) -> list[ListEntry]:
    query = select(RegistryClass).order_by(RegistryClass.position, RegistryClass.code)
    if active_only:
        query = query.where(RegistryClass.active.is_(True))
    return [ListEntry(r.code, r.name, r.active) for r in tx.session.scalars(query)]


def provisions(tx: Transaction, *, active_only: bool = True) -> list[ListEntry]:
    query = select(OslProvision).order_by(OslProvision.position, OslProvision.code)
    if active_only:
        query = query.where(OslProvision.active.is_(True))
    return [ListEntry(r.code, r.name, r.active) for r in tx.session.scalars(query)]


def list_classes(ctx: AppContext) -> list[ListEntry]:
    with ctx.uow.read() as tx:
        return classes(tx, active_only=False)


def list_provisions(ctx: AppContext) -> list[ListEntry]:
    with ctx.uow.read() as tx:
        return provisions(tx, active_only=False)


def _clean_entries(entries: list[Mapping[str, Any]], limit: int, what: str) -> list[tuple[str, str, bool]]:
    seen: set[str] = set()
    out = []
    problems: dict[str, list[str]] = {}
    for index, entry in enumerate(entries):
        code = str(entry.get("code") or "").strip() if isinstance(entry, Mapping) else ""
        name = str(entry.get("name") or "").strip() if isinstance(entry, Mapping) else ""
        if not code or not name or len(code) > limit or len(name) > 300:
            problems[f"{index}"] = [f"each {what} needs a code (at most {limit} characters) and a name"]
            continue
        if code in seen:
            problems[f"{index}"] = [f"the code {code} is given twice"]
            continue
        seen.add(code)
        out.append((code, name, bool(entry.get("active", True))))
    if problems or not out:
        raise InvalidInput(f"the {what} list cannot be loaded", problems or {"entries": ["empty"]})
    return out


def _replace_list(ctx: AppContext, model: Any, entries: list[Mapping[str, Any]], limit: int, what: str,
                  actor: Actor) -> int:
    """Load a list: entries given are written in their order; entries left out are deactivated
    (never deleted: old cases and markings still cite them)."""
    require_role(actor, ADMINISTRATOR, f"maintain the {what} list")
    clean = _clean_entries(entries, limit, what)
    with ctx.uow.write() as tx:
        existing = {r.code: r for r in tx.session.scalars(select(model))}
        for position, (code, name, active) in enumerate(clean):
            row = existing.pop(code, None)
            if row is None:
                tx.session.add(model(code=code, name=name, position=position, active=active))
            else:
                row.name, row.position, row.active = name, position, active
        for row in existing.values():
            row.active = False
        tx.users.log(f"{what}_list_loaded", actor.username, {"entries": len(clean)})
        tx.commit()
    return len(clean)


def load_classes(ctx: AppContext, entries: list[Mapping[str, Any]], actor: Actor) -> int:
    return _replace_list(ctx, RegistryClass, entries, 40, "classification", actor)


def load_provisions(ctx: AppContext, entries: list[Mapping[str, Any]], actor: Actor) -> int:
    return _replace_list(ctx, OslProvision, entries, 100, "provision", actor)


# ---------------------------------------------------------------- registration data


@dataclass(frozen=True)
class RegistrationView:
    case_id: int
    number: str  # the diarienummer
    title: str
    registered_on: date
    classification: str | None
    classification_name: str | None
    description: str
    unit: str | None
    version: int  # 0 until first changed


def _local_date(moment: datetime) -> date:
    return moment.astimezone(STOCKHOLM).date()


def registration_view(tx: Transaction, case: Case) -> RegistrationView:
    row = tx.session.get(CaseRegistration, case.id)
    names = {c.code: c.name for c in classes(tx, active_only=False)}
    if row is None:
        return RegistrationView(case.id, case.number, case.title, _local_date(case.created_at), None, None,
                                case.title, None, 0)
    return RegistrationView(case.id, case.number, case.title, row.registered_on, row.classification,
                            names.get(row.classification or ""), row.description or case.title, row.unit,
                            row.version)


def _ensure_row(tx: Transaction, case: Case, actor: str) -> CaseRegistration:
    row = tx.session.get(CaseRegistration, case.id)
    if row is not None:
        return row
    try:
        with tx.session.begin_nested():
            tx.session.add(CaseRegistration(case_id=case.id, registered_on=_local_date(case.created_at),
                                            classification=None, description=None, unit=None, last_document=0,
                                            version=0, updated_by=actor, updated_at=now()))
    except IntegrityError:  # written at the same moment by another transaction
        pass
    row = tx.session.get(CaseRegistration, case.id)
    assert row is not None
    return row


def get_registration(ctx: AppContext, case_ref: str | int, actor: Actor) -> RegistrationView:
    """The registration data of a case the actor may see (the register's data is public)."""
    with ctx.uow.read() as tx:
        return registration_view(tx, visible_case(tx, case_ref, actor))


def not_text(value: str) -> bool:
    """NUL characters and lone surrogates are no text (and PostgreSQL refuses them)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return "\x00" in value


def _text(value: Any, limit: int, name: str, problems: dict[str, list[str]]) -> str | None:
    text = " ".join(str(value or "").split())
    if not_text(text):
        problems[name] = ["not text (a NUL character or a lone surrogate)"]
        return None
    if len(text) > limit:
        problems[name] = [f"at most {limit} characters"]
    return text or None


def update_registration(ctx: AppContext, case_ref: str | int, actor: Actor, *, version: int,
                        classification: str | None, description: str | None, unit: str | None,
                        registered_on: str | date | None = None) -> RegistrationView:
    """Change a case's registration data (innovation leads and registrars; the date: registrars only).

    `version` is the one the form showed: a change made meanwhile by someone else is a Conflict.
    Every change goes into the case history with the old and the new value.
    """
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        if not actor.is_system and not EDITOR_ROLES & actor.roles:
            raise Forbidden("only innovation leads and registrars may change the registration data")
        current = registration_view(tx, case)
        if version != current.version:
            raise Conflict("the registration data was changed by someone else meanwhile; reload and try again")
        problems: dict[str, list[str]] = {}
        code = (classification or "").strip() or None
        if code is not None and code not in {c.code for c in classes(tx)}:
            problems["classification"] = ["not in the klassificeringsstruktur"]
        text = _text(description, MAX_DESCRIPTION, "description", problems)
        unit_text = _text(unit, 200, "unit", problems)
        new_date = current.registered_on
        if registered_on not in (None, ""):
            try:
                new_date = registered_on if isinstance(registered_on, date) else date.fromisoformat(str(registered_on))
            except ValueError:
                problems["registered_on"] = ["a date as 2026-12-01"]
            else:
                if new_date > today():
                    problems["registered_on"] = ["not a date in the future"]
                elif new_date != current.registered_on and not actor.has(REGISTRAR):
                    raise Forbidden("only a registrar may change the registration date")
        if problems:
            raise InvalidInput("the registration data is not valid", problems)
        before = {"registered_on": current.registered_on.isoformat(), "classification": current.classification,
                  "description": current.description if current.version else None, "unit": current.unit}
        after = {"registered_on": new_date.isoformat(), "classification": code, "description": text,
                 "unit": unit_text}
        changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        row = _ensure_row(tx, case, actor.username)
        if changes:
            row.registered_on, row.classification, row.description, row.unit = new_date, code, text, unit_text
            row.version = current.version + 1
            row.updated_by, row.updated_at = actor.username, now()
            tx.events.add(case.id, actor.username, "registration_changed", data={"changes": changes})
        tx.flush()
        view = registration_view(tx, case)
        tx.commit()
    return view


# ---------------------------------------------------------------- secrecy markings


@dataclass(frozen=True)
class MarkingView:
    id: int
    case_id: int
    target_kind: str
    target: str
    label: str  # the field's label or the attachment's file name
    provision: str
    reason: str | None
    marked_by: str
    marked_at: datetime


def _case_field_keys(tx: Transaction, case: Case) -> set[str]:
    keys = set(field_labels(case.process_version.forms))
    for (data,) in tx.session.execute(select(CaseEvent.data).where(
            CaseEvent.case_id == case.id, CaseEvent.kind.in_(("case_started", "task_completed")))):
        submitted = (data or {}).get("data")
        if isinstance(submitted, Mapping):
            keys |= set(submitted)
    return keys


def markable_fields(tx: Transaction, case: Case) -> list[tuple[str, str]]:
    """(key, label) of the fields a marking may name: those the case's forms ask and its data holds."""
    labels = field_labels(case.process_version.forms)
    return sorted(((k, labels.get(k, k)) for k in _case_field_keys(tx, case) - UNMARKABLE),
                  key=lambda pair: pair[1].lower())


def _marking_views(tx: Transaction, case: Case) -> list[MarkingView]:
    labels = field_labels(case.process_version.forms)
    files = dict(tx.session.execute(select(CaseAttachment.id, CaseAttachment.filename)
                                    .where(CaseAttachment.case_id == case.id)).all())
    out = []
    for m in markings_of(tx, case.id):
        label = labels.get(m.target, m.target) if m.target_kind == FIELD \
            else files.get(int(m.target) if m.target.isdigit() else -1, m.target)
        out.append(MarkingView(m.id, m.case_id, m.target_kind, m.target, label, m.provision, m.reason,
                               m.marked_by, m.marked_at))
    return out


def _require_editor(actor: Actor, action: str) -> None:
    if not actor.is_system and not EDITOR_ROLES & actor.roles:
        raise Forbidden(f"only innovation leads and registrars may {action}")


def mark_secret(ctx: AppContext, case_ref: str | int, actor: Actor, *, kind: str, target: str,
                provision: str, reason: str) -> MarkingView:
    """Mark a field (by key) or an attachment (by id) of a case secret under an OSL provision.

    The case is reindexed in the same transaction, so search never shows the field again.
    """
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        _require_editor(actor, "mark parts of a case secret")
        problems: dict[str, list[str]] = {}
        target = str(target or "").strip()
        if kind not in TARGET_KINDS:
            problems["kind"] = [f"one of {', '.join(TARGET_KINDS)}"]
        elif kind == FIELD:
            if not FIELD_KEY.fullmatch(target) or target in UNMARKABLE or target not in _case_field_keys(tx, case):
                problems["target"] = ["not a field of this case"]
        else:
            number = int(target) if target.isascii() and target.isdigit() and len(target) < 19 else None
            attachment = tx.attachments.get(number) if number is not None else None
            if attachment is None or attachment.case_id != case.id:
                problems["target"] = ["not an attachment of this case"]
        if provision not in {p.code for p in provisions(tx)}:
            problems["provision"] = ["choose a provision from the list"]
        reason_text = " ".join(str(reason or "").split())
        if not_text(target):
            problems["target"] = ["not a field or attachment of this case"]
        if not_text(reason_text) or not_text(str(provision or "")):
            problems["reason"] = ["not text (a NUL character or a lone surrogate)"]
        elif not reason_text:
            problems["reason"] = ["required: why the provision applies"]
        elif len(reason_text) > MAX_REASON:
            problems["reason"] = [f"at most {MAX_REASON} characters"]
        if problems:
            raise InvalidInput("the secrecy marking is not valid", problems)
        if tx.session.scalar(select(SecrecyMarking.id).where(SecrecyMarking.case_id == case.id,
                                                             SecrecyMarking.target_kind == kind,
                                                             SecrecyMarking.target == target)) is not None:
            raise Conflict("that part of the case is already marked secret")
        row = SecrecyMarking(case_id=case.id, target_kind=kind, target=target, provision=provision,
                             reason=reason_text, marked_by=actor.username, marked_at=now())
        tx.session.add(row)
        tx.flush()
        view = next(v for v in _marking_views(tx, case) if v.id == row.id)
        tx.events.add(case.id, actor.username, "secrecy_marked",
                      data={"kind": kind, "target": target, "label": view.label, "provision": provision,
                            "reason": reason_text})
        search_index.refresh(tx, case.id)
        tx.commit()
    return view


def lift_secrecy(ctx: AppContext, case_ref: str | int, marking_id: int, actor: Actor, *, reason: str) -> None:
    """Lift a secrecy marking (the part becomes public again); recorded in the history with the reason."""
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        _require_editor(actor, "lift secrecy markings")
        view = next((v for v in _marking_views(tx, case) if v.id == marking_id), None)
        if view is None:
            raise NotFound(f"there is no secrecy marking {marking_id} in this case")
        reason_text = " ".join(str(reason or "").split())
        if not reason_text or len(reason_text) > MAX_REASON or not_text(reason_text):
            raise InvalidInput("say why the secrecy is lifted", {"reason": ["required, at most 2000 characters"]})
        tx.session.execute(delete(SecrecyMarking).where(SecrecyMarking.id == marking_id))
        tx.events.add(case.id, actor.username, "secrecy_lifted",
                      data={"kind": view.target_kind, "target": view.target, "label": view.label,
                            "provision": view.provision, "reason": reason_text})
        search_index.refresh(tx, case.id)
        tx.commit()


# ---------------------------------------------------------------- registered documents


@dataclass(frozen=True)
class DocumentView:
    id: int
    case_id: int
    case_number: str
    number: int
    direction: str
    kind: str
    ref: str
    registered_at: datetime
    counterpart: str
    description: str
    registered_by: str
    secret: str | None = None  # the provision, when the document is marked secret

    @property
    def full_number(self) -> str:
        return f"{self.case_number}:{self.number}"


def register_document(tx: Transaction, case: Case, *, direction: str, kind: str, ref: str, counterpart: str,
                      description: str, actor: str, at: datetime | None = None) -> RegisteredDocument:
    """Register one document of `case` in the caller's transaction; registering it again returns the first."""
    found = tx.session.scalars(select(RegisteredDocument).where(
        RegisteredDocument.case_id == case.id, RegisteredDocument.kind == kind,
        RegisteredDocument.ref == ref)).first()
    if found is not None:
        return found
    _ensure_row(tx, case, actor)
    number = tx.session.execute(
        update(CaseRegistration).where(CaseRegistration.case_id == case.id)
        .values(last_document=CaseRegistration.last_document + 1)
        .returning(CaseRegistration.last_document)).scalar_one()
    row = RegisteredDocument(case_id=case.id, number=number, direction=direction, kind=kind, ref=ref[:200],
                             registered_at=at or now(), counterpart=counterpart[:300],
                             description=" ".join(description.split())[:MAX_DESCRIPTION] or kind,
                             registered_by=actor)
    tx.session.add(row)
    tx.session.flush()
    return row


def register_attachment(tx: Transaction, case: Case, attachment: CaseAttachment, actor: str) -> RegisteredDocument:
    """An attachment is an incoming document: its date, who brought it in, its name as description."""
    return register_document(tx, case, direction=INCOMING, kind="attachment", ref=str(attachment.id),
                             counterpart=attachment.uploaded_by, description=attachment.filename, actor=actor,
                             at=attachment.created_at)


def register_sent_mail(tx: Transaction, case: Case, template: str, key: str, recipient: str, subject: str,
                       at: datetime) -> RegisteredDocument | None:
    """A decision or message mailed out about the case is an outgoing document; other mails
    (reminders, task notices to staff) are working material and not registered."""
    kind = OUTGOING_TEMPLATES.get(template)
    if kind is None:
        return None
    return register_document(tx, case, direction=OUTGOING, kind=kind, ref=key, counterpart=recipient,
                             description=subject, actor="system", at=at)


def document_views(tx: Transaction, case: Case, rows: list[RegisteredDocument] | None = None) -> list[DocumentView]:
    if rows is None:
        rows = list(tx.session.scalars(select(RegisteredDocument).where(RegisteredDocument.case_id == case.id)
                                       .order_by(RegisteredDocument.number)))
    secret = {m.target: m.provision for m in markings_of(tx, case.id) if m.target_kind == ATTACHMENT}
    return [DocumentView(r.id, r.case_id, case.number, r.number, r.direction, r.kind, r.ref, r.registered_at,
                         r.counterpart, r.description, r.registered_by,
                         secret.get(r.ref) if r.kind == "attachment" else None) for r in rows]


# ---------------------------------------------------------------- the case page's panel


@dataclass(frozen=True)
class RegistrationPanel:
    registration: RegistrationView
    documents: list[DocumentView]
    markings: list[MarkingView]  # for handlers: every marking with its reason; for others: none
    may_edit: bool
    may_change_date: bool
    handles: bool
    classes: list[ListEntry]
    provisions: list[ListEntry]
    fields: list[tuple[str, str]]  # markable (key, label)
    attachments: list[tuple[int, str]]  # markable (id, file name)


def registration_panel(ctx: AppContext, case_ref: str | int, actor: Actor) -> RegistrationPanel:
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        handles = handles_case(tx, actor, case)
        withheld = withheld_from(tx, actor, case)
        editor = actor.is_system or bool(EDITOR_ROLES & actor.roles)
        docs = [d for d in document_views(tx, case)
                if not (d.kind == "attachment" and d.ref.isdigit() and withheld.hides_attachment(int(d.ref)))]
        marked = {(m.target_kind, m.target) for m in markings_of(tx, case.id)}
        files = [(i, n) for i, n in tx.session.execute(select(CaseAttachment.id, CaseAttachment.filename)
                                                       .where(CaseAttachment.case_id == case.id)
                                                       .order_by(CaseAttachment.id)).all()
                 if (ATTACHMENT, str(i)) not in marked]
        return RegistrationPanel(
            registration=registration_view(tx, case), documents=docs,
            markings=_marking_views(tx, case) if handles else [], may_edit=editor,
            may_change_date=actor.has(REGISTRAR), handles=handles, classes=classes(tx), provisions=provisions(tx),
            fields=[(k, label) for k, label in markable_fields(tx, case) if (FIELD, k) not in marked] if editor else [],
            attachments=files if editor else [])


def withheld_for_person(tx: Transaction, username: str, case: Case) -> Withheld:
    """`withheld_from` for a person known by name (a mail's recipient), with their roles and groups."""
    user = tx.users.by_username(username)
    actor = Actor(username) if user is None else \
        Actor(username, frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)))
    return withheld_from(tx, actor, case)
