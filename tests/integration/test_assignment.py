"""Who works on a task: claim, unclaim, assign and delegate (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading

import pytest

from iphs_flow.services import accounts, assignment, cases, processes
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from tests.conftest import fixture_files
from tests.integration.api_world import PEOPLE, Browser, build_world, case_at_gate


@pytest.fixture
def people(ctx):
    for username, (name, roles, groups) in PEOPLE.items():
        accounts.add_user(ctx, username, name, roles=roles, groups=groups)
    accounts.add_user(ctx, "britt", "Britt Beslut", roles={"approver"}, groups={"gate-deciders"})
    processes.deploy_process(ctx, fixture_files("gate_decision.bpmn"), Actor.system())
    return {name: accounts.actor_for(ctx, name) for name in [*PEOPLE, "britt"]}


@pytest.fixture
def gate(ctx, people):
    """A case waiting for the gate-deciders' decision; returns the gate task."""
    return case_at_gate(ctx).open_tasks[0]


def _task(ctx, task):
    return next(t for t in cases.get_case(ctx, task.case_id, Actor.system()).case.open_tasks if t.id == task.id)


def _history(ctx, task):
    return [(e.kind, e.actor, e.data) for e in cases.get_case(ctx, task.case_id, Actor.system()).history
            if e.kind.startswith("task_") and e.data.get("task_id") == task.id]


def test_a_group_member_claims_a_task_and_then_only_they_may_complete_it(ctx, people, gate) -> None:
    assert gate.candidate_group == "gate-deciders" and gate.assignee is None
    claimed = assignment.claim_task(ctx, gate.id, people["bo"])
    assert claimed.assignee == "bo"
    with pytest.raises(Forbidden, match="assigned to bo"):
        cases.complete_task(ctx, gate.id, {"approved": True}, people["britt"])
    assert cases.complete_task(ctx, gate.id, {"approved": True}, people["bo"]).status == "completed"
    assert ("task_claimed", "bo", {"task_id": gate.id, "assignee": "bo"}) in _history(ctx, gate)


def test_when_someone_else_claimed_first_the_claim_is_a_conflict_naming_them(ctx, people, gate) -> None:
    assignment.claim_task(ctx, gate.id, people["bo"])
    with pytest.raises(Conflict, match="already claimed by bo"):
        assignment.claim_task(ctx, gate.id, people["britt"])
    assert assignment.claim_task(ctx, gate.id, people["bo"]).assignee == "bo"  # claiming twice is harmless


def test_only_members_of_the_candidate_group_may_claim(ctx, people, gate) -> None:
    with pytest.raises(Forbidden, match="gate-deciders"):
        assignment.claim_task(ctx, gate.id, people["anna"])  # the owner sees the case, but is not a decider
    with pytest.raises(Forbidden):
        assignment.claim_task(ctx, gate.id, people["lena"])
    with pytest.raises(NotFound):
        assignment.claim_task(ctx, gate.id, people["bertil"])  # cannot even see the case
    assert _task(ctx, gate).assignee is None


def test_two_people_claiming_at_the_same_moment_exactly_one_wins(ctx, people, gate) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def claim(who: str) -> None:
        barrier.wait()
        try:
            assignment.claim_task(ctx, gate.id, people[who])
            outcomes.append(f"won:{who}")
        except Conflict:
            outcomes.append(f"lost:{who}")

    threads = [threading.Thread(target=claim, args=(who,)) for who in ("bo", "britt")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if o.startswith("won")]
    assert len(winners) == 1 and len(outcomes) == 2
    assert _task(ctx, gate).assignee == winners[0].split(":")[1]
    assert [k for k, _, _ in _history(ctx, gate)].count("task_claimed") == 1


def test_the_assignee_gives_a_task_back_to_its_group(ctx, people, gate) -> None:
    assignment.claim_task(ctx, gate.id, people["bo"])
    with pytest.raises(Forbidden, match="claimed by bo"):
        assignment.unclaim_task(ctx, gate.id, people["britt"])
    assert assignment.unclaim_task(ctx, gate.id, people["bo"]).assignee is None
    with pytest.raises(Conflict, match="not claimed"):
        assignment.unclaim_task(ctx, gate.id, people["bo"])
    assert assignment.claim_task(ctx, gate.id, people["britt"]).assignee == "britt"
    assert assignment.unclaim_task(ctx, gate.id, people["lena"]).assignee is None  # a lead may release it


def test_an_innovation_lead_assigns_a_task_to_a_named_member_of_its_group(ctx, people, gate) -> None:
    with pytest.raises(Forbidden, match="innovation leads"):
        assignment.assign_task(ctx, gate.id, "britt", people["bo"])
    assigned = assignment.assign_task(ctx, gate.id, "britt", people["lena"])
    assert assigned.assignee == "britt"
    with pytest.raises(Forbidden):
        cases.complete_task(ctx, gate.id, {"approved": True}, people["bo"])
    kind, actor, data = _history(ctx, gate)[-1]
    assert (kind, actor, data["assignee"], data["rescoped"]) == ("task_assigned", "lena", "britt", False)


