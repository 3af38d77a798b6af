"""message waits: the subscription index for messages and signals

Revision ID: 0010
Revises: 0008
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_wait',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('correlation', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_message_wait_case_id', 'message_wait', ['case_id'], unique=False)
    op.create_index('ix_message_wait_kind_name', 'message_wait', ['kind', 'name'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_message_wait_kind_name', table_name='message_wait')
    op.drop_index('ix_message_wait_case_id', table_name='message_wait')
    op.drop_table('message_wait')
