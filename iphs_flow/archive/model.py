"""What an archive package is made of, independent of the database it was read from."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# ERMS directionDefinition values for the documents (handlingar) of a case.
INCOMING = "incoming"
OUTGOING = "outgoing"
INTERNAL = "internal_memo_without_follow-up"


@dataclass(frozen=True)
class FormField:
    """One answer on a submitted form, with the label the person saw."""

    name: str
    label: str
    value: Any


@dataclass(frozen=True)
class Restriction:
    """A secrecy marking (OSL) on the case file or one document: what it covers and the provision."""

    explanation: str
    regulation: str  # e.g. "OSL 31 kap. 16 §"


@dataclass(frozen=True)
class Document:
    """One document (handling) of the case: a submitted form, a decision, a comment, a file."""

    key: str  # unique in the package, also the file's name stem
    kind: str  # form | decision | comment | attachment
    title: str
    direction: str
    created_at: datetime
    agent: str | None  # the person who made it, as the package names them
    fields: tuple[FormField, ...] = ()
    text: str | None = None
    source: Path | None = None  # an attachment's bytes on disk
    filename: str | None = None  # an attachment's name as uploaded
    mimetype: str | None = None
    restrictions: tuple[Restriction, ...] = ()  # the document's secret parts; the content is kept


@dataclass(frozen=True)
class Decision:
    """A gate decision, kept as an action on the case file."""

    gate: str
    outcome: str
    reason: str
    decided_at: datetime
    decider: str | None


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    actor: str
    kind: str
    text: str


@dataclass(frozen=True)
class ArchiveCase:
    """A closed case with everything the archive keeps of it."""

    system_id: str
    number: str  # the diarienummer
    title: str
    process_key: str
    process_name: str
    process_version: int
    status: str  # completed | terminated
    created_at: datetime
    closed_at: datetime
    owner: str
    organisation: str
    organisation_code: str | None = None
    unit: str | None = None
    classification: str | None = None
    description: str | None = None
    documents: tuple[Document, ...] = ()
    decisions: tuple[Decision, ...] = ()
    history: tuple[HistoryEntry, ...] = ()
    people_pseudonymised: bool = False
    restrictions: tuple[Restriction, ...] = ()  # every secrecy marking of the case
    extra: dict[str, str] = field(default_factory=dict)
