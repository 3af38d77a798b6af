"""The lessons of cases from before lessons were records of their own (migration 0021).

Migration 0021 reads the stage records and gate decisions each existing case already has
and writes the lessons they hold, with their documents in the search index, as a completion
would have written them. It lives apart from services/lessons.py because it needs the
search index, which itself reads what lessons may be shown.
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from iphs_flow.store.tables import GateDecision, StageRecord

from .lessons import lessons_from_records, record_lesson
from .search_index import case_documents, write_documents


def backfill(connection: Connection) -> int:
    """Write the lessons of the existing cases from their records, and their search documents."""
    case_ids = sorted(set(connection.execute(select(StageRecord.case_id)).scalars())
                      | set(connection.execute(select(GateDecision.case_id)).scalars()))
    done = 0
    for case_id in case_ids:
        stages = connection.execute(select(StageRecord).where(StageRecord.case_id == case_id)).all()
        decisions = connection.execute(select(GateDecision).where(GateDecision.case_id == case_id)).all()
        found = lessons_from_records(stages, decisions)
        for lesson in found:
            record_lesson(connection, case_id=case_id, **lesson)
        if found:
            write_documents(connection, case_id, case_documents(connection, case_id))
            done += len(found)
    return done
