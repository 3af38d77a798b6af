"""portfolio analytics: summaries of each case's history (portfolio_case, _stay, _gate) and an event index

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_index('ix_case_event_kind_case_id', 'case_event', ['kind', 'case_id'], unique=False)
    op.create_table('portfolio_case',
    sa.Column('case_id', ID, nullable=False),
    sa.Column('mark', sa.BigInteger(), nullable=False),
    sa.Column('unit', sa.String(length=300), nullable=True),
    sa.Column('unit_key', sa.String(length=300), nullable=True),
    sa.Column('goals', sa.Integer(), nullable=False),
    sa.Column('stages', sa.Integer(), nullable=False),
    sa.Column('final_outcome', sa.String(length=40), nullable=True),
    sa.Column('implemented', sa.Boolean(), nullable=False),
    sa.Column('pilot_requested', sa.BigInteger(), nullable=True),
    sa.Column('pilot_approved', sa.BigInteger(), nullable=True),
    sa.Column('implementation_requested', sa.BigInteger(), nullable=True),
    sa.Column('implementation_approved', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id')
    )
    op.create_index('ix_portfolio_case_unit_key', 'portfolio_case', ['unit_key'], unique=False)
    op.create_table('portfolio_stay',
    sa.Column('case_id', ID, nullable=False),
    sa.Column('stage', sa.Integer(), nullable=False),
    sa.Column('working_days', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('case_id', 'stage')
    )
    op.create_table('portfolio_gate',
    sa.Column('decision_id', ID, nullable=False),
    sa.Column('case_id', ID, nullable=False),
    sa.Column('gate', sa.String(length=200), nullable=False),
    sa.Column('gate_name', sa.String(length=300), nullable=False),
    sa.Column('stage', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('lead_days', sa.Integer(), nullable=True),
    sa.Column('last', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['decision_id'], ['gate_decision.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('decision_id')
    )
    op.create_index('ix_portfolio_gate_case_id', 'portfolio_gate', ['case_id'], unique=False)
    op.create_index('ix_gate_decision_at', 'gate_decision', ['at'], unique=False)
    op.create_index('ix_portfolio_case_counts', 'portfolio_case', ['stages', 'final_outcome', 'implemented'],
                    unique=False)
    op.create_index('ix_portfolio_case_goals', 'portfolio_case', ['goals'], unique=False)
    op.create_index('ix_portfolio_stay_stage_days', 'portfolio_stay', ['stage', 'working_days'], unique=False)
    op.create_index('ix_portfolio_gate_groups', 'portfolio_gate', ['gate', 'stage', 'outcome', 'last', 'lead_days'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_portfolio_gate_groups', table_name='portfolio_gate')
    op.drop_index('ix_portfolio_stay_stage_days', table_name='portfolio_stay')
    op.drop_index('ix_portfolio_case_goals', table_name='portfolio_case')
    op.drop_index('ix_portfolio_case_counts', table_name='portfolio_case')
    op.drop_index('ix_gate_decision_at', table_name='gate_decision')
    op.drop_index('ix_portfolio_gate_case_id', table_name='portfolio_gate')
    op.drop_table('portfolio_gate')
    op.drop_table('portfolio_stay')
    op.drop_index('ix_portfolio_case_unit_key', table_name='portfolio_case')
    op.drop_table('portfolio_case')
    op.drop_index('ix_case_event_kind_case_id', table_name='case_event')
