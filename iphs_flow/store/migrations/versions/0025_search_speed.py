"""search speed: the indexes a search reads the reader's cases and its matches through

A search by someone who does not see every case first reads the cases they may see: their
own, and those where they, the people they manage or their groups have or had a task. The
task table is indexed by state first (the inboxes); these indexes give a person's or a
group's cases, in any state of the task, without reading the tasks.

A search of a common word reads the case, field and lesson of thousands of matching
documents; on SQLite each is a lookup by rowid in `search_document`, whose rows carry the
whole text. The index (id, case_id, field, lesson_id) holds just those, a few pages instead
of a page per document (services/queries/search.py reads it with INDEXED BY). PostgreSQL
reads them from the rows its GIN index points at and needs no such index.

On PostgreSQL similar cases compare a need with the title and need of other cases: a GIN
index of just those documents finds them without sifting every matching document. Ranking
reads each document's tsvector; lz4 unpacks one several times faster than pglz, so the
tsvectors are kept with lz4 where the server has it (those pglz packed are written again).

Revision ID: 0025
Revises: 0024
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The reader's cases are read through 0024's task indexes (assignee, closer, group with the case id).
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute("CREATE INDEX ix_search_document_match ON search_document (id, case_id, field, lesson_id)")
        op.execute("ANALYZE search_document")
        op.execute("ANALYZE human_task")
        return
    op.execute("CREATE INDEX ix_search_document_similar_tsv ON search_document USING gin (tsv) "
               "WHERE field IN ('title', 'need') AND lesson_id IS NULL")
    try:
        with bind.begin_nested():
            op.execute("ALTER TABLE search_document ALTER COLUMN tsv SET COMPRESSION lz4")
    except sa.exc.DBAPIError:  # a server built without lz4 keeps pglz
        return
    op.execute("UPDATE search_document SET body = body WHERE pg_column_compression(tsv) = 'pglz'")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP INDEX IF EXISTS ix_search_document_match")
    else:
        op.execute("DROP INDEX IF EXISTS ix_search_document_similar_tsv")
        op.execute("ALTER TABLE search_document ALTER COLUMN tsv SET COMPRESSION default")
