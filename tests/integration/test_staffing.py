"""Empty groups: deploy warns about lanes and decision-table outputs that route tasks to nobody."""

from __future__ import annotations

from click.testing import CliRunner

from iphs_flow.cli import cli
from iphs_flow.config import DEFAULT_LANE_GROUPS
from iphs_flow.services import accounts, design, processes, staffing
from iphs_flow.services.permissions import Actor
from tests.conftest import DESIGNER, ROOT, make_context

SHIPPED = processes.read_model_files([ROOT / "bpmn"])


def test_the_shipped_models_route_tasks_to_lanes_and_decision_table_groups():
    uses = staffing.group_uses(SHIPPED, dict(DEFAULT_LANE_GROUPS))
    groups = {u.group for u in uses}
    assert groups == {"innovation-leads", "gate-deciders", "unit-managers", "department-management",
                      "city-executive-office"}
    [dmn] = {u.file_name for u in uses if u.group == "city-executive-office"}
    assert dmn == "gate_routing.dmn"


def test_a_deploy_warns_about_each_group_without_members_and_still_deploys(sqlite_url):
    ctx = make_context(sqlite_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn")
    accounts.add_user(ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    accounts.add_user(ctx, "bo", "Bo Berg", roles={"approver"}, groups={"gate-deciders", "unit-managers"})
    outcomes = processes.deploy_process(ctx, SHIPPED, DESIGNER)
    assert all(o.created for o in outcomes)
    warnings = {w for o in outcomes for w in o.warnings}
    assert any("'department-management', which has no active members" in w and "decider_group" in w
               for w in warnings)
    assert any("'city-executive-office'" in w for w in warnings)
    assert not any("'gate-deciders'" in w or "'innovation-leads'" in w for w in warnings)
    ctx.close()


def test_a_deactivated_member_leaves_the_group_empty_and_the_demo_users_fill_every_group(sqlite_url):
    ctx = make_context(sqlite_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn")
    accounts.create_demo_users(ctx)
    assert staffing.empty_group_warnings(ctx, SHIPPED) == []
    accounts.set_active(ctx, "lena", False, Actor.system())
    [warning] = staffing.empty_group_warnings(ctx, SHIPPED)
    assert warning.severity == "warning" and warning.element_id == "Lane_innovation_lead"
    assert "the lane 'Innovationsledare'" in warning.message
    ctx.close()


def test_the_designer_check_lists_empty_groups_as_warnings_with_the_element(sqlite_url):
    ctx = make_context(sqlite_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn")
    processes.deploy_process(ctx, SHIPPED, DESIGNER)
    problems = design.validate_draft(ctx, "innovation", DESIGNER)
    empty = [p for p in problems if p.rule == staffing.EMPTY_GROUP]
    assert empty and {p.severity for p in empty} == {"warning"}
    assert {p.file_name for p in empty} == {"innovation.bpmn", "gate_routing.dmn"}
    assert all(p.line for p in empty)
    ctx.close()


def test_the_deploy_command_prints_the_warnings_and_succeeds(sqlite_url, monkeypatch):
    monkeypatch.setenv("IPHS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("IPHS_FORMS_DIR", str(ROOT / "forms"))
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(cli, ["deploy", str(ROOT / "bpmn")])
    assert result.exit_code == 0, result.output
    assert "innovation\tversion 1\tdeployed" in result.stdout
    assert "warning: the lane 'Innovationsledare' sends tasks to the group 'innovation-leads'" in result.stderr
