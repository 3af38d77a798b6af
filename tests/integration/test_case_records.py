"""Every stage's data and every gate decision is a record of its own, in order, never overwritten (issue 16.1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from iphs_flow.engine import clock
from iphs_flow.services import cases
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.queries.records import case_records
from iphs_flow.store.migrate import alembic_config, upgrade
from iphs_flow.store.tables import GateDecision
from tests.conftest import ADMIN
from tests.integration.process_driver import (
    CONCEPT,
    EVALUATION,
    G1_APPROVE,
    G2_APPROVE,
    G3_APPROVE,
    G4_REALISED,
    IMPLEMENTATION,
    OWNER,
    PILOT,
    UNDERSTAND,
    Walk,
    shipped_context,
)


@pytest.fixture
def shipped(db_url):
    context = shipped_context(db_url)
    clock.freeze(datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc))
    yield context
    context.close()


def test_each_gate_round_is_kept_with_its_outcome_reason_and_decider(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Hur många skolor berörs?"})
    walk.complete("G1_supplement", {"supplement_reply": "Fyra skolor i Skärholmen"})
    walk.complete("G1_decide", dict(G1_APPROVE, decision="approved_with_conditions", conditions=[
        {"text": "Förankra med rektorerna", "due_date": "2026-04-30"}]))

    records = case_records(shipped, walk.number, OWNER)
    g1 = records.at_gate("G1_decide")
    assert [(d.round, d.outcome, d.decider) for d in g1] == [(1, "more_info", "lena"),
                                                            (2, "approved_with_conditions", "lena")]
    assert g1[0].data["info_request"] == "Hur många skolor berörs?"
    assert g1[1].conditions == [{"text": "Förankra med rektorerna", "due_date": "2026-04-30"}]
    assert [(r.task_key, r.round, r.actor) for r in records.stages] == [
        ("need", 1, "anna"), ("assign_lead", 1, "lena"), ("G1_supplement", 1, "anna")]
    assert records.stages[0].data["need_owner"] == "Skolchef Eva Ek" and records.stages[0].stage == 0
    kinds = [(r.kind, getattr(r, "task_key", None) or getattr(r, "gate", None)) for r in records.in_order()]
    assert kinds == [("stage", "need"), ("stage", "assign_lead"), ("decision", "G1_decide"),
                     ("stage", "G1_supplement"), ("decision", "G1_decide")]


def test_a_later_form_never_replaces_what_an_earlier_one_recorded(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", G1_APPROVE)
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", CONCEPT)
    walk.complete("G2_decide", G2_APPROVE)
    walk.complete("pilot", PILOT)
    walk.tick_at(datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc))
    walk.complete("evaluation", EVALUATION)
    walk.complete("G3_decide", G3_APPROVE)
    walk.complete("implementation", IMPLEMENTATION)
    walk.advance_to_next_timer()
    walk.complete("G4_followup", G4_REALISED)
    walk.complete("closure", {"lessons_learned": "Förankra tidigt hos förvaltningen"})

    records = case_records(shipped, walk.number, ADMIN)
    lessons = [(r.task_key, r.data.get("lessons_learned")) for r in records.stages if "lessons_learned" in r.data]
    assert lessons == [("evaluation", "Involvera tidigt"), ("closure", "Förankra tidigt hos förvaltningen")]
    assert [d.gate for d in records.decisions] == ["G1_decide", "G2_decide", "G3_decide", "G4_followup"]
    assert [d.reason for d in records.decisions] == [None, None, None, None]


def test_recycling_keeps_both_rounds_of_the_stages_done_twice(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", G1_APPROVE)
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", CONCEPT)
    walk.complete("G2_decide", {"decision": "recycle", "reason": "Fler användare behöver intervjuas",
                                "recycle_to_stage": 1})
    walk.complete("understand", dict(UNDERSTAND, insights="Föräldrar vill ha följeslagare"))
    walk.complete("concept", dict(CONCEPT, pilot_budget=250_000))
    walk.complete("G2_decide", G2_APPROVE)

    records = case_records(shipped, walk.number, ADMIN)
    understand = [r for r in records.stages if r.task_key == "understand"]
    assert [(r.round, r.data["insights"]) for r in understand] == [
        (1, "Mörka passager upplevs farligast"), (2, "Föräldrar vill ha följeslagare")]
    assert [(d.round, d.outcome, d.reason) for d in records.at_gate("G2_decide")] == [
        (1, "recycle", "Fler användare behöver intervjuas"), (2, "approved", None)]
    assert records.latest_per_task()[3].data["pilot_budget"] == 250_000


def test_the_hold_the_process_decides_itself_is_a_record_with_its_resume_date(shipped) -> None:
    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Budget?", "reply_deadline": "2026-04-14"})
    walk.tick_at(clock.now() + timedelta(days=30, minutes=1))
    assert walk.open_keys() == []
    last = case_records(shipped, walk.number, ADMIN).decisions[-1]
    assert (last.outcome, last.decider, last.task_id) == ("on_hold", "system", None)
    assert last.resume_date and last.resume_date > "2026-04-30"


def test_a_refused_or_late_completion_records_nothing(shipped) -> None:
    walk = Walk.to_g1(shipped)
    g1 = walk.task("G1_decide")
    with pytest.raises(InvalidInput):
        cases.complete_task(shipped, g1.id, {"decision": "rejected"}, walk.worker(g1))  # no reason
    walk.complete("G1_decide", G1_APPROVE)
    with pytest.raises(Conflict):
        cases.complete_task(shipped, g1.id, G1_APPROVE, walk.worker(g1))
    with shipped.uow.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(GateDecision)) == 1


def test_the_migration_builds_the_records_of_existing_cases_from_their_history(shipped) -> None:
    from alembic import command

    walk = Walk.to_g1(shipped)
    walk.complete("G1_decide", {"decision": "more_info", "info_request": "Hur många?"})
    walk.complete("G1_supplement", {"supplement_reply": "Fyra"})
    walk.complete("G1_decide", G1_APPROVE)
    before = case_records(shipped, walk.number, ADMIN)

    engine = shipped.uow.engine
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    upgrade(engine)
    after = case_records(shipped, walk.number, ADMIN)

    def same(records):
        return ([(r.task_key, r.round, r.stage, r.form_key, r.data, r.actor, r.at) for r in records.stages],
                [(d.gate, d.round, d.outcome, d.reason, d.decider, d.stage, d.at, d.data) for d in records.decisions])

    assert same(after) == same(before) and len(after.decisions) == 2
