"""followers: who follows which case, the updates sent to them, and their follow settings

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('case_follower',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('created_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'username', name='uq_case_follower_case_username')
    )
    op.create_index('ix_case_follower_username', 'case_follower', ['username', 'id'], unique=False)
    op.create_table('case_update',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('created_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_case_update_case_id', 'case_update', ['case_id', 'id'], unique=False)
    op.create_table('follow_preference',
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('case_mail', sa.String(length=20), nullable=False),
    sa.Column('monthly_digest', sa.Boolean(), nullable=False),
    sa.Column('subscribed_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('username')
    )


def downgrade() -> None:
    op.drop_table('follow_preference')
    op.drop_index('ix_case_update_case_id', table_name='case_update')
    op.drop_table('case_update')
    op.drop_index('ix_case_follower_username', table_name='case_follower')
    op.drop_table('case_follower')
