"""portfolio summaries carry the fields the filters read (period, process, status, unit, goals)

The portfolio page counts its cases with GROUP BYs over per-case summaries of the history
(portfolio_case, portfolio_stay, portfolio_gate, revision 0022). The filters (the period a
case was active or started in, its process, status, unit and Agenda 2030 goals) were on
the case row and on portfolio_case only, so a selection was found as a list of case ids
and every aggregate looked each of its rows up in that list: a broad one ("the last
year", most cases) cost a lookup per summary row, the page's largest cost. Each summary
row now carries its case's filter fields, so each table filters on its own columns, and
its grouping index carries them too and is read alone.

- every summary: created_at, closed_at, process_key, status (from the case row); the
  stays and gates also unit_key and goals (from the case's summary);
- portfolio_gate.reasoned: a reason given for a decision that did not approve, so the
  reasons' total comes from the gates' aggregate;
- the grouping indexes of stays, gates and cases end with those fields and the case id;
  portfolio_case is indexed by unit and process with them, for the filter form's choices.

Existing summaries are filled in here from the case rows, the cases' summaries and the
gate decisions (the same values the next rebuild writes), so no summary has to be made
again. The downgrade drops the fields and puts the indexes back as revision 0024 left them.

Revision ID: 0026
Revises: 0025
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)
# What the filters read, as services/queries/portfolio.py filters on it (PortfolioSelectable).
SELECTABLE = ['created_at', 'closed_at', 'status', 'process_key', 'unit_key', 'goals']
FROM_CASE = (('created_at', WHEN, False), ('closed_at', WHEN, True), ('process_key', sa.String(100), False),
             ('status', sa.String(20), False))
FROM_SUMMARY = (('unit_key', sa.String(300), True), ('goals', sa.Integer(), False))
# The outcomes that approve (services/queries/portfolio.py: APPROVING), as of this revision.
APPROVING = ('approved', 'approved_with_conditions', 'realised', 'do_it')
# The grouping indexes: (name, table, columns before, columns now).
INDEXES = (
    ('ix_portfolio_stay_stage_days', 'portfolio_stay', ['stage', 'working_days', 'case_id'],
     ['stage', 'working_days', *SELECTABLE, 'case_id']),
    ('ix_portfolio_gate_groups', 'portfolio_gate',
     ['gate', 'stage', 'outcome', 'last', 'lead_days', 'gate_name', 'case_id'],
     ['gate', 'stage', 'outcome', 'last', 'lead_days', 'reasoned', 'gate_name', *SELECTABLE, 'case_id']),
    ('ix_portfolio_case_counts', 'portfolio_case', ['stages', 'final_outcome', 'implemented'],
     ['stages', 'final_outcome', 'implemented', *SELECTABLE, 'case_id']),
    ('ix_portfolio_case_goals', 'portfolio_case', ['goals'], ['goals', *SELECTABLE[:-1], 'case_id']),
)

# The units and processes the filter form offers, for the cases in the period.
OFFERED = ('ix_portfolio_case_offered', 'portfolio_case',
           ['unit', 'process_key', 'created_at', 'closed_at', 'status', 'unit_key', 'goals'])


def upgrade() -> None:
    for name, table, _before, _now in INDEXES:
        op.drop_index(name, table_name=table)
    for table in ('portfolio_case', 'portfolio_stay', 'portfolio_gate'):
        with op.batch_alter_table(table) as batch:
            for column, type_, _nullable in FROM_CASE:
                batch.add_column(sa.Column(column, type_, nullable=True))
            if table != 'portfolio_case':
                for column, type_, _nullable in FROM_SUMMARY:
                    batch.add_column(sa.Column(column, type_, nullable=True))
            if table == 'portfolio_gate':
                batch.add_column(sa.Column('reasoned', sa.Boolean(), nullable=True))
    # One UPDATE per table (each leaves a dead row behind on PostgreSQL until it is vacuumed).
    from_case = ', '.join(name for name, _t, _n in FROM_CASE)
    op.execute(f'UPDATE portfolio_case SET ({from_case}) = '
               f'(SELECT {from_case} FROM "case" c WHERE c.id = portfolio_case.case_id)')
    approving = ', '.join(f"'{o}'" for o in APPROVING)
    for table in ('portfolio_stay', 'portfolio_gate'):  # a case's stays and gates without its summary: rebuilt with it
        columns = ', '.join(f'c.{name}' for name, _t, _n in FROM_CASE)
        reasoned = ('' if table == 'portfolio_stay' else
                    ', reasoned = COALESCE((SELECT d.reason IS NOT NULL AND d.outcome NOT IN '
                    f'({approving}) FROM gate_decision d WHERE d.id = portfolio_gate.decision_id), false)')
        op.execute(f'UPDATE {table} SET ({from_case}, unit_key, goals) = '
                   f'(SELECT {columns}, s.unit_key, COALESCE(s.goals, 0) FROM "case" c '
                   f'LEFT JOIN portfolio_case s ON s.case_id = c.id WHERE c.id = {table}.case_id){reasoned}')
    for table in ('portfolio_case', 'portfolio_stay', 'portfolio_gate'):
        with op.batch_alter_table(table) as batch:
            for column, type_, nullable in FROM_CASE + (FROM_SUMMARY if table != 'portfolio_case' else ()):
                if not nullable:
                    batch.alter_column(column, existing_type=type_, nullable=False)
            if table == 'portfolio_gate':
                batch.alter_column('reasoned', existing_type=sa.Boolean(), nullable=False)
    for name, table, _before, now in INDEXES:
        op.create_index(name, table, now, unique=False)
    op.create_index(*OFFERED, unique=False)
    op.execute('ANALYZE portfolio_case')
    op.execute('ANALYZE portfolio_stay')
    op.execute('ANALYZE portfolio_gate')


def downgrade() -> None:
    op.drop_index(OFFERED[0], table_name=OFFERED[1])
    for name, table, _before, _now in INDEXES:
        op.drop_index(name, table_name=table)
    for table in ('portfolio_gate', 'portfolio_stay', 'portfolio_case'):
        with op.batch_alter_table(table) as batch:
            if table == 'portfolio_gate':
                batch.drop_column('reasoned')
            if table != 'portfolio_case':
                for column, _t, _n in reversed(FROM_SUMMARY):
                    batch.drop_column(column)
            for column, _t, _n in reversed(FROM_CASE):
                batch.drop_column(column)
    for name, table, before, _now in INDEXES:
        op.create_index(name, table, before, unique=False)
