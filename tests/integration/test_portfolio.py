"""Portfolio analytics (services/queries/portfolio.py) over real cases of the shipped innovation process.

The cases are driven through the service layer with the clock frozen and moved, so every
expected figure is worked out by hand from the dates below; working days skip Easter 2026
(Good Friday 3 April, Easter Monday 6 April). Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.engine.calendar import STOCKHOLM, working_days_between
from iphs_flow.services import accounts, processes, versions
from iphs_flow.services.errors import Forbidden, InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import portfolio as pf
from tests.conftest import ROOT
from tests.integration.process_driver import (
    ASSIGN,
    CONCEPT,
    EVALUATION,
    G1_APPROVE,
    G2_APPROVE,
    G3_APPROVE,
    NEED,
    PILOT,
    UNDERSTAND,
    Walk,
    shipped_context,
)
from tests.people import ADMIN, ANNA, DESIGNER, LEAD

T0 = datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc)  # Tuesday before Easter, 09:00 in Stockholm
T1 = datetime(2026, 4, 9, 7, 0, tzinfo=timezone.utc)  # 5 working days later (Easter skipped)
T1B = datetime(2026, 4, 14, 7, 0, tzinfo=timezone.utc)  # 8 working days after T0
T2 = datetime(2026, 4, 16, 7, 0, tzinfo=timezone.utc)  # 5 working days after T1
PILOT_END = datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc)

ERIK = Actor("erik", frozenset({"idea_owner"}))
MAJA = Actor("maja", frozenset({"idea_owner"}))  # erik's manager: no role, someone reports to her
REASON = "Ligger utanför stadens uppdrag"


@pytest.fixture
def ctx(db_url):
    context = shipped_context(db_url)
    accounts.add_user(context, "maja", "Maja Chef", roles={"idea_owner"})
    accounts.add_user(context, "erik", "Erik Medarbetare", roles={"idea_owner"}, manager="maja")
    clock.freeze(T0)
    yield context
    context.close()


def to_g1(ctx, need: dict, owner: Actor = ANNA) -> Walk:
    walk = Walk.start(ctx, owner=owner)
    walk.complete("need", need, owner)
    walk.complete("assign_lead", ASSIGN, LEAD)
    return walk


def rows(portfolio: pf.Portfolio, key: str) -> list[tuple]:
    return [tuple(r) for r in portfolio.table(key).rows]


def three_cases(ctx) -> tuple[Walk, Walk, Walk]:
    """A goes through G1, G2 and G3 into implementation; B is rejected at G1; C waits at G1."""
    a = to_g1(ctx, {**NEED, "need_owner": "Skolchef Eva Ek", "agenda2030_goals": [3, 11]})
    b = to_g1(ctx, {**NEED, "need_owner": "Förskolechef Ola Ek", "agenda2030_goals": [4]})
    c = to_g1(ctx, {**NEED, "need_owner": "Skolchef Eva Ek", "agenda2030_goals": [3]})
    clock.freeze(T1)
    a.complete("G1_decide", G1_APPROVE)
    a.complete("understand", UNDERSTAND)
    a.complete("concept", CONCEPT)  # 300 000 kr for the pilot
    clock.freeze(T1B)
    b.complete("G1_decide", {"decision": "rejected", "reason": REASON})
    clock.freeze(T2)
    a.complete("G2_decide", G2_APPROVE)
    a.complete("pilot", {**PILOT, "budget_granted": 250_000})
    a.tick_at(PILOT_END)
    a.complete("evaluation", EVALUATION)  # 2 000 000 kr to implement
    a.complete("G3_decide", G3_APPROVE)
    return a, b, c


def test_the_portfolio_counts_the_funnel_gates_lead_times_outcomes_goals_and_budget(ctx) -> None:
    a, b, c = three_cases(ctx)
    p = pf.read_portfolio(ctx, LEAD)
    assert p.cases == 3
    funnel = {row[0]: row[1] for row in rows(p, "funnel")}
    assert funnel == {0: 3, 1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 0}
    assert rows(p, "funnel")[1][2] == pytest.approx(33.3)  # one of three got past the need

    gates = {row[0]: row for row in rows(p, "gates")}
    # gate, name, stage, decisions, cases, approved, stopped, other, conversion
    assert gates["G1_decide"][2:] == (0, 2, 2, 1, 1, 0, 50.0)
    assert gates["G2_decide"][2:] == (2, 1, 1, 1, 0, 0, 100.0)
    assert gates["G3_decide"][2:] == (4, 1, 1, 1, 0, 0, 100.0)

    # G1: A waited 5 working days (over Easter), B 8: median 6.5, p90 8.
    lead = {row[0]: row[3:] for row in rows(p, "gate_times")}
    assert lead["G1_decide"] == (2, 6.5, 8.0)
    assert lead["G2_decide"] == (1, 5.0, 5.0)
    # Stage 0: A left it after 5 working days, B (closed at its rejection) after 8; C is still there.
    stages = {row[0]: row[1:] for row in rows(p, "stage_times")}
    assert stages[0] == (2, 6.5, 8.0)
    assert stages[1] == (1, 0.0, 0.0) and stages[2] == (1, 5.0, 5.0)
    assert 5 not in stages  # A is still being implemented

    assert rows(p, "outcomes") == [("rejected", 1, 100.0)]
    assert rows(p, "reasons") == [(b.number, "Behovsprövning (G1)", "rejected", REASON, date(2026, 4, 14))]
    assert p.figures["implemented"]["implemented"] == 1 and p.figures["implemented"]["share_of_cases"] == 33.3

    goals = {row[0]: row[2] for row in rows(p, "goals")}
    assert (goals[3], goals[4], goals[11], goals[1]) == (2, 1, 1, 0)
    budget = {row[0]: row[1:] for row in rows(p, "budget")}
    assert budget["Pilot"] == (1, 300_000, 1, 250_000)  # the pilot's granted budget is what was approved
    assert budget["Implementering"] == (1, 2_000_000, 1, 2_000_000)
    assert budget["Totalt"] == (1, 2_300_000, 1, 2_250_000)

    overdue = {row[0]: row for row in rows(p, "overdue")}
    late = overdue[c.number]  # due 10 working days after T0: 16 April; late by the reference calendar's count
    assert late[2] == "Behovsprövning (G1)" and late[3] == 0 and late[5] == date(2026, 4, 16)
    assert late[6] == working_days_between(datetime.combine(late[5], datetime.min.time(), STOCKHOLM), PILOT_END)


def test_filters_narrow_every_number_to_the_selection(ctx) -> None:
    a, b, c = three_cases(ctx)
    by_unit = pf.read_portfolio(ctx, LEAD, pf.read_filters({"unit": "skolchef eva ek"}))
    assert by_unit.cases == 2 and {row[0]: row[1] for row in rows(by_unit, "funnel")}[0] == 2
    assert "Förskolechef Ola Ek" in by_unit.units  # the filter still offers every unit
    by_goal = pf.read_portfolio(ctx, LEAD, pf.read_filters({"goal": "4"}))
    assert by_goal.cases == 1 and rows(by_goal, "outcomes") == [("rejected", 1, 100.0)]
    closed = pf.read_portfolio(ctx, LEAD, pf.read_filters({"status": "completed"}))
    assert closed.cases == 1 and rows(closed, "budget")[-1][1:] == (0, 0, 0, 0)
    assert pf.read_portfolio(ctx, LEAD, pf.read_filters({"process": "innovation"})).cases == 3
    started_later = pf.read_portfolio(ctx, LEAD, pf.read_filters({"period": "started", "from": "2026-04-01"}))
    assert started_later.cases == 0 and rows(started_later, "gates") == []
    active_after_b = pf.read_portfolio(ctx, LEAD, pf.read_filters({"from": "2026-04-15", "to": "2026-12-31"}))
    assert active_after_b.cases == 2  # B closed on 14 April


def test_a_selection_counts_the_same_whether_it_holds_most_cases_or_few(ctx, monkeypatch) -> None:
    three_cases(ctx)
    unit = pf.read_filters({"unit": "Skolchef Eva Ek"})
    most = pf.read_portfolio(ctx, LEAD, unit)  # A and C of three: by the filter fields, the lists along their index
    assert most.cases == 2
    for owner in ("Rektor Per Ek", "Fritidschef"):  # two more cases of other units: now A and C of five
        to_g1(ctx, {**NEED, "need_owner": owner, "agenda2030_goals": [3]})
    few = pf.read_portfolio(ctx, LEAD, unit)  # by the filter fields, the lists from the matching rows
    monkeypatch.setattr(pf, "FEW", 2)
    by_ids = pf.read_portfolio(ctx, LEAD, unit)  # two of five is few enough to be read as case ids
    with ctx.uow.read() as tx:
        assert pf.select_cases(tx.session, LEAD, unit).cases is not None
    assert few.cases == by_ids.cases == 2 and pf.read_portfolio(ctx, LEAD).cases == 5
    for key in pf.TABLE_KEYS:
        assert rows(few, key) == rows(most, key) == rows(by_ids, key), key


def test_a_rebuild_of_many_summaries_leaves_the_planners_fresh_statistics(ctx, monkeypatch) -> None:
    from sqlalchemy import text

    three_cases(ctx)
    monkeypatch.setattr(pf, "ANALYSE_AFTER", 3)
    with ctx.uow.write() as tx:  # as after a deploy: every summary to be made again
        tx.session.execute(text("DELETE FROM portfolio_case"))
        tx.commit()
    assert pf.read_portfolio(ctx, LEAD).cases == 3
    with ctx.uow.read() as tx:
        if tx.session.get_bind().dialect.name == "sqlite":
            analysed = set(tx.session.scalars(text("SELECT tbl FROM sqlite_stat1")))
        else:
            analysed = set(tx.session.scalars(text(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL")))
    assert {"portfolio_case", "portfolio_stay", "portfolio_gate"} <= analysed


@pytest.mark.parametrize(("raw", "field"), [
    ({"from": "2026-13-01"}, "from"), ({"from": "1 april"}, "from"), ({"from": "2026-05-01", "to": "2026-04-01"}, "to"),
    ({"goal": "18"}, "goal"), ({"goal": "x"}, "goal"), ({"status": "lost"}, "status"), ({"period": "ever"}, "period"),
    ({"unit": "x" * 301}, "unit")])
def test_bad_filters_are_refused_with_a_message_for_the_field(raw, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        pf.read_filters(raw)
    assert field in refused.value.fields


def test_an_unknown_process_is_refused(ctx) -> None:
    with pytest.raises(InvalidInput) as refused:
        pf.read_portfolio(ctx, LEAD, pf.read_filters({"process": "nope"}))
    assert "process" in refused.value.fields


def test_only_leads_administrators_and_managers_read_the_portfolio(ctx) -> None:
    assert pf.read_portfolio(ctx, ADMIN).sees_all
    assert not pf.read_portfolio(ctx, MAJA).sees_all
    for person in (ANNA, ERIK, DESIGNER):
        with pytest.raises(Forbidden):
            pf.read_portfolio(ctx, person)


def test_a_hidden_case_never_changes_a_number_for_a_manager_who_may_not_see_it(ctx) -> None:
    eriks = to_g1(ctx, {**NEED, "need_owner": "Fritidschef", "agenda2030_goals": [5]}, ERIK)
    clock.freeze(T1)
    eriks.complete("G1_decide", {"decision": "rejected", "reason": "Redan löst"})
    before = pf.read_portfolio(ctx, MAJA)
    assert before.cases == 1 and rows(before, "reasons")[0][0] == eriks.number

    hidden = to_g1(ctx, {**NEED, "need_owner": "Hemlig enhet", "agenda2030_goals": [5, 6]})
    hidden.complete("G1_decide", {"decision": "rejected", "reason": "Hemligt skäl"})
    hidden2 = to_g1(ctx, {**NEED, "need_owner": "Fritidschef", "agenda2030_goals": [5]})
    clock.freeze(datetime(2026, 5, 15, 7, 0, tzinfo=timezone.utc))  # hidden2's G1 (due 23 April) is overdue
    after = pf.read_portfolio(ctx, MAJA)
    assert after.cases == before.cases and after.units == before.units == ("Fritidschef",)
    for key in pf.TABLE_KEYS:
        if key != "overdue":
            assert rows(after, key) == rows(before, key), key
    assert hidden2.number not in {r[0] for r in rows(after, "overdue")}
    assert pf.read_portfolio(ctx, MAJA, pf.read_filters({"unit": "Hemlig enhet"})).cases == 0
    everything = pf.read_portfolio(ctx, LEAD)
    assert everything.cases == 3 and hidden2.number in {r[0] for r in rows(everything, "overdue")}


def test_the_visible_case_ids_read_once_are_exactly_the_case_pages_rule(ctx) -> None:
    from sqlalchemy import select

    from iphs_flow.services.queries.full_text import visible_cases
    from iphs_flow.store.tables import Case

    # Maja now also manages a lead: every case with a task for the innovation leads is hers to see.
    accounts.add_user(ctx, "lina", "Lina Ledare", roles={"innovation_lead"}, groups={"innovation-leads"},
                      manager="maja")
    three_cases(ctx)
    to_g1(ctx, {**NEED, "need_owner": "Fritidschef"}, ERIK)
    Walk.start(ctx, owner=MAJA)  # her own case, with no task for anyone she manages
    bo = Actor("bo", frozenset({"idea_owner", "approver"}), frozenset({"unit-managers", "gate-deciders"}))
    with ctx.uow.read() as tx:
        for actor in (MAJA, ERIK, ANNA, bo, Actor("nobody", frozenset({"idea_owner"}))):
            rule = sorted(tx.session.scalars(select(Case.id).where(visible_cases(tx.session, actor))))
            assert pf.visible_case_ids(tx.session, actor) == rule, actor.username
        assert len(pf.visible_case_ids(tx.session, MAJA)) == 5  # the leads' three, erik's and her own
        assert pf.visible_case_ids(tx.session, LEAD) is None and pf.visible_case_ids(tx.session, ADMIN) is None


def test_a_secret_reason_is_left_out_of_the_reasons_but_the_decision_still_counts(ctx) -> None:
    from iphs_flow.store.tables import SecrecyMarking

    walk = to_g1(ctx, NEED)
    walk.complete("G1_decide", {"decision": "rejected", "reason": "Affärshemlighet hos leverantören"})
    with ctx.uow.write() as tx:
        tx.session.add(SecrecyMarking(case_id=walk.case_id, target_kind="field", target="reason",
                                      provision="OSL 31 kap. 16 §", marked_by="adam"))
        tx.commit()
    p = pf.read_portfolio(ctx, LEAD)
    assert rows(p, "reasons") == [] and rows(p, "outcomes") == [("rejected", 1, 100.0)]
    assert p.figures["reasons"] == 0


def test_a_secret_reason_is_left_out_of_the_list_and_its_total_for_a_broad_selection_and_a_narrow_one(
        ctx, monkeypatch) -> None:
    from iphs_flow.store.tables import SecrecyMarking

    secret = to_g1(ctx, {**NEED, "need_owner": "Skolchef Eva Ek"})
    open_ = to_g1(ctx, {**NEED, "need_owner": "Skolchef Eva Ek"})
    for owner in ("Skolchef Eva Ek", "Skolchef Eva Ek", "Rektor Per Ek"):  # three more, still at G1
        to_g1(ctx, {**NEED, "need_owner": owner})
    secret.complete("G1_decide", {"decision": "rejected", "reason": "Affärshemlighet hos leverantören"})
    open_.complete("G1_decide", {"decision": "rejected", "reason": REASON})
    with ctx.uow.write() as tx:
        tx.session.add(SecrecyMarking(case_id=secret.case_id, target_kind="field", target="comment",
                                      provision="OSL 31 kap. 16 §", marked_by="adam"))
        tx.commit()
    broad, narrow = pf.read_filters({"unit": "skolchef eva ek"}), pf.read_filters({"status": "completed"})
    assert pf.read_portfolio(ctx, LEAD).cases == 5  # the summaries made
    with ctx.uow.read() as tx:  # four of five cases, read along the decisions; two of five, from their summaries
        assert not pf.select_cases(tx.session, LEAD, broad).narrow and pf.select_cases(tx.session, LEAD, narrow).narrow
    for few in (pf.FEW, 2):  # ... and, two of five being few, as case ids
        monkeypatch.setattr(pf, "FEW", few)
        for filters in (broad, narrow, pf.Filters()):
            p = pf.read_portfolio(ctx, LEAD, filters)
            assert [r[0] for r in rows(p, "reasons")] == [open_.number] and p.figures["reasons"] == 1, filters
            assert {r[0]: r[4] for r in rows(p, "gates")}["G1_decide"] == 2  # the secret one's decision still counts


def test_a_case_migrated_to_another_version_gives_the_same_numbers_as_its_twin(ctx) -> None:
    twin = to_g1(ctx, NEED)
    moved = to_g1(ctx, NEED)
    clock.freeze(T1)
    for walk in (twin, moved):
        walk.complete("G1_decide", G1_APPROVE)
        walk.complete("understand", UNDERSTAND)
    before = pf.read_portfolio(ctx, LEAD)
    files = processes.read_model_files([ROOT / "bpmn"])
    files["innovation.bpmn"] = files["innovation.bpmn"].replace(
        b"Planera och starta piloten", b"Planera piloten och starta den")
    processes.deploy_process(ctx, files, DESIGNER)
    assert versions.migrate_case(ctx, moved.number, ADMIN).process_version == 2
    after = pf.read_portfolio(ctx, LEAD)
    for key in pf.TABLE_KEYS:
        assert rows(after, key) == rows(before, key), key
    clock.freeze(T2)
    for walk in (twin, moved):
        walk.complete("concept", CONCEPT)
        walk.complete("G2_decide", G2_APPROVE)
    p = pf.read_portfolio(ctx, LEAD)
    gates = {row[0]: row for row in rows(p, "gates")}
    assert gates["G2_decide"][3:] == (2, 2, 2, 0, 0, 100.0)
    assert {row[0]: row[3:] for row in rows(p, "gate_times")}["G2_decide"] == (2, 0.0, 0.0)
    assert {row[0]: row[1:] for row in rows(p, "stage_times")}[2] == (2, 5.0, 5.0)  # T1 to T2
    assert {row[0]: row[1] for row in rows(p, "funnel")}[3] == 2
    assert {row[0]: row[1:] for row in rows(p, "budget")}["Pilot"] == (2, 600_000, 2, 600_000)


def test_fast_working_days_agree_with_the_calendar_across_holidays() -> None:
    start = datetime(2026, 12, 18, 15, 0, tzinfo=timezone.utc)
    for end in (datetime(2026, 12, 23, 23, 30, tzinfo=timezone.utc), datetime(2027, 1, 7, 8, 0, tzinfo=timezone.utc),
                datetime(2026, 6, 18, 8, 0, tzinfo=timezone.utc), datetime(2027, 6, 30, 8, 0, tzinfo=timezone.utc)):
        assert pf.working_days(start, end) == working_days_between(start, end)
    assert pf.median([3, 1, 2]) == 2 and pf.median([1, 2, 3, 10]) == 2.5 and pf.p90(list(range(1, 11))) == 9
    assert pf.median([]) is None and pf.p90([]) is None


def test_the_migration_gives_existing_summaries_the_filter_fields_a_rebuild_writes_and_its_downgrade_drops_them(
        ctx) -> None:
    from alembic import command
    from sqlalchemy import inspect, select

    from iphs_flow.store.migrate import alembic_config, upgrade
    from iphs_flow.store.tables import PortfolioCase, PortfolioGate, PortfolioStay

    a, b, _c = three_cases(ctx)
    selections = [{}, {"from": "2026-04-15"}, {"period": "started", "to": "2026-03-31"}, {"status": "running"},
                  {"process": "innovation", "unit": "Skolchef Eva Ek"}, {"goal": "4"}]
    expected = [pf.read_portfolio(ctx, LEAD, pf.read_filters(s)) for s in selections]
    tables = (PortfolioCase, PortfolioStay, PortfolioGate)

    def summaries() -> list[list[tuple]]:
        with ctx.uow.read() as tx:
            return [sorted(tuple(r) for r in tx.session.execute(select(*t.__table__.columns))) for t in tables]

    written = summaries()  # as summarise wrote them
    with ctx.uow.read() as tx:  # B's rejection gave a reason; A's approvals did not
        assert sorted(tx.session.execute(select(PortfolioGate.case_id, PortfolioGate.reasoned)).all()) == sorted(
            [(b.case_id, True)] + [(a.case_id, False)] * 3)
    engine = ctx.uow.engine
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0025")
    columns = {t.__tablename__: {c["name"] for c in inspect(engine).get_columns(t.__tablename__)} for t in tables}
    assert not {"created_at", "status", "process_key"} & (columns["portfolio_case"] | columns["portfolio_stay"])
    assert "unit_key" not in columns["portfolio_gate"] and "reasoned" not in columns["portfolio_gate"]
    upgrade(engine)
    assert summaries() == written
    for filters, before in zip(selections, expected, strict=True):
        after = pf.read_portfolio(ctx, LEAD, pf.read_filters(filters))
        assert after.cases == before.cases and after.units == before.units, filters
        for key in pf.TABLE_KEYS:
            assert rows(after, key) == rows(before, key), (filters, key)
    assert rows(pf.read_portfolio(ctx, LEAD), "reasons")[0][0] == b.number
