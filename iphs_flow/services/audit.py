"""The audit trail for administrators: who read or changed which case, searchable and exportable.

Changes are the case history (people's events; the engine's own steps are not people).
Reads are what `read_log.record_read` noted when someone opened a case, its history, or
one of its files.
"""

from __future__ import annotations

import base64
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from iphs_flow.bootstrap import AppContext

from .cases import find_case
from .errors import InvalidInput
from .permissions import ADMINISTRATOR, Actor, require_role
from .queries.audit import AuditRow, trail

MAX_PAGE = 500
MAX_EXPORT = 100_000


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    next_cursor: str | None


def _cursor(row: AuditRow) -> str:
    raw = json.dumps([row.at.isoformat(), row.kind, row.row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str, int]:
    try:
        at, kind, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment = datetime.fromisoformat(at)
        if kind not in ("read", "change") or not isinstance(row_id, int):
            raise ValueError(kind)
    except (ValueError, TypeError, UnicodeDecodeError):
        raise InvalidInput("the cursor is not one this page handed out", {"cursor": ["not valid"]}) from None
    return moment, kind, row_id


def _day(value: date | None, *, end: bool = False) -> datetime | None:
    if value is None:
        return None
    return datetime.combine(value + timedelta(days=1) if end else value, time.min, tzinfo=timezone.utc)


def audit_trail(ctx: AppContext, actor: Actor, *, case_ref: str | None = None, username: str | None = None,
                start: date | None = None, end: date | None = None, kind: str | None = None,
                cursor: str | None = None, limit: int = 100) -> AuditPage:
    require_role(actor, ADMINISTRATOR, "read the audit trail")
    if kind not in (None, "read", "change"):
        raise InvalidInput("kind is read or change", {"kind": ["read or change"]})
    if not 1 <= limit <= MAX_EXPORT:
        raise InvalidInput("limit out of range", {"limit": [f"1 to {MAX_EXPORT}"]})
    with ctx.uow.read() as tx:
        case_id = find_case(tx, case_ref.strip()).id if case_ref and case_ref.strip() else None
        rows = trail(tx.session, case_id=case_id, username=(username or "").strip() or None, start=_day(start),
                     end=_day(end, end=True), kind=kind, before=_decode(cursor) if cursor else None, limit=limit)
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(rows, _cursor(rows[-1]) if more and rows else None)


def audit_csv(ctx: AppContext, actor: Actor, **filters: object) -> Iterator[str]:
    """The whole filtered trail as CSV, page by page, so a large export never sits in memory."""
    cursor = None
    yield "tid;person;typ;ärende;vad\r\n"
    sent = 0
    while sent < MAX_EXPORT:
        page = audit_trail(ctx, actor, cursor=cursor, limit=MAX_PAGE, **filters)  # type: ignore[arg-type]
        out = io.StringIO()
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        for row in page.rows:
            writer.writerow([row.at.isoformat(), row.username, "läst" if row.kind == "read" else "ändrat",
                             row.case_number, row.what])
        sent += len(page.rows)
        yield out.getvalue()
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
