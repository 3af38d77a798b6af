"""stage records and gate decisions as records of their own, built for existing cases from their history

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

from typing import Any

from alembic import op
import sqlalchemy as sa
import iphs_flow.store.tables


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('stage_record',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('case_id', _ID, nullable=False),
    sa.Column('task_id', _ID, nullable=True),
    sa.Column('event_id', _ID, nullable=True),
    sa.Column('stage', sa.Integer(), nullable=True),
    sa.Column('task_key', sa.String(length=200), nullable=False),
    sa.Column('task_name', sa.String(length=300), nullable=False),
    sa.Column('form_key', sa.String(length=200), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['case_event.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'task_key', 'round', name='uq_stage_record_case_task_round')
    )
    with op.batch_alter_table('stage_record', schema=None) as batch_op:
        batch_op.create_index('ix_stage_record_case_id', ['case_id', 'id'], unique=False)
    op.create_table('gate_decision',
    sa.Column('id', _ID, autoincrement=True, nullable=False),
    sa.Column('case_id', _ID, nullable=False),
    sa.Column('task_id', _ID, nullable=True),
    sa.Column('event_id', _ID, nullable=True),
    sa.Column('stage', sa.Integer(), nullable=True),
    sa.Column('gate', sa.String(length=200), nullable=False),
    sa.Column('gate_name', sa.String(length=300), nullable=False),
    sa.Column('form_key', sa.String(length=200), nullable=True),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('resume_date', sa.String(length=10), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('decider', sa.String(length=200), nullable=False),
    sa.Column('at', iphs_flow.store.tables.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['case.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['case_event.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'gate', 'round', name='uq_gate_decision_case_gate_round')
    )
    with op.batch_alter_table('gate_decision', schema=None) as batch_op:
        batch_op.create_index('ix_gate_decision_case_id', ['case_id', 'id'], unique=False)
    _build_records_from_history(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table('gate_decision', schema=None) as batch_op:
        batch_op.drop_index('ix_gate_decision_case_id')
    op.drop_table('gate_decision')
    with op.batch_alter_table('stage_record', schema=None) as batch_op:
        batch_op.drop_index('ix_stage_record_case_id')
    op.drop_table('stage_record')


# ---------------------------------------------------------------- the data migration
# A frozen copy of the rules in services/records.py and engine/vocabulary.py as they were
# when this revision was written: a migration must not change when the code does.


def _outcome(data: dict[str, Any]) -> str | None:
    decision = data.get("decision")
    if isinstance(decision, str) and decision:
        return decision
    approved = data.get("approved")
    if isinstance(approved, bool):
        return "approved" if approved else "rejected"
    return None


def _is_gate_form(form: Any) -> bool:
    schema = form.get("schema") if isinstance(form, dict) else None
    properties = (schema or {}).get("properties") or {}
    approved = properties.get("approved")
    return "decision" in properties or (isinstance(approved, dict) and approved.get("type") == "boolean")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _build_records_from_history(bind: Any) -> None:
    """One record per `task_completed` event, with its task row's form and stage where it still exists."""
    meta = sa.MetaData()
    event = sa.Table('case_event', meta, autoload_with=bind)
    task = sa.Table('human_task', meta, autoload_with=bind)
    case = sa.Table('case', meta, autoload_with=bind)
    version = sa.Table('process_version', meta, autoload_with=bind)
    stage_record = sa.Table('stage_record', meta, autoload_with=bind)
    gate_decision = sa.Table('gate_decision', meta, autoload_with=bind)

    forms_of_case: dict[int, dict[str, Any]] = {}
    for case_id, forms in bind.execute(sa.select(case.c.id, version.c.forms)
                                       .join(version, version.c.id == case.c.process_version_id)):
        forms_of_case[case_id] = forms if isinstance(forms, dict) else {}
    tasks = {row.id: row for row in bind.execute(sa.select(task.c.id, task.c.form_key, task.c.stage, task.c.name))}
    rounds: dict[tuple[str, int, str], int] = {}
    stages, gates = [], []
    query = sa.select(event).where(event.c.kind == 'task_completed').order_by(event.c.id)
    for row in bind.execute(query):
        payload = row.data if isinstance(row.data, dict) else {}
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        task_id = payload.get("task_id") if isinstance(payload.get("task_id"), int) else None
        task_row = tasks.get(task_id) if task_id is not None else None
        key = row.task_key or (task_row.name if task_row else None) or "task"
        name = row.task_name or (task_row.name if task_row else None) or key
        form_key = task_row.form_key if task_row else None
        stage = task_row.stage if task_row else None
        form = forms_of_case.get(row.case_id, {}).get(form_key) if form_key else None
        outcome = _outcome(data)
        if outcome is not None and (form is None or _is_gate_form(form)):
            n = rounds[("gate", row.case_id, key)] = rounds.get(("gate", row.case_id, key), 0) + 1
            conditions = data.get("conditions")
            gates.append(dict(
                case_id=row.case_id, task_id=task_row.id if task_row else None, event_id=row.id, stage=stage, gate=key,
                gate_name=name, form_key=form_key, round=n, outcome=outcome,
                reason=_text(data.get("reason")) or _text(data.get("comment")),
                conditions=list(conditions) if isinstance(conditions, list) and outcome == "approved_with_conditions"
                else [],
                resume_date=_text(data.get("resume_date")) if outcome == "on_hold" else None,
                data=dict(data), decider=row.actor, at=row.at))
        else:
            n = rounds[("stage", row.case_id, key)] = rounds.get(("stage", row.case_id, key), 0) + 1
            stages.append(dict(
                case_id=row.case_id, task_id=task_row.id if task_row else None, event_id=row.id, stage=stage, task_key=key,
                task_name=name, form_key=form_key, round=n, data=dict(data), actor=row.actor, at=row.at))
    if stages:
        bind.execute(stage_record.insert(), stages)
    if gates:
        bind.execute(gate_decision.insert(), gates)
