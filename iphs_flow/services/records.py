"""Keep what each completed task recorded: a stage record, or a gate decision (issue 16 point 1).

Called inside the transaction that completes the task, so the record, the task's
completion and the case state are written together or not at all. Records are only
ever appended: the n-th completion of a task (or decision at a gate) is round n.
"""

from __future__ import annotations

from typing import Any

from iphs_flow.engine.clock import now
from iphs_flow.engine.runtime import Notification, StepResult
from iphs_flow.engine.vocabulary import HOLD_OUTCOMES, gate_outcome, is_gate_form
from iphs_flow.store.tables import Case, CaseEvent, GateDecision, HumanTask, StageRecord
from iphs_flow.store.unit_of_work import Transaction

from .following import announce_decision
from .lessons import holds_lesson
from .lessons import record_for_completion as record_lesson


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def record_completion(tx: Transaction, case: Case, row: HumanTask, form: dict[str, Any] | None,
                      data: dict[str, Any], actor: str, history: dict[str, Any]) -> CaseEvent:
    """Write the history row of `row` completed by `actor` (task_completed, with `history` as its
    data) and append the record of it with `data` (what the form submitted); returns the history row.

    The round is counted by the INSERT itself (max + 1 of the case's earlier records), in
    the same transaction as before, without a query of its own. A stage record that holds no
    lesson goes in with its history row (on PostgreSQL one statement writes both).
    """
    outcome = gate_outcome(data)
    is_gate = outcome is not None and (form is None or is_gate_form(form.get("schema")))
    values = {"case_id": case.id, "actor": actor, "kind": "task_completed", "task_key": row.task_key,
              "task_name": row.name, "data": history, "at": now()}
    record = StageRecord(case_id=case.id, task_id=row.id, stage=row.stage, task_key=row.task_key, task_name=row.name,
                         form_key=row.form_key, data=dict(data), actor=actor, at=values["at"])
    if not is_gate and not holds_lesson(row.form_key, None, data):
        return tx.records.add_stage_record_with_event(values, record)
    event = tx.events.add_now(**values)
    # The lesson it holds, if any (issue 17): a record of its own, in this transaction.
    record_lesson(tx.session, case.id, row.form_key, row.task_key, row.stage, data, outcome if is_gate else None,
                  actor, event)
    if is_gate:
        conditions = data.get("conditions")
        _announced(tx, case, tx.records.add_gate_decision(GateDecision(
            case_id=case.id, task_id=row.id, event=event, stage=row.stage, gate=row.task_key, gate_name=row.name,
            form_key=row.form_key, round=tx.records.next_gate_round_sql(case.id, row.task_key), outcome=outcome,
            reason=_text(data.get("reason")) or _text(data.get("comment")),
            conditions=list(conditions) if isinstance(conditions, list) and outcome == "approved_with_conditions"
            else [],
            resume_date=_text(data.get("resume_date")) if outcome in HOLD_OUTCOMES else None,
            data=dict(data), decider=actor, at=event.at)))
        return event
    record.event = event
    tx.records.add_stage_record(record)  # the round: counted by the INSERT
    return event


DECISION_TEMPLATE = "decision"  # the mail a process sends when a decision is taken


def record_engine_decision(tx: Transaction, case: Case, note: Notification, result: StepResult,
                           event: CaseEvent) -> GateDecision | None:
    """A decision the process takes by itself (no reply in 30 days puts the case on hold) is a record too.

    Only for steps no person took (timers): a person's gate decision is recorded with
    its task, and its decision mail must not record it twice.
    """
    if note.template != DECISION_TEMPLATE:
        return None
    outcome = note.params.get("decision")
    if not isinstance(outcome, str) or not outcome:
        return None
    gate = note.about_task or note.source
    names = {step.bpmn_id: step.name for step in result.finished}
    resume = note.params.get("resume_date") or result.data.get("resume_date")
    return _announced(tx, case, tx.records.add_gate_decision(GateDecision(
        case_id=case.id, task_id=None, event=event, stage=case.stage, gate=gate,
        gate_name=tx.records.gate_name(case.id, gate) or names.get(note.source, gate),
        form_key=None, round=tx.records.next_gate_round(case.id, gate), outcome=outcome,
        reason=_text(note.params.get("reason")), conditions=[],
        resume_date=_text(resume) if outcome in HOLD_OUTCOMES else None,
        data=dict(note.params), decider="system", at=event.at)))


def _announced(tx: Transaction, case: Case, decision: GateDecision) -> GateDecision:
    """A recorded decision is also news for the case's followers (services/following.py)."""
    announce_decision(tx, case, decision)
    return decision


def decision_details(outcome: Any, data: dict[str, Any]) -> dict[str, Any]:
    """What the decision mail must tell besides the outcome: the question, the conditions, the resume date."""
    wanted: tuple[str, ...] = ()
    if outcome == "more_info":
        wanted = ("info_request", "reply_deadline")
    elif outcome == "approved_with_conditions":
        wanted = ("conditions",)
    elif outcome in HOLD_OUTCOMES:
        wanted = ("resume_date",)
    return {key: data[key] for key in wanted if data.get(key) not in (None, "", [])}


REMINDER_TEMPLATES = frozenset({"reminder", "pilot_ending", "inactivity"})


def _nearness(note: Notification) -> float:
    """How near the deadline a reminder is: fewer days left, or more days passed, is nearer."""
    params = note.params
    for key in ("days_left",):
        if isinstance(params.get(key), int | float):
            return -float(params[key])
    for key in ("working_day", "day", "days"):
        if isinstance(params.get(key), int | float):
            return float(params[key])
    return 0.0


def collapse_reminders(notes: list[Notification]) -> list[Notification]:
    """Reminders of the same kind to the same people about the same task that fall due in one step
    (a pilot ending today is due for its 30- and its 7-day reminder at once) collapse into the nearest."""
    nearest: dict[tuple[str, str, str | None], Notification] = {}
    for note in notes:
        if note.template in REMINDER_TEMPLATES:
            key = (note.template, note.to, note.about_task)
            if key not in nearest or _nearness(note) >= _nearness(nearest[key]):
                nearest[key] = note
    kept = {id(n) for n in nearest.values()}
    return [n for n in notes if n.template not in REMINDER_TEMPLATES or id(n) in kept]
