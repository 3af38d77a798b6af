"""The decision brief on a gate task: the facts its criteria ask about, read from the case's records.

The facts are what each earlier stage recorded (the newest round of each task): the
fields its form requires before the next gate, which are the ones the gates judge
(need, target group and need owner; concept, benefits, budget and pilot plan; pilot
dates and indicators; results, feedback, cost and benefit, recommendation). Beside
them: the owner's replies to requests for more information at this gate, with the
question asked; earlier decisions at this gate; the case's attachments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.vocabulary import CONDITION_FORMS, SUPPLEMENT_FORMS, is_gate_form
from iphs_flow.store.tables import CaseAttachment

from ..cases import visible_task
from ..permissions import Actor
from ..registration import withheld_from
from .records import GateDecisionView, StageRecordView, records_in, redacted_records


@dataclass(frozen=True)
class BriefFact:
    """One earlier stage's record and the fields of it the brief shows (the form's required ones)."""

    record: StageRecordView
    fields: list[str]


@dataclass(frozen=True)
class SupplementReply:
    question: str | None
    asked_by: str | None
    record: StageRecordView


@dataclass(frozen=True)
class BriefAttachment:
    id: int
    filename: str
    size: int
    uploaded_by: str


@dataclass(frozen=True)
class DecisionBrief:
    gate: str
    facts: list[BriefFact]
    supplements: list[SupplementReply]
    earlier: list[GateDecisionView]
    conditions: list[StageRecordView]
    attachments: list[BriefAttachment]
    forms: dict[str, Any]  # the forms that asked for the facts, to show them with their labels


def _key_fields(form: dict[str, Any] | None, data: dict[str, Any]) -> list[str]:
    """The form's required fields (what a gate may demand), in form order; all answered ones without a form."""
    if not form:
        return sorted(data)
    schema = form.get("schema") or {}
    required = set(schema.get("required") or [])
    order = [n for n in (form.get("ui") or {}).get("ui:order", []) if n in required]
    return order + [n for n in schema.get("properties", {}) if n in required and n not in order]


def decision_brief(ctx: AppContext, task_id: int, actor: Actor) -> DecisionBrief:
    """The brief for gate task `task_id`, for those who may see its case."""

    with ctx.uow.read() as tx:
        row, case = visible_task(tx, task_id, actor)
        gate = row.task_key
        forms = dict(case.process_version.forms)

        withheld = withheld_from(tx, actor, case)
        records = redacted_records(records_in(tx.session, case.id), withheld)
        files = tx.session.execute(select(CaseAttachment.id, CaseAttachment.filename, CaseAttachment.size,
                                          CaseAttachment.uploaded_by).where(CaseAttachment.case_id == case.id)
                                   .order_by(CaseAttachment.id)).all()
        files = [f for f in files if not withheld.hides_attachment(f.id)]
    facts = []
    for record in records.latest_per_task():
        form = forms.get(record.form_key) if record.form_key else None
        if record.form_key in SUPPLEMENT_FORMS or record.form_key in CONDITION_FORMS \
                or (form and is_gate_form(form.get("schema"))):
            continue
        facts.append(BriefFact(record, _key_fields(form, record.data)))
    conditions = [r for r in records.stages if r.form_key in CONDITION_FORMS]
    supplements = []
    ordered = records.in_order()
    for index, record in enumerate(ordered):
        if not isinstance(record, StageRecordView) or record.form_key not in SUPPLEMENT_FORMS:
            continue
        asked = next((d for d in reversed(ordered[:index]) if isinstance(d, GateDecisionView)
                      and d.outcome == "more_info"), None)
        if asked is not None and asked.gate != gate:
            continue
        question = asked.data.get("info_request") if asked is not None else None
        supplements.append(SupplementReply(question if isinstance(question, str) else None,
                                           asked.decider if asked else None, record))
    return DecisionBrief(gate=gate, facts=facts, supplements=supplements,
                         earlier=records.at_gate(gate), conditions=conditions,
                         attachments=[BriefAttachment(f.id, f.filename, f.size, f.uploaded_by) for f in files],
                         forms={k: forms[k] for k in {r.form_key for r in records.stages} if k and k in forms})
