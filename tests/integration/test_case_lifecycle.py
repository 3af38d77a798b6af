"""Cases through the service layer, on a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from iphs_flow.engine import clock
from iphs_flow.services import cases, processes, timers
from iphs_flow.services.errors import Conflict, InvalidInput, InvalidProcess, NotFound
from iphs_flow.services.queries import tasks as task_queries
from iphs_flow.store.tables import Case, CaseEvent, HumanTask, Outbox
from tests.bpmn_builder import script_process
from tests.conftest import ADMIN, ANNA, BERTIL, DESIGNER, LEAD, fixture_files


def deploy(ctx, *names):
    return processes.deploy_process(ctx, fixture_files(*names), DESIGNER)


def snapshot(ctx, case_id):
    """Everything a failed request must leave untouched."""
    with ctx.uow.read() as tx:
        case = tx.session.get(Case, case_id)
        tasks = tx.session.execute(select(HumanTask.id, HumanTask.state).where(HumanTask.case_id == case_id)
                                   .order_by(HumanTask.id)).all()
        events = tx.session.scalar(select(func.count()).select_from(CaseEvent)
                                   .where(CaseEvent.case_id == case_id))
        return (case.version, case.state, case.status, tuple(tasks), events)


def test_deploying_twice_keeps_one_version_and_a_change_makes_a_new_one(ctx) -> None:
    first = deploy(ctx, "review_loop.bpmn")
    again = deploy(ctx, "review_loop.bpmn")
    assert [(o.key, o.version, o.created) for o in first] == [("review_loop", 1, True)]
    assert [(o.key, o.version, o.created) for o in again] == [("review_loop", 1, False)]
    changed = fixture_files("review_loop.bpmn")["review_loop.bpmn"].replace(b"Skriv utkast", b"Skriv ett utkast")
    outcome = processes.deploy_process(ctx, {"review_loop.bpmn": changed}, DESIGNER)
    assert [(o.version, o.created) for o in outcome] == [(2, True)]
    assert processes.get_process(ctx, "review_loop").version == 2


def test_running_cases_stay_on_the_version_they_started_with(ctx) -> None:
    deploy(ctx, "review_loop.bpmn")
    old = cases.start_case(ctx, "review_loop", {"title": "Gammal"}, ANNA)
    changed = fixture_files("review_loop.bpmn")["review_loop.bpmn"].replace(b"Skriv utkast", b"Skriv ett utkast")
    processes.deploy_process(ctx, {"review_loop.bpmn": changed}, DESIGNER)
    new = cases.start_case(ctx, "review_loop", {"title": "Ny"}, ANNA)
    assert (old.process_version, new.process_version) == (1, 2)
    assert old.open_tasks[0].name == "Skriv utkast"
    assert new.open_tasks[0].name == "Skriv ett utkast"
    after = cases.complete_task(ctx, old.open_tasks[0].id, {"text": "x"}, ANNA)
    assert after.process_version == 1 and after.open_tasks[0].name == "Granska utkast"


def test_a_case_gets_a_number_an_inbox_entry_and_history(ctx, frozen_clock) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {"title": "Cykelparkering vid skolor"}, ANNA)
    second = cases.start_case(ctx, "review_loop", {"title": "Andra"}, ANNA)
    assert view.number == "IPHS 2026/0001" and second.number == "IPHS 2026/0002"
    assert view.title == "Cykelparkering vid skolor" and view.status == "running" and view.stage == 1
    [task] = view.open_tasks
    assert (task.name, task.assignee, task.candidate_group) == ("Skriv utkast", "anna", None)
    assert task.due_at.date().isoformat() == "2026-03-19"  # 5 working days after Thursday 12 March

    view = cases.complete_task(ctx, task.id, {"text": "Förslag"}, ANNA)
    [review] = view.open_tasks
    assert (review.name, review.assignee, review.candidate_group) == ("Granska utkast", None, "innovation-leads")
    assert view.stage == 2
    assert [t.name for t in task_queries.list_tasks(ctx, LEAD)] == ["Granska utkast"]
    assert [(t.case_id, t.name) for t in task_queries.list_tasks(ctx, ANNA)] == [(second.id, "Skriv utkast")]
    assert task_queries.list_tasks(ctx, BERTIL) == []

    detail = cases.get_case(ctx, view.number, ANNA)
    kinds = [(e.kind, e.task_key) for e in detail.history]
    assert kinds[0] == ("case_started", None)
    assert ("task_completed", "draft") in kinds and ("step", "count") in kinds
    assert ("task_opened", "review") in kinds
    completed = next(e for e in detail.history if e.kind == "task_completed")
    assert completed.actor == "anna" and completed.data["data"] == {"text": "Förslag"}
    assert detail.data["rounds"] == 1 and detail.data["text"] == "Förslag"


def test_completing_a_task_updates_case_inbox_and_history_together(ctx) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    before = snapshot(ctx, view.id)
    cases.complete_task(ctx, view.open_tasks[0].id, {"text": "x"}, ANNA)
    after = snapshot(ctx, view.id)
    assert after[0] == before[0] + 1
    assert dict(after[3]) == {view.open_tasks[0].id: "completed", view.open_tasks[0].id + 1: "open"}
    assert after[4] > before[4]


@pytest.mark.parametrize("bad", [[1, 2], "text", 42, None])
def test_data_that_is_not_an_object_is_refused_and_changes_nothing(ctx, bad) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    before = snapshot(ctx, view.id)
    with pytest.raises(InvalidInput, match="JSON object"):
        cases.complete_task(ctx, view.open_tasks[0].id, bad, ANNA)
    assert snapshot(ctx, view.id) == before


def test_form_data_that_breaks_the_schema_is_refused_with_field_errors(ctx) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    before = snapshot(ctx, view.id)
    with pytest.raises(InvalidInput) as info:
        cases.complete_task(ctx, view.open_tasks[0].id, {"text": 5}, ANNA)
    assert "text" in info.value.fields
    with pytest.raises(InvalidInput) as info:
        cases.complete_task(ctx, view.open_tasks[0].id, {}, ANNA)
    assert info.value.fields == {"text": ["'text' is a required property"]}
    assert snapshot(ctx, view.id) == before


def test_an_unknown_task_is_not_found_and_a_done_task_is_a_conflict(ctx) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    with pytest.raises(NotFound):
        cases.complete_task(ctx, 999_999, {}, ANNA)
    task_id = view.open_tasks[0].id
    cases.complete_task(ctx, task_id, {"text": "x"}, ANNA)
    before = snapshot(ctx, view.id)
    with pytest.raises(Conflict, match="already completed by anna"):
        cases.complete_task(ctx, task_id, {"text": "again"}, ANNA)
    assert snapshot(ctx, view.id) == before


def test_a_stale_version_is_a_conflict(ctx) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    before = snapshot(ctx, view.id)
    with pytest.raises(Conflict, match="changed since you loaded it"):
        cases.complete_task(ctx, view.open_tasks[0].id, {"text": "x"}, ANNA, expected_version=view.version - 1)
    assert snapshot(ctx, view.id) == before
    cases.complete_task(ctx, view.open_tasks[0].id, {"text": "x"}, ANNA, expected_version=view.version)


def test_starting_an_unknown_process_is_not_found(ctx) -> None:
    with pytest.raises(NotFound, match="no process 'nope'"):
        cases.start_case(ctx, "nope", {}, ANNA)


def test_a_model_with_a_missing_form_is_refused_at_deploy(ctx) -> None:
    xml = fixture_files("review_loop.bpmn")["review_loop.bpmn"].replace(b'value="review"', b'value="no_such_form"')
    with pytest.raises(InvalidProcess, match="no_such_form"):
        processes.deploy_process(ctx, {"review_loop.bpmn": xml}, DESIGNER)
    assert processes.list_processes(ctx) == []


def test_a_lane_without_a_role_is_refused_at_deploy(ctx) -> None:
    xml = fixture_files("review_loop.bpmn")["review_loop.bpmn"].replace(b'name="Innovationsledare"',
                                                                       'name="Okänd roll"'.encode())
    with pytest.raises(InvalidProcess, match="Okänd roll") as info:
        processes.deploy_process(ctx, {"review_loop.bpmn": xml}, DESIGNER)
    assert info.value.element_id == "lane_lead" and info.value.line  # the lane itself, as the designer sees it


def test_a_malicious_model_is_refused_and_nothing_is_stored(ctx) -> None:
    xml = script_process("x = 1").replace(b"<bpmn:definitions", b'<!DOCTYPE d [<!ENTITY e "x">]>\n<bpmn:definitions', 1)
    with pytest.raises(InvalidProcess, match="DOCTYPE"):
        processes.deploy_process(ctx, {"evil.bpmn": xml}, DESIGNER)
    with pytest.raises(InvalidProcess, match="Imports are not allowed") as info:
        processes.deploy_process(ctx, {"evil.bpmn": script_process("import os")}, DESIGNER)
    assert info.value.element_id == "run_script" and info.value.line
    assert processes.list_processes(ctx) == []


def test_a_script_escape_at_run_time_is_an_incident_and_the_database_is_unharmed(ctx) -> None:
    processes.deploy_process(ctx, {"s.bpmn": script_process("x = open('/etc/passwd').read()")}, DESIGNER)
    view = cases.start_case(ctx, "script_case", {}, ANNA)
    after = cases.complete_task(ctx, view.open_tasks[0].id, {"divisor": 1}, ANNA)
    assert after.status == "incident" and "open" in after.incident
    assert after.open_tasks == []
    detail = cases.get_case(ctx, view.number, ANNA)
    assert [e.kind for e in detail.history][-1] == "incident"
    assert "x" not in detail.data
    with ctx.uow.read() as tx:
        assert tx.session.scalar(select(func.count()).select_from(Case)) == 1
    with pytest.raises(Conflict, match="incident|already"):
        cases.complete_task(ctx, view.open_tasks[0].id, {"divisor": 1}, ANNA)
    still = cases.retry_incident(ctx, view.number, ADMIN)
    assert still.status == "incident"


def test_tick_fires_due_timers_and_records_reminders(ctx, frozen_clock) -> None:
    deploy(ctx, "timers.bpmn")
    view = cases.start_case(ctx, "timers", {"start_date": "2026-03-16"}, ANNA)
    assert view.open_tasks == [] and view.next_timer_at is not None
    assert timers.fire_due_timers(ctx).fired == 0  # nothing due yet

    clock.freeze(view.next_timer_at + timedelta(seconds=1))
    assert timers.fire_due_timers(ctx).fired == 1
    [decide] = task_queries.list_tasks(ctx, ADMIN, view.number, everyone=True)
    assert decide.name == "Fatta beslut" and decide.candidate_group == "innovation-leads"

    clock.advance(timedelta(days=11))  # past the day-5 reminder (23 March)
    assert timers.fire_due_timers(ctx).fired == 1
    with ctx.uow.read() as tx:
        [mail] = tx.session.scalars(select(Outbox).where(Outbox.case_id == view.id)).all()
        assert mail.payload["template"] == "reminder" and mail.payload["about_task"] == "decide"
    assert [t.name for t in task_queries.list_tasks(ctx, ADMIN, view.number, everyone=True)] == ["Fatta beslut"]

    clock.advance(timedelta(days=10))  # past working day 10: interrupting escalation
    assert timers.fire_due_timers(ctx).fired == 1
    [escalated] = task_queries.list_tasks(ctx, ADMIN, view.number, everyone=True)
    assert (escalated.name, escalated.candidate_group) == ("Eskalerat beslut", "unit-managers")
    detail = cases.get_case(ctx, view.number, ANNA)
    kinds = [(e.kind, e.task_key) for e in detail.history]
    assert ("timer_fired", "wait") in kinds
    assert ("timer_fired", "reminder_timer") in kinds
    assert ("timer_fired", "escalation_timer") in kinds
    assert ("task_cancelled", "decide") in kinds
    assert ("notification", "remind") in kinds
    with ctx.uow.read() as tx:
        states = dict(tx.session.execute(select(HumanTask.name, HumanTask.state)).all())
    assert states == {"Fatta beslut": "cancelled", "Eskalerat beslut": "open"}


def test_the_stored_case_state_stays_small_in_the_database(ctx) -> None:
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {}, ANNA)
    sizes = []
    for round_no in range(30):
        view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": f"v{round_no}"}, ANNA)
        view = cases.complete_task(ctx, view.open_tasks[0].id, {"approved": False}, LEAD)
        with ctx.uow.read() as tx:
            sizes.append(len(tx.session.get(Case, view.id).state))
    assert max(sizes) <= 1.5 * sizes[0]
    with ctx.uow.read() as tx:
        state = json.loads(tx.session.get(Case, view.id).state)
    assert "spec" not in state


def test_a_form_field_that_would_hide_a_script_helper_is_refused_at_deploy(ctx, tmp_path) -> None:
    import shutil
    from dataclasses import replace

    forms = tmp_path / "forms"
    shutil.copytree(ctx.settings.forms_dir, forms)
    (forms / "draft.schema.json").write_text(
        '{"type": "object", "properties": {"now": {"type": "string"}, "text": {"type": "string"}}}')
    ctx.settings = replace(ctx.settings, forms_dir=forms)
    with pytest.raises(InvalidProcess, match="reserve: now"):
        deploy(ctx, "review_loop.bpmn")


def test_a_completions_history_rows_are_stored_in_the_order_they_happened(ctx) -> None:
    """The person's completion first, then what the engine did after it, then the task it opened;
    the rows nobody needs the ids of are written together (EventRepository.add_later) and must
    still fall in place among the others."""
    deploy(ctx, "review_loop.bpmn")
    view = cases.start_case(ctx, "review_loop", {"title": "Ordning"}, ANNA)
    with ctx.uow.read() as tx:
        before = tx.session.scalar(select(func.max(CaseEvent.id)).where(CaseEvent.case_id == view.id))
    view = cases.complete_task(ctx, view.open_tasks[0].id, {"text": "utkast"}, ANNA)
    view = cases.complete_task(ctx, view.open_tasks[0].id, {"approved": True}, LEAD)
    with ctx.uow.read() as tx:
        rows = tx.session.execute(select(CaseEvent.kind, CaseEvent.task_key).where(
            CaseEvent.case_id == view.id, CaseEvent.id > before).order_by(CaseEvent.id)).all()
    assert [tuple(r) for r in rows] == [
        ("task_completed", "draft"), ("stage_entered", None), ("step", "count"), ("task_opened", "review"),
        ("task_unstaffed", "review"),  # nobody is in the innovation leads' group here
        ("task_completed", "review"), ("step_cancelled", "review_late"), ("step", "decide"), ("step", "done"),
        ("case_closed", None)]


def test_a_versions_forms_edited_in_place_are_read_again_not_served_from_the_copy_kept(ctx) -> None:
    """The forms a completion checks against are kept per version (a deployed version never
    changes); one changed behind the deploy's back (by hand, by a bad migration) is read again."""
    deploy(ctx, "review_loop.bpmn")
    first = cases.start_case(ctx, "review_loop", {}, ANNA)
    second = cases.start_case(ctx, "review_loop", {}, ANNA)
    cases.complete_task(ctx, first.open_tasks[0].id, {"text": "kort"}, ANNA)  # the forms are now kept
    with ctx.uow.write() as tx:
        case = tx.session.get(Case, second.id)
        version = case.process_version
        forms = json.loads(json.dumps(version.forms))
        forms["draft"]["schema"]["properties"]["text"]["minLength"] = 10
        version.forms = forms
        tx.commit()
    with pytest.raises(InvalidInput) as refused:
        cases.complete_task(ctx, second.open_tasks[0].id, {"text": "kort"}, ANNA)
    assert "text" in refused.value.fields
