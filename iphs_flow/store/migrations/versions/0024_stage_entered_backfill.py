"""stage_entered backfilled for cases from before the event existed; indexes for the portfolio's reads

Revision ID: 0024
Revises: 0023

The portfolio's funnel and times in stage are read from `stage_entered` history events,
which services/case_sync.apply_step writes whenever a case's stage changes (since the
portfolio came, revision 0022). A case from before has none, so it was missing from both.
This revision writes them for every case that has none, from what its history does hold:

- its human tasks: the case's stage after each engine step is the highest stage of its
  open tasks, unchanged while none is open (engine/runtime.py), and a task is opened at
  the step's time (`created_at`) and closed at its end (`closed_at`). Replaying the opening
  and closing of the tasks gives each change of stage at the time the engine made it;
- where a case has no task with a stage: its stage records and gate decisions, each a
  sign of the stage the case was in at its time;
- the case's current stage (`case.stage`): if the replay ends elsewhere, a last move to it,
  at the case's last change (`updated_at`); with no other sign, a move into it when the
  case started.

Each event written carries `"backfilled": true` in its data, beside `stage` and `from` as
apply_step writes them, so no one takes it for a live one; the downgrade removes exactly
those. Cases are read and written in batches of BATCH, and only cases with no
`stage_entered` at all are touched, so running the backfill again adds nothing.

The indexes: human_task by assignee, by finisher and by candidate group (with the case
id, so the portfolio's visible cases are index look-ups, not a scan per case); case by
process (the process filter's choices); portfolio_case by mark (the staleness check's
newest summary); and the grouping indexes of gates and stays with the gate's name and the
case id, so every table of the page, for all cases or for most of them, is read from an
index alone.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import iphs_flow.store.tables

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

BATCH = 500
ACTOR = "system"  # as apply_step writes it (case_sync.ENGINE)
ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = iphs_flow.store.tables.UTCDateTime(timezone=True)

# The tables as this revision knows them (a migration must not change when the models do).
_meta = sa.MetaData()
CASE = sa.Table('case', _meta, sa.Column('id', ID), sa.Column('stage', sa.Integer), sa.Column('created_at', WHEN),
                sa.Column('updated_at', WHEN))
TASK = sa.Table('human_task', _meta, sa.Column('id', ID), sa.Column('case_id', ID), sa.Column('stage', sa.Integer),
                sa.Column('created_at', WHEN), sa.Column('closed_at', WHEN))
RECORD = sa.Table('stage_record', _meta, sa.Column('id', ID), sa.Column('case_id', ID),
                  sa.Column('stage', sa.Integer), sa.Column('at', WHEN))
DECISION = sa.Table('gate_decision', _meta, sa.Column('id', ID), sa.Column('case_id', ID),
                    sa.Column('stage', sa.Integer), sa.Column('at', WHEN))
EVENT = sa.Table('case_event', _meta, sa.Column('id', ID, primary_key=True), sa.Column('case_id', ID),
                 sa.Column('at', WHEN), sa.Column('actor', sa.String(200)), sa.Column('kind', sa.String(40)),
                 sa.Column('task_key', sa.String(200)), sa.Column('task_name', sa.String(300)),
                 sa.Column('data', sa.JSON))

INDEXES = (
    ('ix_human_task_assignee_case', 'human_task', ['assignee', 'case_id']),
    ('ix_human_task_closed_by_case', 'human_task', ['closed_by', 'case_id']),
    ('ix_human_task_group_case', 'human_task', ['candidate_group', 'case_id']),
    ('ix_case_process_key', 'case', ['process_key']),
    ('ix_portfolio_case_mark', 'portfolio_case', ['mark']),
)
# The grouping indexes, widened: (name, table, columns before, columns now).
WIDENED = (
    ('ix_portfolio_gate_groups', 'portfolio_gate', ['gate', 'stage', 'outcome', 'last', 'lead_days'],
     ['gate', 'stage', 'outcome', 'last', 'lead_days', 'gate_name', 'case_id']),
    ('ix_portfolio_stay_stage_days', 'portfolio_stay', ['stage', 'working_days'], ['stage', 'working_days', 'case_id']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)
    for name, table, _before, now in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, now, unique=False)
    backfill_stage_entered(op.get_bind())


# Rows that refer to a history row (ON DELETE SET NULL). Deleting history rows makes the
# database look for them once per row deleted, by a scan where no index helps: minutes for
# 60,000 rows. The downgrade indexes them for its delete only.
EVENT_REFERENCES = (('stage_record', 'event_id'), ('gate_decision', 'event_id'), ('lesson', 'event_id'))


def downgrade() -> None:
    for table, column in EVENT_REFERENCES:
        op.create_index(f'ix_0024_{table}_{column}', table, [column], unique=False)
    op.get_bind().execute(EVENT.delete().where(EVENT.c.kind == 'stage_entered',
                                               EVENT.c.data['backfilled'].as_boolean().is_(True)))
    for table, column in EVENT_REFERENCES:
        op.drop_index(f'ix_0024_{table}_{column}', table_name=table)
    for name, table, before, _now in WIDENED:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, before, unique=False)
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)


# ---------------------------------------------------------------- the backfill


def backfill_stage_entered(bind: Any, batch: int = BATCH) -> int:
    """Write the stage_entered events of every case that has none; returns how many were written."""
    has_one = sa.exists().where(EVENT.c.case_id == CASE.c.id, EVENT.c.kind == 'stage_entered')
    ids = list(bind.execute(sa.select(CASE.c.id).where(~has_one).order_by(CASE.c.id)).scalars())
    written = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        rows = [{"case_id": case_id, "at": at, "actor": ACTOR, "kind": "stage_entered", "task_key": None,
                 "task_name": None, "data": {"stage": stage, "from": before, "backfilled": True}}
                for case_id, moves in _moves_of(bind, chunk).items() for at, stage, before in moves]
        if rows:
            bind.execute(EVENT.insert(), rows)
            written += len(rows)
    return written


def _moves_of(bind: Any, ids: list[int]) -> dict[int, list[tuple[datetime, int, int | None]]]:
    """(when, stage, stage before) of each change of stage of these cases, oldest first."""
    tasks: dict[int, list[Any]] = defaultdict(list)
    for row in bind.execute(sa.select(TASK.c.case_id, TASK.c.id, TASK.c.stage, TASK.c.created_at, TASK.c.closed_at)
                            .where(TASK.c.case_id.in_(ids), TASK.c.stage.is_not(None))):
        tasks[row.case_id].append(row)
    signs: dict[int, list[tuple[datetime, int, int, int]]] = defaultdict(list)
    taskless = [case_id for case_id in ids if case_id not in tasks]
    for order, table in enumerate((RECORD, DECISION)):
        if not taskless:
            break
        for row in bind.execute(sa.select(table.c.case_id, table.c.id, table.c.stage, table.c.at)
                                .where(table.c.case_id.in_(taskless), table.c.stage.is_not(None))):
            signs[row.case_id].append((row.at, order, row.id, row.stage))
    out = {}
    for case in bind.execute(sa.select(CASE.c.id, CASE.c.stage, CASE.c.created_at, CASE.c.updated_at)
                             .where(CASE.c.id.in_(ids))):
        if tasks.get(case.id):
            moves = replay_tasks(tasks[case.id])
        else:
            moves = _follow((at, stage) for at, _o, _i, stage in sorted(signs.get(case.id, [])))
        current = moves[-1][1] if moves else None
        if case.stage is not None and case.stage != current:
            last = moves[-1][0] if moves else None
            at = case.created_at if last is None else max(last, case.updated_at or last)
            moves.append((at, case.stage, current))
        if moves:
            out[case.id] = moves
    return out


def replay_tasks(tasks: Iterable[Any]) -> list[tuple[datetime, int, int | None]]:
    """The changes of stage that the opening and closing of these tasks (id, stage, created_at, closed_at) made.

    After each change the case is in the highest stage of its open tasks, or stays where it
    was when none is open. Changes at one time are taken openings first, each in the order
    the tasks were made: a step opens its new tasks before it closes the old ones (their
    `closed_at` is a moment later), and with one time for several steps (a clock that
    stood still) the tasks' order still tells the steps apart.
    """
    changes = []
    for task in tasks:
        changes.append((task.created_at, 0, task.id, task.stage))
        if task.closed_at is not None:
            changes.append((task.closed_at, 1, task.id, task.stage))
    changes.sort(key=lambda c: (c[0], c[1], c[2]))
    open_stages: dict[int, int] = {}
    moves: list[tuple[datetime, int, int | None]] = []
    current: int | None = None
    for at, closing, task_id, stage in changes:
        if closing:
            open_stages.pop(task_id, None)
        else:
            open_stages[task_id] = stage
        if open_stages:
            highest = max(open_stages.values())
            if highest != current:
                moves.append((at, highest, current))
                current = highest
    return moves


def _follow(signs: Iterable[tuple[datetime, int]]) -> list[tuple[datetime, int, int | None]]:
    """The changes of stage along signs (when, stage) of the stage a case was in, oldest first."""
    moves: list[tuple[datetime, int, int | None]] = []
    current: int | None = None
    for at, stage in signs:
        if stage != current:
            moves.append((at, stage, current))
            current = stage
    return moves
