"""search index: search documents per case and field, full-text indexed per database

Revision ID: 0014
Revises: 0012
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('search_document',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('field', sa.String(length=40), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_search_document_case_field', 'search_document', ['case_id', 'field'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # Both configurations: Swedish words by their Swedish stems, English ones by theirs.
        op.execute("ALTER TABLE search_document ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                   "(to_tsvector('swedish', body) || to_tsvector('english', body)) STORED")
        op.execute("CREATE INDEX ix_search_document_tsv ON search_document USING gin (tsv)")
    else:
        # The Snowball stems of each document (services/text_analysis.py), rowid = search_document.id.
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(sv, en, tokenize='unicode61 remove_diacritics 0')")
        # How many documents hold each stem: similar cases match on the rare ones.
        op.execute("CREATE VIRTUAL TABLE search_fts_vocab USING fts5vocab(search_fts, 'col')")
    # Index the cases that already exist.
    from iphs_flow.services.search_index import rebuild_on
    rebuild_on(op.get_bind())


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        op.execute("DROP TABLE IF EXISTS search_fts_vocab")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.drop_index('ix_search_document_case_field', table_name='search_document')
    op.drop_table('search_document')
