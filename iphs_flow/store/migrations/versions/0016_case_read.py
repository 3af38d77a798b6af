"""case_read: who opened which case or file, for the audit view

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('case_read',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('what', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_read_case_id_at', 'case_read', ['case_id', 'at'], unique=False)
    op.create_index('ix_case_read_username_at', 'case_read', ['username', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_read_username_at', table_name='case_read')
    op.drop_index('ix_case_read_case_id_at', table_name='case_read')
    op.drop_table('case_read')
