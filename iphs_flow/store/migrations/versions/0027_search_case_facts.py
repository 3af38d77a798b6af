"""search case facts: each search document carries its case's status and stage

A search of a common word counts its matching cases per status and stage (the facets): that
read every matching case by its id, ten thousand lookups for a word in half the cases, besides
the documents themselves. Now each document carries its case's status and stage
(`case_status`, `case_stage`), so the facets are counted from the documents the search has
read anyway.

The database keeps them (triggers), not the application: a document written takes its case's
values, and a case whose status or stage changes passes them on to its documents. So no
writer of cases or documents sends a statement more, and no writer can forget them. On
SQLite the narrow covering index the matches are read through (0025) holds them too.

On PostgreSQL a GIN index keeps what was written lately in a pending list, which every search
reads through from end to end, until it is merged into the index (by vacuum, or by the writer
that finds it full). At the default limit of 4 MB that is a few thousand documents after a bulk
load, a few milliseconds of every search; at 256 kB it is merged sixteen times as often, in
smaller pieces, and stays a fraction of that. (Turning the pending list off, fastupdate=off,
makes bulk loads several times slower.)

Revision ID: 0027
Revises: 0026
"""
from __future__ import annotations

from alembic import op


revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

GIN_INDEXES = ("ix_search_document_tsv", "ix_search_document_similar_tsv")  # 0014, 0025
PENDING_LIST_KB = 256


def upgrade() -> None:
    op.execute("ALTER TABLE search_document ADD COLUMN case_status VARCHAR(20)")
    op.execute("ALTER TABLE search_document ADD COLUMN case_stage INTEGER")
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("""
            CREATE TRIGGER search_document_case_facts AFTER INSERT ON search_document BEGIN
                UPDATE search_document SET case_status = (SELECT status FROM "case" WHERE id = NEW.case_id),
                                           case_stage = (SELECT stage FROM "case" WHERE id = NEW.case_id)
                WHERE id = NEW.id;
            END""")
        op.execute("""
            CREATE TRIGGER case_search_facts AFTER UPDATE OF status, stage ON "case"
            WHEN OLD.status IS NOT NEW.status OR OLD.stage IS NOT NEW.stage BEGIN
                UPDATE search_document SET case_status = NEW.status, case_stage = NEW.stage WHERE case_id = NEW.id;
            END""")
        op.execute('UPDATE search_document SET case_status = (SELECT status FROM "case" WHERE id = case_id), '
                   'case_stage = (SELECT stage FROM "case" WHERE id = case_id)')
        op.execute("DROP INDEX IF EXISTS ix_search_document_match")
        op.execute("CREATE INDEX ix_search_document_match ON search_document "
                   "(id, case_id, field, lesson_id, case_status, case_stage)")
        op.execute("ANALYZE search_document")
        return
    op.execute("""
        CREATE FUNCTION search_document_case_facts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            SELECT c.status, c.stage INTO NEW.case_status, NEW.case_stage FROM "case" AS c WHERE c.id = NEW.case_id;
            RETURN NEW;
        END $$""")
    op.execute("CREATE TRIGGER search_document_case_facts BEFORE INSERT OR UPDATE OF case_id ON search_document "
               "FOR EACH ROW EXECUTE FUNCTION search_document_case_facts()")
    op.execute("""
        CREATE FUNCTION case_search_facts() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE search_document SET case_status = NEW.status, case_stage = NEW.stage WHERE case_id = NEW.id;
            RETURN NULL;
        END $$""")
    op.execute('CREATE TRIGGER case_search_facts AFTER UPDATE OF status, stage ON "case" FOR EACH ROW '
               'WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.stage IS DISTINCT FROM NEW.stage) '
               'EXECUTE FUNCTION case_search_facts()')
    op.execute('UPDATE search_document AS d SET case_status = c.status, case_stage = c.stage '
               'FROM "case" AS c WHERE c.id = d.case_id')
    for index in GIN_INDEXES:
        op.execute(f"ALTER INDEX {index} SET (gin_pending_list_limit = {PENDING_LIST_KB})")
    op.execute("ANALYZE search_document")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("DROP TRIGGER IF EXISTS case_search_facts")
        op.execute("DROP TRIGGER IF EXISTS search_document_case_facts")
        op.execute("DROP INDEX IF EXISTS ix_search_document_match")
        op.execute("CREATE INDEX ix_search_document_match ON search_document (id, case_id, field, lesson_id)")
    else:
        for index in GIN_INDEXES:
            op.execute(f"ALTER INDEX {index} RESET (gin_pending_list_limit)")
        op.execute('DROP TRIGGER IF EXISTS case_search_facts ON "case"')
        op.execute("DROP FUNCTION IF EXISTS case_search_facts()")
        op.execute("DROP TRIGGER IF EXISTS search_document_case_facts ON search_document")
        op.execute("DROP FUNCTION IF EXISTS search_document_case_facts()")
    op.execute("ALTER TABLE search_document DROP COLUMN case_stage")
    op.execute("ALTER TABLE search_document DROP COLUMN case_status")
