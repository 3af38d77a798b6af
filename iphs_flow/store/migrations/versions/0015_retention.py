"""retention: rules (gallringsbeslut), weeding lists and what was weeded

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_WHEN = iphs_flow.store.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('retention_rule',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('document_type', sa.String(length=40), nullable=False),
    sa.Column('process_key', sa.String(length=100), nullable=True),
    sa.Column('outcomes', sa.JSON(), nullable=False),
    sa.Column('keep_days', sa.Integer(), nullable=True),
    sa.Column('decision', sa.String(length=300), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('weeding_list',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('created_at', _WHEN, nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', _WHEN, nullable=True),
    sa.Column('applied_at', _WHEN, nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('weeding_item',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('list_id', _ID, nullable=False),
    sa.Column('rule_id', _ID, nullable=True),
    sa.Column('document_type', sa.String(length=40), nullable=False),
    sa.Column('ref_id', sa.BigInteger(), nullable=False),
    sa.Column('case_number', sa.String(length=40), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('weeded_at', _WHEN, nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['weeding_list.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rule_id'], ['retention_rule.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_weeding_item_list_id', 'weeding_item', ['list_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_weeding_item_list_id', table_name='weeding_item')
    op.drop_table('weeding_item')
    op.drop_table('weeding_list')
    op.drop_table('retention_rule')
