"""research_export: the log of research exports (who, when, filter, rows per file)

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('research_export',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('filter', sa.JSON(), nullable=False),
    sa.Column('row_counts', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_research_export_username_at', 'research_export', ['username', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_research_export_username_at', table_name='research_export')
    op.drop_table('research_export')
