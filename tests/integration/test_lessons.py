"""The lessons library (issue 17.1): lessons are records of their own, read city-wide, searched with
facets; the case behind keeps its permissions and its secrets; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from iphs_flow.engine import clock
from iphs_flow.services import case_admin, lessons, search_index
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.queries.lessons import LessonFilters, get_lesson, list_lessons
from iphs_flow.services.queries.search import search, similar_cases
from iphs_flow.store.tables import CaseEvent, Lesson, SecrecyMarking
from tests.conftest import ADMIN
from tests.integration.process_driver import (
    ASSIGN,
    CONCEPT,
    EVALUATION,
    G1_APPROVE,
    G2_APPROVE,
    G3_APPROVE,
    G4_REALISED,
    IMPLEMENTATION,
    LEAD,
    NEED,
    OWNER,
    PILOT,
    UNDERSTAND,
    Walk,
    shipped_context,
)
from tests.people import BERTIL

REJECTED = {"decision": "rejected", "reason": "Finns redan i trafikkontorets plan",
            "lessons_worked": "Trygghetsvandringar med föräldrar gav tydliga platser",
            "lessons_not_worked": "Enkäten till eleverna fick för få svar",
            "lessons_learned": "Kartan över otrygga korsningar kan trafikkontoret återanvända"}


@pytest.fixture
def ctx(db_url):
    context = shipped_context(db_url)
    clock.freeze(datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc))
    yield context
    clock.reset()
    context.close()


def rejected_case(ctx, owner=OWNER) -> Walk:
    walk = Walk.start(ctx, owner=owner)
    walk.complete("need", {**NEED, "unit": "Skärholmens stadsdelsförvaltning", "agenda2030_goals": [4, 11]}, owner)
    walk.complete("assign_lead", ASSIGN, LEAD)
    walk.complete("G1_decide", REJECTED, LEAD)
    return walk


def rows(ctx, case_id: int) -> list[Lesson]:
    with ctx.uow.read() as tx:
        found = list(tx.session.scalars(select(Lesson).where(Lesson.case_id == case_id).order_by(Lesson.id)))
        tx.session.expunge_all()
        return found


def test_lessons_are_recorded_at_evaluation_closure_rejection_and_stop_each_a_record_of_its_own(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", G1_APPROVE)
    walk.complete("understand", UNDERSTAND)
    walk.complete("concept", CONCEPT)
    walk.complete("G2_decide", G2_APPROVE)
    walk.complete("pilot", PILOT)
    walk.tick_at(datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc))
    walk.complete("evaluation", {**EVALUATION, "lessons_worked": "Belysningen styrd av rörelse"})
    walk.complete("G3_decide", G3_APPROVE)
    walk.complete("implementation", IMPLEMENTATION)
    walk.advance_to_next_timer()
    walk.complete("G4_followup", G4_REALISED)
    walk.complete("closure", {"lessons_learned": "Förankra tidigt hos förvaltningen"})
    done = rows(ctx, walk.case_id)
    assert [(r.source, r.round, r.stage, r.outcome) for r in done] == [
        ("evaluation", 1, 4, "implement"), ("closure", 1, 6, "realised")]
    assert (done[0].worked, done[0].reusable) == ("Belysningen styrd av rörelse", "Involvera tidigt")
    assert done[1].reusable == "Förankra tidigt hos förvaltningen"
    assert (done[0].year, done[1].year) == (2026, 2027)  # the follow-up comes a year on
    with ctx.uow.read() as tx:  # written with the completion: the same history row
        kinds = {e.id: e.kind for e in tx.session.scalars(select(CaseEvent).where(CaseEvent.case_id == walk.case_id))}
    assert all(kinds[r.event_id] == "task_completed" for r in done)

    rejected = rejected_case(ctx)
    [lesson] = rows(ctx, rejected.case_id)
    assert (lesson.source, lesson.outcome, lesson.stage, lesson.unit, lesson.goals) == (
        "rejection", "rejected", 0, "Skärholmens stadsdelsförvaltning", [4, 11])
    assert lesson.not_worked == "Enkäten till eleverna fick för få svar"

    stopped = Walk.to_g1(ctx)
    case_admin.terminate_case(ctx, stopped.number, ADMIN, "Projektet ersätts av ett stadsövergripande",
                              {"lessons_learned": "Samordna med stadsledningskontoret först"})
    [stop] = rows(ctx, stopped.case_id)
    assert (stop.source, stop.outcome, stop.reusable, stop.author) == (
        "stop", "terminated", "Samordna med stadsledningskontoret först", "adam")


def test_every_round_keeps_its_own_lesson_and_a_decision_without_lesson_text_records_none(ctx) -> None:
    walk = Walk.to_g1(ctx)
    walk.complete("G1_decide", {"decision": "rejected", "reason": "Inte inom uppdraget"})
    assert rows(ctx, walk.case_id) == []
    other = Walk.to_g1(ctx)
    case_admin.terminate_case(ctx, other.number, ADMIN, "Ersatt", None)
    assert rows(ctx, other.case_id) == []


def test_lessons_are_read_city_wide_but_a_hidden_case_never_shows_its_link_nor_appears_in_search(ctx) -> None:
    walk = rejected_case(ctx)  # anna's case: bertil may not see it
    page = list_lessons(ctx, BERTIL)
    assert page.total == 1
    [item] = page.items
    assert item.reusable.startswith("Kartan över otrygga korsningar")
    assert (item.case_id, item.case_number, item.case_title, item.author) == (None, None, None, "")
    assert list_lessons(ctx, OWNER).items[0].case_number == walk.number

    found = search(ctx, "otrygga korsningar", BERTIL)
    assert found.total == 0 and found.hits == [] and all(not v for v in found.facets.values())
    assert found.lesson_total == 1 and found.lessons[0].case_id is None
    assert "<mark>" in found.lessons[0].snippet
    assert search(ctx, "otrygga korsningar", OWNER).total == 1
    assert similar_cases(ctx, "Barn känner sig otrygga på väg till skolan", BERTIL) == []
    assert get_lesson(ctx, item.id, BERTIL).case_id is None


def test_an_internal_lesson_is_read_only_by_those_who_may_see_the_case_and_is_in_its_history(ctx) -> None:
    walk = rejected_case(ctx)
    lesson_id = rows(ctx, walk.case_id)[0].id
    with pytest.raises(Forbidden):
        lessons.set_internal(ctx, lesson_id, True, "Rör en upphandling", OWNER)
    with pytest.raises(InvalidInput):
        lessons.set_internal(ctx, lesson_id, True, "  ", LEAD)
    assert lessons.set_internal(ctx, lesson_id, True, "Rör en pågående upphandling", LEAD) is True
    with pytest.raises(Conflict):
        lessons.set_internal(ctx, lesson_id, True, "igen", LEAD)

    assert list_lessons(ctx, BERTIL).total == 0
    assert search(ctx, "otrygga korsningar", BERTIL).lesson_total == 0
    with pytest.raises(NotFound):
        get_lesson(ctx, lesson_id, BERTIL)
    mine = get_lesson(ctx, lesson_id, OWNER)
    assert mine.internal and mine.internal_reason == "Rör en pågående upphandling"
    with ctx.uow.read() as tx:
        events = [(e.kind, e.actor, e.data) for e in tx.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == walk.case_id, CaseEvent.kind.like("lesson_%")))]
    assert events == [("lesson_made_internal", "lena", {"lesson_id": lesson_id,
                                                         "reason": "Rör en pågående upphandling"})]
    lessons.set_internal(ctx, lesson_id, False, "", LEAD)
    assert list_lessons(ctx, BERTIL).total == 1


def test_a_secret_marked_lesson_field_never_appears_city_wide(ctx) -> None:
    walk = rejected_case(ctx)
    with ctx.uow.write() as tx:
        tx.session.add(SecrecyMarking(case_id=walk.case_id, target_kind="field", target="lessons_learned",
                                      provision="OSL 31 kap. 16 §", marked_by="adam"))
        tx.commit()
    bertil = list_lessons(ctx, BERTIL).items[0]
    assert bertil.reusable is None and bertil.withheld
    assert bertil.worked == "Trygghetsvandringar med föräldrar gav tydliga platser"
    assert list_lessons(ctx, BERTIL, q="kartan korsningar").total == 0  # not found by its secret words
    assert search(ctx, "kartan", BERTIL).lesson_total == 0
    with ctx.uow.write() as tx:  # the index rebuilt after the marking leaves the secret words out
        search_index.refresh(tx, walk.case_id)
        tx.commit()
    with ctx.uow.read() as tx:
        from iphs_flow.store.tables import SearchDocument

        body = tx.session.scalars(select(SearchDocument.body).where(SearchDocument.case_id == walk.case_id,
                                                                    SearchDocument.lesson_id.is_not(None))).one()
    assert "Kartan" not in body and "Trygghetsvandringar" in body
    owner = list_lessons(ctx, OWNER).items[0]
    assert owner.reusable.startswith("Kartan") and not owner.withheld


def test_the_library_filters_by_facets_and_pages_with_a_cursor(ctx) -> None:
    for _ in range(3):
        rejected_case(ctx)
    other = Walk.to_g1(ctx)
    case_admin.terminate_case(ctx, other.number, ADMIN, "Ersatt", {"lessons_worked": "Snabba möten"})
    page = list_lessons(ctx, BERTIL, limit=2)
    assert page.total == 4 and len(page.items) == 2 and page.next_cursor
    rest = list_lessons(ctx, BERTIL, limit=2, cursor=page.next_cursor)
    assert len(rest.items) == 2 and rest.next_cursor is None
    assert len({i.id for i in page.items + rest.items}) == 4
    assert dict(page.facets["source"]) == {"rejection": 3, "stop": 1}
    assert dict(page.facets["goal"]) == {4: 3, 11: 3}
    assert list_lessons(ctx, BERTIL, filters=LessonFilters(goal=11)).total == 3
    assert list_lessons(ctx, BERTIL, filters=LessonFilters(source="stop")).items[0].worked == "Snabba möten"
    assert list_lessons(ctx, BERTIL, filters=LessonFilters(year=2025)).total == 0
    assert list_lessons(ctx, BERTIL, filters=LessonFilters(unit="Skärholmens stadsdelsförvaltning")).total == 3
    # Swedish stemming: "trygghetsvandring" finds "Trygghetsvandringar"
    assert list_lessons(ctx, BERTIL, q="trygghetsvandring").total == 3
    with pytest.raises(InvalidInput):
        list_lessons(ctx, BERTIL, cursor="inte-en-markör")
    with pytest.raises(InvalidInput):
        list_lessons(ctx, BERTIL, filters=LessonFilters(goal=18))


def test_similar_cases_bring_their_lessons(ctx) -> None:
    earlier = rejected_case(ctx)
    found = similar_cases(ctx, "Barn känner sig otrygga på väg till skolan", LEAD)
    assert found[0].case_id == earlier.case_id and found[0].outcome == "rejected"
    assert "Kartan över otrygga korsningar" in found[0].lessons


def test_the_migration_builds_the_lessons_of_existing_cases(ctx) -> None:
    from alembic import command

    from iphs_flow.store.migrate import alembic_config, upgrade

    walk = rejected_case(ctx)
    before = [(r.source, r.outcome, r.stage, r.unit, r.goals, r.worked, r.not_worked, r.reusable, r.author)
              for r in rows(ctx, walk.case_id)]
    engine = ctx.uow.engine
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0017")
    upgrade(engine)
    after = [(r.source, r.outcome, r.stage, r.unit, r.goals, r.worked, r.not_worked, r.reusable, r.author)
             for r in rows(ctx, walk.case_id)]
    assert after == before and len(after) == 1
    assert list_lessons(ctx, BERTIL, q="trygghetsvandring").total == 1


@pytest.fixture
def world(db_url):
    from tests.integration.web_world import app_for, shipped_web_context

    context = shipped_web_context(db_url)
    yield context, app_for(context)
    context.close()


def test_the_api_lists_and_shows_lessons_and_hides_the_case_of_others(world) -> None:
    from tests.integration.api_world import Browser

    ctx, app = world
    walk = rejected_case(ctx)
    bertil = Browser(app, "erik")
    body = bertil.get("/api/v1/lessons?goal=4").json
    assert body["total"] == 1 and body["next_cursor"] is None
    [item] = body["items"]
    assert item["case_id"] is None and item["case_number"] is None and item["source"] == "rejection"
    assert {"value": 4, "count": 1} in body["facets"]["goal"]
    assert bertil.get(f"/api/v1/lessons/{item['id']}").json["not_worked"] == "Enkäten till eleverna fick för få svar"
    assert Browser(app, "anna").get(f"/api/v1/lessons/{item['id']}").json["case_number"] == walk.number
    found = bertil.get("/api/v1/search?q=trygghetsvandring").json
    assert found["total"] == 0 and found["hits"] == [] and found["lesson_total"] == 1
    assert found["lessons"][0]["case_id"] is None
    assert bertil.get("/api/v1/lessons?q=trygghetsvandring").json["total"] == 1
    for bad in ("?goal=18", "?limit=0", "?cursor=xyz", "?source=other", "?q=" + "a" * 501):
        response = bertil.get("/api/v1/lessons" + bad)
        assert response.status_code == 422 and response.mimetype == "application/problem+json", bad
    assert bertil.post(f"/api/v1/lessons/{item['id']}/internal", {"internal": True, "reason": "x"}).status_code == 403
    lena = Browser(app, "lena")
    assert lena.post(f"/api/v1/lessons/{item['id']}/internal", {"internal": True}).status_code == 422
    assert lena.post(f"/api/v1/lessons/{item['id']}/internal",
                    {"internal": True, "reason": "Upphandling pågår"}).json == {"internal": True}
    assert lena.post(f"/api/v1/lessons/{item['id']}/internal",
                    {"internal": True, "reason": "Upphandling pågår"}).status_code == 409
    assert bertil.get(f"/api/v1/lessons/{item['id']}").status_code == 404
    assert bertil.get("/api/v1/lessons").json["total"] == 0
    assert bertil.get("/api/v1/lessons/999999").status_code == 404
    assert app.test_client().get("/api/v1/lessons").status_code == 401


def test_the_lessons_pages_show_the_case_link_only_to_those_who_may_see_it(world) -> None:
    from tests.integration.web_world import client_for

    ctx, app = world
    walk = rejected_case(ctx)
    lesson_id = rows(ctx, walk.case_id)[0].id
    bertil = client_for(app, "erik")
    page = bertil.get("/lardomar?q=trygghetsvandring").get_data(as_text=True)
    assert "1 lärdom" in page and f"/lardomar/{lesson_id}" in page and walk.number not in page
    one = bertil.get(f"/lardomar/{lesson_id}").get_data(as_text=True)
    assert "Kartan över otrygga korsningar" in one and walk.number not in one and "/cases/" not in one
    assert "Håll lärdomen intern" not in one
    anna = client_for(app, "anna").get(f"/lardomar/{lesson_id}").get_data(as_text=True)
    assert walk.number in anna
    assert bertil.get("/sok?q=trygghetsvandring").get_data(as_text=True).count(walk.number) == 0
    assert bertil.get("/lardomar/999999").status_code == 404


def test_the_cli_lists_and_searches_lessons(world) -> None:
    from iphs_flow.cli import cli

    ctx, _app = world
    rejected_case(ctx)
    runner = CliRunner()
    listed = runner.invoke(cli, ["lessons", "list", "--as", "erik", "--json"], obj=ctx)
    assert listed.exit_code == 0, listed.output
    body = json.loads(listed.output)
    assert body["total"] == 1 and body["items"][0]["case_number"] is None
    found = runner.invoke(cli, ["lessons", "search", "trygghetsvandring", "--as", "lena"], obj=ctx)
    assert found.exit_code == 0 and "1 lesson(s)" in found.output and "*Trygghetsvandringar*" in found.output
    assert runner.invoke(cli, ["lessons", "list", "--goal", "99", "--as", "lena"], obj=ctx).exit_code != 0
