"""production footing: scheduler heartbeats, server-side sessions, login throttling

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('scheduler_heartbeat',
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('beat_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker')
    )
    op.create_table('user_session',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=200), nullable=False),
    sa.Column('created_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('remote_addr', sa.String(length=100), nullable=True),
    sa.Column('ended_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.Column('ended_reason', sa.String(length=50), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_user_session_username', 'user_session', ['username'], unique=False)
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_failure_at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.Column('wait_until', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('login_throttle')
    op.drop_index('ix_user_session_username', table_name='user_session')
    op.drop_table('user_session')
    op.drop_table('scheduler_heartbeat')
