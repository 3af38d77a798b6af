"""search speed: a narrow covering index of the search documents for SQLite's full-text matches

A search of a common word reads the case, field and lesson of thousands of matching
documents; on SQLite each is a lookup by rowid in `search_document`, whose rows carry the
whole text. The index (id, case_id, field, lesson_id) holds just those, a few pages instead
of a page per document (services/queries/search.py reads it with INDEXED BY). PostgreSQL
reads them from the rows its GIN index points at and needs no such index.

Revision ID: 0025
Revises: 0023
"""
from __future__ import annotations

from alembic import op


revision = '0025'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("CREATE INDEX ix_search_document_match ON search_document (id, case_id, field, lesson_id)")
        op.execute("ANALYZE search_document")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP INDEX IF EXISTS ix_search_document_match")
