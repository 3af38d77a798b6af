"""Deploy refuses only what cannot run: models from Camunda Modeler and others deploy and run."""

from __future__ import annotations

from datetime import datetime

import pytest

from iphs_flow.app import create_app
from iphs_flow.engine import model_checks
from iphs_flow.services import accounts, cases, processes
from iphs_flow.services.errors import InvalidProcess
from iphs_flow.services.permissions import Actor
from tests.bpmn_graph import end, node, process, start, user
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD, MANAGER, make_context
from tests.integration.web_session import PASSWORD, login
from tests.integration.web_world import post_form

EVALUATOR = Actor("eva", frozenset({"idea_owner"}), frozenset({"evaluators"}))

CAMUNDA_TASK = ('<bpmn:userTask id="review" name="Granska" camunda:formKey="embedded:app:forms/formula.html" '
                'camunda:candidateGroups="evaluators, innovation-leads" camunda:dueDate="2026-05-04">'
                '</bpmn:userTask>')
ASSIGNED_TASK = '<bpmn:userTask id="sign" name="Signera" camunda:formKey="formula" camunda:assignee="${signer}" />'
DOCUMENTED = ('<bpmn:userTask id="call" name="Ring idéägaren">'
              "<bpmn:documentation>Ring idéägaren och bekräfta budgeten.\n\nSkriv inget här.</bpmn:documentation>"
              "</bpmn:userTask>")


def _camunda_model() -> bytes:
    return process("camunda_style", [start(), CAMUNDA_TASK, ASSIGNED_TASK, DOCUMENTED, end()],
                   ["start>review", "review>sign", "sign>call", "call>end"], lane=None)


def test_a_camunda_model_in_no_lane_deploys_with_warnings_and_its_attributes_are_read(ctx) -> None:
    outcome = processes.deploy_process(ctx, {"c.bpmn": _camunda_model()}, DESIGNER)
    assert [o.key for o in outcome] == ["camunda_style"]
    view = cases.start_case(ctx, "camunda_style", {"signer": "bo"}, ANNA)
    [review] = view.open_tasks
    assert review.form_key == "formula"
    assert review.candidate_group == "evaluators"  # the first of camunda:candidateGroups
    assert review.due_at == datetime.fromisoformat("2026-05-04T00:00:00+02:00")
    view = cases.complete_task(ctx, review.id, {"divisor": 1}, EVALUATOR)
    [sign] = view.open_tasks
    assert (sign.assignee, sign.form_key) == ("bo", "formula")  # camunda:assignee="${signer}"
    view = cases.complete_task(ctx, sign.id, {"divisor": 1}, MANAGER)
    [call] = view.open_tasks
    # No lane and no group: the fallback group gets it; no form: a "mark as done" task.
    assert (call.candidate_group, call.form_key) == ("innovation-leads", None)
    done = cases.complete_task(ctx, call.id, {}, LEAD)
    assert done.status == "completed"


def test_the_deploy_checks_warn_about_what_they_read_differently(ctx) -> None:
    problems = model_checks.check_files({"c.bpmn": _camunda_model()}, ctx.settings.lane_groups)
    assert all(p.severity == "warning" for p in problems), problems
    text = " ".join(p.message for p in problems)
    assert "only the first candidate group 'evaluators'" in text
    assert "fallback group 'innovation-leads'" in text
    assert '"mark as done"' in text


def test_without_a_fallback_group_a_task_in_no_lane_is_refused(sqlite_url) -> None:
    strict = make_context(sqlite_url, fallback_group="")
    try:
        with pytest.raises(InvalidProcess, match="in no lane"):
            processes.deploy_process(strict, {"c.bpmn": _camunda_model()}, DESIGNER)
    finally:
        strict.close()


def test_a_task_without_a_form_shows_its_documentation_and_a_mark_as_done_button(sqlite_url) -> None:
    ctx = make_context(sqlite_url)
    try:
        accounts.add_user(ctx, "lena", "Lena", password=PASSWORD, roles={"idea_owner", "innovation_lead"},
                          groups={"innovation-leads"})
        accounts.add_user(ctx, "anna", "Anna", password=PASSWORD, roles={"idea_owner"})
        xml = process("call_only", [start(), DOCUMENTED, end()], ["start>call", "call>end"],
                      lane="Innovationsledare")
        processes.deploy_process(ctx, {"c.bpmn": xml}, DESIGNER)
        view = cases.start_case(ctx, "call_only", {}, ANNA)
        [task] = view.open_tasks
        app = create_app(context=ctx)
        client = app.test_client()
        assert login(client, "lena").status_code == 302
        page = client.get(f"/tasks/{task.id}").get_data(as_text=True)
        assert "<p>Ring idéägaren och bekräfta budgeten.</p>" in page
        assert "Markera som klar" in page
        response = post_form(client, f"/tasks/{task.id}", {"_action": "submit"})
        assert response.status_code == 302
        assert cases.get_case(ctx, view.number, ADMIN).case.status == "completed"
    finally:
        ctx.close()


def test_an_inclusive_gateway_without_default_deploys_and_no_match_is_an_incident_naming_it(ctx) -> None:
    xml = process("inclusive", [start(), node("inclusiveGateway", "which"), user("a"), user("b"),
                                node("inclusiveGateway", "join"), end()],
                  ["start>which", ("which", "a", "x > 1"), ("which", "b", "x > 5"), "a>join", "b>join", "join>end"])
    processes.deploy_process(ctx, {"i.bpmn": xml}, DESIGNER)
    both = cases.start_case(ctx, "inclusive", {"x": 6}, ANNA)
    assert sorted(t.task_key for t in both.open_tasks) == ["a", "b"]
    none = cases.start_case(ctx, "inclusive", {"x": 0}, ANNA)
    assert none.status == "incident"
    assert "(which)" in none.incident and "no outgoing flow" in none.incident
