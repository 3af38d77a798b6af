"""What of a case is secret (offentlighets- och sekretesslagen): the one question every outlet asks.

A case is a public record (allmän handling); a part of it may be secret under a provision
of OSL, and is then marked (store/tables.py:SecrecyMarking). Whatever shows case content
to people who do not handle the case — search snippets, the public showcase, followers'
mails and digests, the lessons library, research and archive exports — asks `secrets_of`
and leaves the marked parts out with `redact`. Marking and lifting are use cases of the
registration (services/registration.py); this module only reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from iphs_flow.store.tables import SecrecyMarking

FIELD = "field"
ATTACHMENT = "attachment"
TARGET_KINDS = (FIELD, ATTACHMENT)


@dataclass(frozen=True)
class Secrets:
    """The marked parts of one case: data field keys and attachment ids."""

    fields: frozenset[str] = frozenset()
    attachments: frozenset[int] = frozenset()

    def hides(self, key: str) -> bool:
        return key in self.fields

    def hides_attachment(self, attachment_id: int) -> bool:
        return attachment_id in self.attachments

    @property
    def hides_reason(self) -> bool:
        """A gate decision's reason is what its form recorded as `reason` (or `comment`)."""
        return bool({"reason", "comment"} & self.fields)

    def __bool__(self) -> bool:
        return bool(self.fields or self.attachments)


NOTHING_SECRET = Secrets()


def secrets_of(session: Session | Connection, case_ids: Iterable[int]) -> dict[int, Secrets]:
    """The marked parts of each case in `case_ids`; a case with nothing marked maps to NOTHING_SECRET."""
    ids = sorted(set(case_ids))
    found: dict[int, tuple[set[str], set[int]]] = {}
    for start in range(0, len(ids), 900):  # SQLite's bound-parameter limit
        rows = session.execute(
            select(SecrecyMarking.case_id, SecrecyMarking.target_kind, SecrecyMarking.target)
            .where(SecrecyMarking.case_id.in_(ids[start:start + 900]))).all()
        for case_id, kind, target in rows:
            fields, attachments = found.setdefault(case_id, (set(), set()))
            if kind == FIELD:
                fields.add(target)
            elif kind == ATTACHMENT and str(target).isdigit():
                attachments.add(int(target))
    return {case_id: (Secrets(frozenset(found[case_id][0]), frozenset(found[case_id][1]))
                      if case_id in found else NOTHING_SECRET) for case_id in ids}


def secrets_of_case(session: Session | Connection, case_id: int) -> Secrets:
    return secrets_of(session, [case_id])[case_id]


def redact(data: Mapping[str, Any], secrets: Secrets) -> dict[str, Any]:
    """`data` without its marked fields (at the top level, where form fields are)."""
    if not secrets.fields:
        return dict(data)
    return {key: value for key, value in data.items() if key not in secrets.fields}