def test_assigning_outside_the_group_must_be_explicit_and_is_recorded(ctx, people, gate) -> None:
    with pytest.raises(InvalidInput, match="not in gate-deciders") as refused:
        assignment.assign_task(ctx, gate.id, "lars", people["lena"])
    assert "to" in refused.value.fields
    assert _task(ctx, gate).assignee is None
    assert assignment.assign_task(ctx, gate.id, "lars", people["adam"], rescope=True).assignee == "lars"
    assert _history(ctx, gate)[-1][2]["rescoped"] is True
    assert cases.complete_task(ctx, gate.id, {"approved": False}, people["lars"]).status == "completed"


def test_assigning_to_someone_unknown_or_deactivated_is_refused(ctx, people, gate) -> None:
    with pytest.raises(InvalidInput, match="no active user"):
        assignment.assign_task(ctx, gate.id, "nobody", people["lena"])
    accounts.set_active(ctx, "britt", False, people["adam"])
    with pytest.raises(InvalidInput, match="no active user"):
        assignment.assign_task(ctx, gate.id, "britt", people["lena"])


def test_the_assignee_delegates_to_another_member_who_can_then_complete(ctx, people, gate) -> None:
    with pytest.raises(Forbidden, match="only its assignee"):
        assignment.delegate_task(ctx, gate.id, "britt", people["bo"])  # nobody has claimed it yet
    assignment.claim_task(ctx, gate.id, people["bo"])
    with pytest.raises(InvalidInput, match="not in gate-deciders"):
        assignment.delegate_task(ctx, gate.id, "bertil", people["bo"])
    assert assignment.delegate_task(ctx, gate.id, "britt", people["bo"]).assignee == "britt"
    with pytest.raises(Forbidden):
        assignment.delegate_task(ctx, gate.id, "bo", people["bo"])  # it is no longer theirs
    kind, actor, data = _history(ctx, gate)[-1]
    assert (kind, actor, data["previous"], data["assignee"]) == ("task_delegated", "bo", "bo", "britt")
    assert cases.complete_task(ctx, gate.id, {"approved": True}, people["britt"]).status == "completed"


def test_a_personal_task_can_be_delegated_to_anyone_who_then_sees_the_case(ctx, people) -> None:
    view = cases.start_case(ctx, "gate_decision", {"title": "Annas behov"}, people["anna"])
    need = view.open_tasks[0]
    assert need.assignee == "anna" and need.candidate_group is None
    with pytest.raises(Conflict, match="no group"):
        assignment.unclaim_task(ctx, need.id, people["anna"])
    with pytest.raises(NotFound):
        cases.get_case(ctx, view.id, people["bertil"])
    assignment.delegate_task(ctx, need.id, "bertil", people["anna"])
    assert cases.get_case(ctx, view.id, people["bertil"]).case.number == view.number
    assert cases.complete_task(ctx, need.id, {"text": "Bertils text"}, people["bertil"]).status == "running"


def test_assignment_of_a_finished_task_is_a_conflict(ctx, people, gate) -> None:
    assignment.claim_task(ctx, gate.id, people["bo"])
    cases.complete_task(ctx, gate.id, {"approved": True}, people["bo"])
    with pytest.raises(Conflict, match="completed"):
        assignment.claim_task(ctx, gate.id, people["britt"])
    with pytest.raises(Conflict):
        assignment.assign_task(ctx, gate.id, "britt", people["lena"])


def test_the_api_answers_409_when_someone_else_claimed_first(sqlite_url) -> None:
    ctx, app = build_world(sqlite_url)
    accounts.add_user(ctx, "britt", "Britt Beslut", password="correct horse battery", roles={"approver"},
                      groups={"gate-deciders"})
    gate = case_at_gate(ctx).open_tasks[0]
    bo, britt, lena = Browser(app, "bo"), Browser(app, "britt"), Browser(app, "lena")
    assert bo.post(f"/api/v1/tasks/{gate.id}/claim").json["assignee"] == "bo"
    late = britt.post(f"/api/v1/tasks/{gate.id}/claim")
    assert late.status_code == 409 and "claimed by bo" in late.json["detail"]
    assert britt.get("/api/v1/tasks").json == []  # claimed tasks leave the group's inbox
    assert [t["id"] for t in bo.get("/api/v1/tasks").json] == [gate.id]
    refused = lena.post(f"/api/v1/tasks/{gate.id}/assign", {"to": "lars"})
    assert refused.status_code == 422 and "to" in refused.json["errors"]
    assert lena.post(f"/api/v1/tasks/{gate.id}/assign", {"to": "britt"}).json["assignee"] == "britt"
    assert britt.post(f"/api/v1/tasks/{gate.id}/delegate", {"to": "bo"}).json["assignee"] == "bo"
    assert bo.post(f"/api/v1/tasks/{gate.id}/unclaim").json["assignee"] is None
    ctx.close()
