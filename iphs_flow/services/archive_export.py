"""Deliver closed cases to the e-archive as E-ARK SIP packages (`iphs-flow archive export`).

A case is delivered once it is closed: its documents (every submitted form, each gate
decision, comments, attachments) and its history go into one package, described with
CITS ERMS and PREMIS (`iphs_flow/archive/`). Where the process's people are to be
pseudonymised (setting `archive_pseudonymise`, or asked for), every person the case
names is replaced by "Person 1", "Person 2" …, consistently within the package, in the
metadata and in the text of the documents alike. Each delivery is recorded in the
case's history with the package's name and the checksum of its METS.xml.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from iphs_flow.archive.mets import Submitter
from iphs_flow.archive.model import (
    INCOMING,
    INTERNAL,
    OUTGOING,
    ArchiveCase,
    Decision,
    Document,
    FormField,
    HistoryEntry,
    Restriction,
)
from iphs_flow.archive.sip import WrittenPackage, write_package, zip_package
from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.engine.vocabulary import EVENTS

from .cases import find_case
from .errors import Conflict, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, Actor, require_role
from .queries.archive import CLOSED, CaseRecordSet, case_records, closed_case_ids
from .registration import field_labels, markings_of, registration_view

SOFTWARE = "IPHS Flow"
try:
    SOFTWARE_VERSION = version("iphs-flow")
except PackageNotFoundError:  # run from a checkout that was never installed
    SOFTWARE_VERSION = "0+unknown"

@dataclass(frozen=True)
class ArchiveExportView:
    case_number: str
    package: str
    path: Path
    files: int
    bytes: int
    mets_sha256: str
    pseudonymised: bool


class _People:
    """Names people as the package shows them: themselves, or a pseudonym stable within it."""

    def __init__(self, records: CaseRecordSet, pseudonymise: bool) -> None:
        self.pseudonymise = pseudonymise
        self.records = records
        self.names: dict[str, str] = {}

    def name(self, username: str | None) -> str | None:
        if not username:
            return None
        if username.startswith(("engine", "cli:", "system")):
            return SOFTWARE
        if username not in self.names:
            account = self.records.people.get(username)
            self.names[username] = (f"Person {len(self.names) + 1}" if self.pseudonymise
                                    else (account.display_name if account else username))
        return self.names[username]

    def scrub(self, value: Any) -> Any:
        """Replace every known person's user name, display name and address inside free text."""
        if not self.pseudonymise:
            return value
        if isinstance(value, str):
            for username, account in self.records.people.items():
                pseudonym = self.name(username) or ""
                for known in filter(None, (account.email, account.display_name, username)):
                    value = re.sub(re.escape(known), pseudonym, value, flags=re.IGNORECASE)
            return value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        return value


def _form_fields(schema: dict[str, Any] | None, data: dict[str, Any], people: _People) -> tuple[FormField, ...]:
    properties = (schema or {}).get("properties", {})
    fields = []
    for name, value in data.items():
        spec = properties.get(name, {})
        label = spec.get("title") or name
        choices = {c.get("const"): c.get("title") for c in spec.get("oneOf", []) if isinstance(c, dict)}
        shown = choices.get(value, value) if isinstance(value, str) and choices else value
        fields.append(FormField(name=name, label=label, value=people.scrub(shown)))
    return tuple(fields)


def _archive_case(ctx: AppContext, records: CaseRecordSet, pseudonymise: bool) -> ArchiveCase:
    case = records.case
    people = _People(records, pseudonymise)
    owner = people.name(case.owner) or case.owner
    documents: list[Document] = []
    decisions: list[Decision] = []
    for event in records.events:
        payload = event.data or {}
        if event.kind == "case_started" and payload.get("data"):
            documents.append(Document(key=f"handling-{event.id}", kind="form", title="Ärendet inleddes",
                                      direction=INCOMING, created_at=event.at, agent=people.name(event.actor),
                                      fields=_form_fields(None, payload["data"], people)))
        elif event.kind == "task_completed":
            data = payload.get("data") or {}
            form_key = records.form_keys.get(int(payload.get("task_id") or 0))
            schema = (records.forms.get(form_key) or {}).get("schema") if form_key else None
            fields = _form_fields(schema, data, people)
            title = event.task_name or (schema or {}).get("title") or event.task_key or "Formulär"
            if "decision" in data:
                outcome = next((f.value for f in fields if f.name == "decision"), data["decision"])
                decisions.append(Decision(gate=title, outcome=str(outcome),
                                          reason=str(people.scrub(data.get("reason") or "")),
                                          decided_at=event.at, decider=people.name(event.actor)))
                kind, direction = "decision", OUTGOING
            else:
                kind = "form"
                direction = INCOMING if event.actor == case.owner else INTERNAL
            documents.append(Document(key=f"handling-{event.id}", kind=kind, title=title, direction=direction,
                                      created_at=event.at, agent=people.name(event.actor), fields=fields))
    for comment in records.comments:
        documents.append(Document(key=f"kommentar-{comment.id}", kind="comment", title="Kommentar",
                                  direction=INTERNAL, created_at=comment.created_at,
                                  agent=people.name(comment.author), text=people.scrub(comment.body)))
    for attachment in records.attachments:
        documents.append(Document(
            key=f"bilaga-{attachment.id}", kind="attachment", title=people.scrub(attachment.filename),
            direction=INCOMING if attachment.uploaded_by == case.owner else INTERNAL,
            created_at=attachment.created_at, agent=people.name(attachment.uploaded_by),
            source=ctx.settings.attachments_dir / attachment.stored_name,
            filename=people.scrub(attachment.filename), mimetype=attachment.content_type))
    documents.sort(key=lambda d: d.created_at)
    history = tuple(
        HistoryEntry(at=e.at, actor=people.name(e.actor) or "", kind=e.kind,
                     text=" – ".join(filter(None, (EVENTS.get(e.kind, e.kind), e.task_name))))
        for e in records.events)
    return ArchiveCase(
        system_id=str(case.id), number=case.number, title=people.scrub(case.title), process_key=case.process_key,
        process_name=records.process_name, process_version=records.process_version, status=case.status,
        created_at=case.created_at, closed_at=case.closed_at or case.updated_at, owner=owner,
        organisation=ctx.settings.organisation, organisation_code=ctx.settings.organisation_code,
        documents=tuple(documents), decisions=tuple(decisions), history=history,
        people_pseudonymised=pseudonymise)


