"""Weeding (gallring) happens only by a retention rule, after an administrator approves the list."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from iphs_flow.engine import clock
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, attachments, drafts, jobs, processes, retention
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput
from iphs_flow.store.tables import Case, CaseAttachment, CaseEvent, Notification, TaskDraft
from tests.conftest import ROOT, T0, make_context
from tests.integration.process_driver import OWNER, Walk
from tests.people import ADMIN, DESIGNER, LEAD, MANAGER

SUGGESTION = {"title": "Fler papperskorgar", "suggestion": "Fler papperskorgar i parken", "unit": "Parkenheten"}
YEARS = timedelta(days=365)


@pytest.fixture
def ctx(db_url, tmp_path):
    context = make_context(db_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                           attachments_dir=tmp_path / "files")
    processes.deploy_process(context, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    accounts.add_user(context, "anna", "Anna Andersson", email="anna@stad.example")
    clock.freeze(T0)
    retention.install_default_rules(context, ADMIN)
    yield context
    clock.reset()
    context.close()


def suggestion(ctx, decision: str) -> Walk:
    walk = Walk.start(ctx, "improvement")
    walk.complete("suggestion", SUGGESTION)
    attachments.add_attachment(ctx, walk.number, "foto.png", io.BytesIO(b"\x89PNG\r\n\x1a\nbild"), OWNER)
    answer = {"decision": decision, "reason": "Inte i år"} if decision != "do_it" else {
        "decision": "do_it", "responsible": "Parkenheten"}
    walk.complete("improvement_decide", answer, MANAGER)
    return walk


def stored_file(ctx, case_id: int) -> str:
    with ctx.uow.read() as tx:
        return tx.session.scalars(select(CaseAttachment.stored_name).where(CaseAttachment.case_id == case_id)).one()


def count(ctx, model, *where) -> int:
    with ctx.uow.read() as tx:
        return int(tx.session.scalar(select(func.count()).select_from(model).where(*where)))


def test_the_default_decisions_are_installed_once(ctx) -> None:
    rules = retention.list_rules(ctx, ADMIN)
    assert [(r.document_type, r.process_key, r.keep_days) for r in rules] == [
        ("task_draft", None, 730), ("notification", None, 730), ("case", "improvement", 1825),
        ("case", "innovation", None)]
    assert retention.install_default_rules(ctx, ADMIN) == []
    with pytest.raises(InvalidInput) as refused:
        retention.add_rule(ctx, ADMIN, document_type="case", keep_days=-1, decision="")
    assert set(refused.value.fields) == {"keep_days", "decision", "process_key"}
    with pytest.raises(Forbidden):
        retention.add_rule(ctx, LEAD, document_type="task_draft", keep_days=1, decision="x")


def test_nothing_is_weeded_before_approval_and_then_only_what_is_due(ctx) -> None:
    declined, done = suggestion(ctx, "not_now"), suggestion(ctx, "do_it")
    open_walk = Walk.start(ctx, "improvement")
    drafts.save_draft(ctx, open_walk.task("suggestion").id, {"title": "Halvfärdigt"}, OWNER)
    jobs.process_due_jobs(ctx)
    assert count(ctx, Notification) > 0
    clock.freeze(T0 + 3 * YEARS)
    fresh = Walk.start(ctx, "improvement")
    drafts.save_draft(ctx, fresh.task("suggestion").id, {"title": "Ny"}, OWNER)

    proposed = retention.propose_weeding(ctx, ADMIN)
    kinds = sorted((i.document_type, i.case_number) for i in proposed.items)
    assert ("task_draft", open_walk.number) in kinds and ("task_draft", fresh.number) not in kinds
    assert not any(t == "case" for t, _ in kinds), "closed three years ago: kept five"
    assert all("Halvfärdigt" not in i.description for i in proposed.items)  # never the content
    with pytest.raises(Conflict):
        retention.propose_weeding(ctx, ADMIN)
    assert Scheduler(ctx).housekeeping() == 0, "not approved: nothing is weeded"
    assert count(ctx, TaskDraft) == 2

    retention.approve_weeding(ctx, proposed.id, ADMIN)
    weeded = Scheduler(ctx).housekeeping()
    assert weeded == len(proposed.items)
    assert count(ctx, TaskDraft) == 1 and count(ctx, Notification) == 0
    applied = retention.weeding_lists(ctx, ADMIN)[0]
    assert applied.status == "applied" and applied.count("weeded") == len(proposed.items)

    clock.freeze(T0 + 6 * YEARS)
    later = retention.propose_weeding(ctx, ADMIN)
    cases_due = [i.case_number for i in later.items if i.document_type == "case"]
    assert cases_due == [declined.number], "only the declined suggestion: done ones match no outcome"
    files = {walk.case_id: ctx.settings.attachments_dir / stored_file(ctx, walk.case_id) for walk in (declined, done)}
    assert all(path.is_file() for path in files.values())
    retention.approve_weeding(ctx, later.id, ADMIN)
    retention.apply_approved_weeding(ctx)
    assert count(ctx, Case, Case.number == declined.number) == 0
    assert count(ctx, Case, Case.number == done.number) == 1
    assert count(ctx, CaseEvent, CaseEvent.case_id == declined.case_id) == 0
    assert not files[declined.case_id].exists() and files[done.case_id].is_file()
    record = next(i for i in retention.weeding_lists(ctx, ADMIN)[0].items if i.case_number == declined.number)
    assert record.status == "weeded" and "Fler papperskorgar" not in record.description


def test_innovation_cases_are_kept_for_ever(ctx) -> None:
    from iphs_flow.services import case_admin

    walk = Walk.start(ctx, "innovation")
    case_admin.terminate_case(ctx, walk.case_id, ADMIN, "Dubblett")
    retention.add_rule(ctx, ADMIN, document_type="case", process_key="innovation", keep_days=1,
                       decision="Ett misstag: motsäger evighetsbeslutet")
    clock.freeze(T0 + 50 * YEARS)
    proposed = retention.propose_weeding(ctx, ADMIN)
    assert walk.number not in [i.case_number for i in proposed.items if i.document_type == "case"]


def test_what_changed_after_the_list_was_made_is_skipped(ctx) -> None:
    walk = Walk.start(ctx, "improvement")
    task_id = walk.task("suggestion").id
    drafts.save_draft(ctx, task_id, {"title": "Gammalt"}, OWNER)
    clock.freeze(T0 + 3 * YEARS)
    proposed = retention.propose_weeding(ctx, ADMIN)
    drafts.save_draft(ctx, task_id, {"title": "Nytt"}, OWNER)  # worked on again: no longer due
    retention.approve_weeding(ctx, proposed.id, ADMIN)
    retention.apply_approved_weeding(ctx)
    item = next(i for i in retention.weeding_lists(ctx, ADMIN)[0].items if i.document_type == "task_draft")
    assert item.status == "skipped"
    assert drafts.load_draft(ctx, task_id, OWNER)[0] == {"title": "Nytt"}


def test_an_administrator_decides_rules_and_approves_lists_in_the_web(db_url) -> None:
    from tests.integration.api_world import build_world
    from tests.integration.web_world import client_for, post_form

    context, app = build_world(db_url)
    try:
        adam = client_for(app, "adam")
        assert "Gallring" in adam.get("/admin/records").get_data(as_text=True)
        refused = post_form(adam, "/admin/retention/rules", {"document_type": "task_draft", "keep_years": "två",
                                                             "decision": ""})
        assert refused.status_code == 422 and 'id="rule-keep_years"' in refused.get_data(as_text=True)
        added = post_form(adam, "/admin/retention/rules", {"document_type": "notification", "keep_years": "1,5",
                                                           "decision": "KS 2026/123"})
        assert added.status_code == 302
        assert [(r.keep_days, r.decision) for r in retention.list_rules(context, ADMIN)] == [(548, "KS 2026/123")]
        assert post_form(adam, "/admin/retention/lists", {}).status_code == 302
        assert post_form(adam, "/admin/retention/lists", {}).status_code == 409
        made = retention.weeding_lists(context, ADMIN)[0]
        assert post_form(adam, f"/admin/retention/lists/{made.id}/approve", {}).status_code == 302
        assert retention.weeding_lists(context, ADMIN)[0].status == "approved"
        assert post_form(adam, f"/admin/retention/lists/{made.id}/cancel", {}).status_code == 409
        assert client_for(app, "lena").get("/admin/retention").status_code in (403, 404)
    finally:
        context.close()


def test_the_command_line_proposes_approves_and_weeds(ctx) -> None:
    from click.testing import CliRunner

    from iphs_flow.cli import cli

    walk = Walk.start(ctx, "improvement")
    drafts.save_draft(ctx, walk.task("suggestion").id, {"title": "Gammalt"}, OWNER)
    clock.freeze(T0 + 3 * YEARS)
    runner = CliRunner()
    listed = runner.invoke(cli, ["retention", "rules"], obj=ctx)
    assert listed.exit_code == 0 and "for ever" in listed.output
    proposed = runner.invoke(cli, ["retention", "propose"], obj=ctx)
    assert proposed.exit_code == 0 and "task_draft" in proposed.output
    list_id = retention.weeding_lists(ctx, ADMIN)[0].id
    assert runner.invoke(cli, ["retention", "approve", str(list_id)], obj=ctx).exit_code == 0
    applied = runner.invoke(cli, ["retention", "apply"], obj=ctx)
    assert applied.exit_code == 0 and applied.output.startswith("1 weeded")
    assert runner.invoke(cli, ["retention", "approve", str(list_id)], obj=ctx).exit_code == 1
