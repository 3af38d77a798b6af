"""Versions side by side, moving cases between them, and administrators' case operations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import case_admin, cases, processes, timers, versions
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD, fixture_files

ORIGINAL = fixture_files("review_loop.bpmn")["review_loop.bpmn"]
RENAMED = ORIGINAL.replace(b"Skriv utkast", b"Skriv ett utkast")
# Version 3 has no 'draft' task: start goes straight to the counting script.
WITHOUT_DRAFT = RENAMED.replace(b'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="draft" />',
                                b'<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="count" />')
WITHOUT_DRAFT = WITHOUT_DRAFT.replace(WITHOUT_DRAFT[WITHOUT_DRAFT.index(b'<bpmn:userTask id="draft"'):
                                                    WITHOUT_DRAFT.index(b'<bpmn:scriptTask id="count"')], b"")
WITHOUT_DRAFT = (WITHOUT_DRAFT.replace(b'<bpmn:flowNodeRef>draft</bpmn:flowNodeRef>', b"")
                 .replace(b'<bpmn:sequenceFlow id="f2" sourceRef="draft" targetRef="count" />', b"")
                 .replace(b'<bpmn:sequenceFlow id="f_again" sourceRef="decide" targetRef="draft" />',
                          b'<bpmn:sequenceFlow id="f_again" sourceRef="decide" targetRef="count" />')
                 .replace(b'<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>',
                          b'<bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f_again</bpmn:incoming>'
                          b'<bpmn:outgoing>f3</bpmn:outgoing>'))


def deploy(ctx, content: bytes) -> int:
    return processes.deploy_process(ctx, {"review_loop.bpmn": content}, DESIGNER)[0].version


def test_versions_are_listed_with_who_deployed_and_running_cases(ctx) -> None:
    deploy(ctx, ORIGINAL)
    cases.start_case(ctx, "review_loop", {}, ANNA)
    deploy(ctx, RENAMED)
    listed = versions.list_versions(ctx, "review_loop", DESIGNER)
    assert [(v.version, v.deployed_by, v.running_cases) for v in listed] == [(1, "dora", 1), (2, "dora", 0)]
    with pytest.raises(Forbidden):
        versions.list_versions(ctx, "review_loop", ANNA)


def test_a_readable_diff_names_the_elements_that_changed(ctx) -> None:
    deploy(ctx, ORIGINAL)
    deploy(ctx, RENAMED)
    deploy(ctx, WITHOUT_DRAFT)
    assert [(c.element_id, c.change) for c in versions.diff_versions(ctx, "review_loop", 1, 2, DESIGNER)] == [
        ("draft", "changed")]
    changes = {(c.element_id, c.change) for c in versions.diff_versions(ctx, "review_loop", 2, 3, DESIGNER)}
    assert {("draft", "removed"), ("f2", "removed"), ("f1", "changed"), ("count", "changed")} <= changes


def test_a_case_moves_to_a_new_version_after_a_preview_and_keeps_its_data(ctx) -> None:
    deploy(ctx, ORIGINAL)
    case = cases.start_case(ctx, "review_loop", {"title": "Flytta mig"}, ANNA)
    deploy(ctx, RENAMED)
    plan = versions.preview_migration(ctx, case.number, ADMIN)
    assert plan.possible and plan.changed == ["Skriv utkast (draft)"] and plan.reset == ["Skriv utkast (draft)"]
    moved = versions.migrate_case(ctx, case.number, ADMIN)
    assert moved.process_version == 2
    assert [t.name for t in moved.open_tasks] == ["Skriv ett utkast"]
    view = cases.complete_task(ctx, moved.open_tasks[0].id, {"text": "x"}, ANNA)
    assert [t.name for t in view.open_tasks] == ["Granska utkast"]
    history = cases.get_case(ctx, case.number, ADMIN).history
    migrated = [e for e in history if e.kind == "case_migrated"]
    assert migrated[0].data["from"] == 1 and migrated[0].data["to"] == 2 and migrated[0].actor == "adam"


def test_a_case_on_a_removed_task_is_refused_and_left_as_it_was(ctx) -> None:
    deploy(ctx, ORIGINAL)
    case = cases.start_case(ctx, "review_loop", {}, ANNA)
    deploy(ctx, WITHOUT_DRAFT)
    plan = versions.preview_migration(ctx, case.number, ADMIN)
    assert not plan.possible and "Skriv utkast (draft)" in plan.blocking[0]
    with pytest.raises(Conflict, match="removed in the new version"):
        versions.migrate_case(ctx, case.number, ADMIN)
    assert cases.get_case(ctx, case.number, ADMIN).case.process_version == 1
    with pytest.raises(Forbidden):
        versions.migrate_case(ctx, case.number, LEAD)


def test_a_suspended_case_neither_takes_completions_nor_fires_timers(ctx, frozen_clock) -> None:
    processes.deploy_process(ctx, fixture_files("timers.bpmn"), DESIGNER)
    case = cases.start_case(ctx, "timers", {"start_date": "2026-03-16"}, ANNA)
    case_admin.suspend_case(ctx, case.number, ADMIN, "Utreds")
    clock.advance(timedelta(days=5))
    assert timers.fire_due_timers(ctx).fired == 0
    resumed = case_admin.resume_case(ctx, case.number, ADMIN)
    assert resumed.status == "running"
    assert timers.fire_due_timers(ctx).fired == 1  # the timer that fell due meanwhile
    task = task_queries.list_tasks(ctx, LEAD)[0]
    case_admin.suspend_case(ctx, case.number, ADMIN)
    with pytest.raises(Conflict, match="suspended"):
        cases.complete_task(ctx, task.id, {"approved": True}, LEAD)


def test_terminating_needs_a_reason_and_cancels_open_tasks(ctx) -> None:
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), DESIGNER)
    case = cases.start_case(ctx, "review_loop", {}, ANNA)
    with pytest.raises(InvalidInput):
        case_admin.terminate_case(ctx, case.number, ADMIN, " ")
    with pytest.raises(Forbidden):
        case_admin.terminate_case(ctx, case.number, LEAD, "Dubblett")
    done = case_admin.terminate_case(ctx, case.number, ADMIN, "Dubblett av IPHS 2026/0002")
    assert done.status == "terminated" and done.open_tasks == []
    history = cases.get_case(ctx, case.number, ADMIN).history
    assert history[-1].kind == "case_terminated" and history[-1].data["reason"] == "Dubblett av IPHS 2026/0002"
    with pytest.raises(Conflict):
        case_admin.resume_case(ctx, case.number, ADMIN)