def _registered(archive_case: ArchiveCase, tx: Any, records: CaseRecordSet) -> ArchiveCase:
    """The case with its registration data and its secrecy markings as ERMS restrictions.

    The archive keeps the content of secret parts (it must hold the whole record); the
    markings travel with it, on the case file and on each document they touch.
    """


    registration = registration_view(tx, records.case)
    labels = field_labels(records.forms)
    markings = markings_of(tx, records.case.id)
    fields = {m.target: m.provision for m in markings if m.target_kind == "field"}
    files = {m.target: m.provision for m in markings if m.target_kind == "attachment"}

    def marked(document: Document) -> Document:
        found = [Restriction(f"Sekretessmarkerad uppgift: {labels.get(f.name, f.name)}", fields[f.name])
                 for f in document.fields if f.name in fields]
        if document.kind == "decision" and "reason" in fields and not any(f.name == "reason" for f in document.fields):
            found.append(Restriction("Sekretessmarkerad uppgift: motivering", fields["reason"]))
        if document.kind == "attachment" and document.key.removeprefix("bilaga-") in files:
            found.append(Restriction("Sekretessmarkerad bilaga", files[document.key.removeprefix("bilaga-")]))
        return replace(document, restrictions=tuple(found)) if found else document

    case_level = tuple(Restriction(f"Sekretessmarkerad {'uppgift' if m.target_kind == 'field' else 'bilaga'}: "
                                   f"{labels.get(m.target, m.target) if m.target_kind == 'field' else m.target}",
                                   m.provision) for m in markings)
    return replace(archive_case, documents=tuple(marked(d) for d in archive_case.documents),
                   restrictions=case_level, classification=registration.classification,
                   unit=registration.unit, description=registration.description)


def _submitter(ctx: AppContext) -> Submitter:
    settings = ctx.settings
    return Submitter(organisation=settings.organisation, organisation_code=settings.organisation_code,
                     software=SOFTWARE, software_version=SOFTWARE_VERSION,
                     submission_agreement=settings.archive_submission_agreement)


def export_case(ctx: AppContext, case_ref: str | int, out_dir: Path, actor: Actor, *,
                pseudonymise: bool | None = None, as_zip: bool = False) -> ArchiveExportView:
    """One closed case as a package in `out_dir`; recorded in the case's history."""
    require_role(actor, ADMINISTRATOR, "deliver cases to the e-archive")
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise InvalidInput(f"{out_dir} is not a folder", {"out": ["not a folder"]})
    with ctx.uow.read() as tx:
        case_id = find_case(tx, case_ref).id
        records = case_records(tx.session, case_id)
        if records is None:
            raise NotFound(f"no case {case_ref}")
        if records.case.status not in CLOSED:
            raise Conflict(f"case {records.case.number} is not closed; only closed cases go to the e-archive")
        wanted = (records.case.process_key in ctx.settings.archive_pseudonymise
                  if pseudonymise is None else pseudonymise)
        archive_case = _registered(_archive_case(ctx, records, wanted), tx, records)
    try:
        written: WrittenPackage = write_package(archive_case, out_dir, _submitter(ctx), now())
    except FileNotFoundError as err:
        raise Conflict(f"case {archive_case.number} cannot be delivered: {err}") from None
    path = written.path
    if as_zip:
        path = zip_package(written.path, out_dir / f"{written.objid}.zip")
        shutil.rmtree(written.path, ignore_errors=True)
    with ctx.uow.write() as tx:
        tx.events.add(case_id, actor.username, "archived",
                      data={"package": written.objid, "mets_sha256": written.mets_sha256,
                            "files": written.files, "pseudonymised": wanted})
        tx.commit()
    return ArchiveExportView(case_number=archive_case.number, package=written.objid, path=path,
                             files=written.files, bytes=written.bytes, mets_sha256=written.mets_sha256,
                             pseudonymised=wanted)


def closed_cases(ctx: AppContext, start: date, end: date, actor: Actor) -> list[int]:
    """The closed cases of a period, to deliver one by one (and count for a progress bar)."""
    require_role(actor, ADMINISTRATOR, "deliver cases to the e-archive")
    if end < start:
        raise InvalidInput("the period ends before it starts", {"to": ["on or after the start"]})
    with ctx.uow.read() as tx:
        return closed_case_ids(tx.session, start, end)


def export_period(ctx: AppContext, start: date, end: date, out_dir: Path, actor: Actor, *,
                  pseudonymise: bool | None = None, as_zip: bool = False,
                  progress: Callable[[ArchiveExportView], None] | None = None) -> list[ArchiveExportView]:
    """Every case closed in [start, end], one package each."""
    views = []
    for case_id in closed_cases(ctx, start, end, actor):
        view = export_case(ctx, case_id, out_dir, actor, pseudonymise=pseudonymise, as_zip=as_zip)
        views.append(view)
        if progress is not None:
            progress(view)
    return views

