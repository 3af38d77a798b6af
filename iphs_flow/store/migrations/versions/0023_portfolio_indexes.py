"""portfolio analytics: an index on case_event (kind, case_id) for the stage and start events

Revision ID: 0023
Revises: 0017
"""
from __future__ import annotations

from alembic import op


revision = '0023'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_case_event_kind_case_id', 'case_event', ['kind', 'case_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_event_kind_case_id', table_name='case_event')
