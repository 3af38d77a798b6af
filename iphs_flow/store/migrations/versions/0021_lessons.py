"""lessons library: one row per lesson learned, built for existing cases from their records

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('lesson',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('case_id', _ID, nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('task_key', sa.String(length=200), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('event_id', _ID, nullable=True),
    sa.Column('stage', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('unit', sa.String(length=300), nullable=True),
    sa.Column('goals', sa.JSON(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('worked', sa.Text(), nullable=True),
    sa.Column('not_worked', sa.Text(), nullable=True),
    sa.Column('reusable', sa.Text(), nullable=True),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('internal', sa.Boolean(), nullable=False),
    sa.Column('internal_reason', sa.Text(), nullable=True),
    sa.Column('internal_by', sa.String(length=200), nullable=True),
    sa.Column('internal_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['case_event.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.create_index('ix_lesson_case_id', ['case_id', 'id'], unique=False)
        batch_op.create_index('ix_lesson_year', ['year'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.add_column('search_document', sa.Column('lesson_id', _ID, nullable=True))
        op.create_foreign_key('search_document_lesson_id_fkey', 'search_document', 'lesson', ['lesson_id'], ['id'],
                              ondelete='CASCADE')
    else:
        # SQLite adds a foreign key by copying the table; the ids (the FTS5 table's rowids) are kept.
        with op.batch_alter_table('search_document', schema=None) as batch_op:
            batch_op.add_column(sa.Column('lesson_id', _ID, nullable=True))
            batch_op.create_foreign_key('fk_search_document_lesson_id', 'lesson', ['lesson_id'], ['id'],
                                        ondelete='CASCADE')
    # The lessons the existing cases recorded, from their stage records and gate decisions,
    # and their documents in the search index.
    from iphs_flow.services.lessons_backfill import backfill
    backfill(op.get_bind())


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != 'postgresql':
        bind.execute(sa.text("DELETE FROM search_fts WHERE rowid IN "
                             "(SELECT id FROM search_document WHERE lesson_id IS NOT NULL)"))
    bind.execute(sa.text("DELETE FROM search_document WHERE lesson_id IS NOT NULL"))
    if bind.dialect.name == 'postgresql':
        op.drop_constraint('search_document_lesson_id_fkey', 'search_document', type_='foreignkey')
        op.drop_column('search_document', 'lesson_id')
    else:  # a column in a foreign key: SQLite drops it by copying the table (ids kept)
        with op.batch_alter_table('search_document', schema=None) as batch_op:
            batch_op.drop_column('lesson_id')
    with op.batch_alter_table('lesson', schema=None) as batch_op:
        batch_op.drop_index('ix_lesson_year')
        batch_op.drop_index('ix_lesson_case_id')
    op.drop_table('lesson')
