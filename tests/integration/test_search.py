"""Search across cases, the same on a SQLite file (FTS5 + Snowball) and on PostgreSQL (swedish full text)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from iphs_flow.services import accounts, case_admin, cases, search_index
from iphs_flow.services.errors import Forbidden, InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import search as search_module
from iphs_flow.services.queries.full_text import read_visible_cases, visible_cases
from iphs_flow.services.queries.search import search, similar_cases
from iphs_flow.services.text_analysis import analysed
from iphs_flow.store.tables import Case, SearchDocument
from tests.integration.process_driver import (
    ASSIGN,
    G1_APPROVE,
    LEAD,
    NEED,
    OWNER,
    UNDERSTAND,
    Walk,
    shipped_context,
)

BERTIL = Actor("bertil", frozenset({"idea_owner"}))
ADMIN = Actor("adam", frozenset({"idea_owner", "administrator"}))


@pytest.fixture
def ctx(db_url):
    context = shipped_context(db_url)
    yield context
    context.close()


def described(ctx, title: str, need: str, owner: Actor = OWNER, **more) -> Walk:
    walk = Walk.start(ctx, owner=owner)
    walk.complete("need", {**NEED, "title": title, "need": need, **more}, owner)
    return walk


def numbers(results) -> list[str]:
    return [hit.number for hit in results.hits]


def test_a_swedish_word_finds_its_other_forms_with_the_match_marked(ctx) -> None:
    walk = described(ctx, "Fler platser för undervisning", "Skollokalerna i Rinkeby räcker inte till alla elever.")
    described(ctx, "Cykelparkering", "Det saknas cykelställ vid biblioteket.")
    found = search(ctx, "skollokal", LEAD)
    assert numbers(found) == [walk.number]
    assert found.total == 1
    assert "<mark>Skollokalerna</mark>" in found.hits[0].snippet
    assert found.hits[0].field == "need"
    assert numbers(search(ctx, "undervisningen", LEAD)) == [walk.number]  # the title says "undervisning"


def test_english_words_are_stemmed_too(ctx) -> None:
    walk = described(ctx, "Shared school premises", "The schools in the district share their sports halls.")
    assert numbers(search(ctx, "school", LEAD)) == [walk.number]
    assert numbers(search(ctx, "sharing hall", LEAD)) == [walk.number]


def test_every_word_must_match_and_a_title_match_ranks_first(ctx) -> None:
    in_body = described(ctx, "Trygga skolvägar", "Belysningen i parken är trasig och föräldrar oroar sig.")
    in_title = described(ctx, "Belysning i parken", "Kvällstid är det mörkt på gångvägarna.")
    described(ctx, "Belysning på torget", "Torget är mörkt.")
    found = search(ctx, "belysning parken", LEAD)
    assert numbers(found) == [in_title.number, in_body.number]


def test_case_text_cannot_inject_html_into_a_snippet(ctx) -> None:
    described(ctx, "Otrygg <b>park</b>", 'Parken <script>alert("x")</script> är mörk & <img src=x onerror=y>.')
    hit = search(ctx, "parken", LEAD).hits[0]
    assert "<mark>" in hit.snippet
    for dangerous in ("<script", "<img", "<b>", 'onerror=y>'):
        assert dangerous not in hit.snippet
    assert "\ue000" not in hit.snippet


def test_a_case_you_may_not_see_never_appears_not_even_as_a_count(ctx) -> None:
    annas = described(ctx, "Ensamhet bland äldre", "Äldre i Tensta är ensamma på helgerna.")
    bertils = described(ctx, "Äldre och digital ensamhet", "Många äldre saknar stöd med surfplattor.",
                        owner=BERTIL)
    mine = search(ctx, "äldre", OWNER)
    assert numbers(mine) == [annas.number]
    assert mine.total == 1
    assert sum(n for _v, n in mine.facets["status"]) == 1
    assert sum(n for _v, n in mine.facets["field"]) <= 2
    assert numbers(search(ctx, "surfplattor", OWNER)) == []
    assert search(ctx, "surfplattor", OWNER).total == 0
    assert numbers(search(ctx, "surfplattor", BERTIL)) == [bertils.number]
    assert sorted(numbers(search(ctx, "äldre", LEAD))) == sorted([annas.number, bertils.number])
    assert search(ctx, "äldre", ADMIN).total == 2


def test_the_people_of_a_case_find_it_like_they_may_open_it(ctx) -> None:
    walk = described(ctx, "Matsvinn i skolkök", "Skolköken slänger mycket mat.")
    walk.complete("assign_lead", ASSIGN, LEAD)
    # G1 waits for the innovation leads' group: a member (without the lead role) may open the case, so finds it.
    member = Actor("greta", frozenset({"idea_owner"}), frozenset({"innovation-leads"}))
    assert numbers(search(ctx, "matsvinn", member)) == [walk.number]
    cases.get_case(ctx, walk.number, member)
    outsider = Actor("olle", frozenset({"idea_owner"}), frozenset({"some-other-group"}))
    assert numbers(search(ctx, "matsvinn", outsider)) == []


def test_decisions_and_both_lessons_are_searchable(ctx) -> None:
    walk = described(ctx, "Digital bokning av lokaler", "Föreningar bokar lokaler med papper.")
    walk.complete("assign_lead", ASSIGN, LEAD)
    walk.complete("G1_decide", {**G1_APPROVE, "reason": "Stämmer med stadens digitaliseringsstrategi"})
    found = search(ctx, "digitaliseringsstrategi", LEAD)
    assert numbers(found) == [walk.number] and found.hits[0].field == "decisions"
    docs = search_index.documents_for("T", [
        ("task_completed", "evaluation", {"data": {"lessons_learned": "Testa med riktiga användare tidigt"}}),
        ("task_completed", "closure", {"data": {"lessons_learned": "Budgetera för drift från början"}}),
    ])
    lessons = [d.body for d in docs if d.field == "lessons"]
    assert lessons == ["Testa med riktiga användare tidigt\nBudgetera för drift från början"]


def test_a_revised_need_replaces_what_it_said_before(ctx) -> None:
    docs = search_index.documents_for("T", [
        ("task_completed", "need", {"data": {"need": "Gamla texten om snöröjning"}}),
        ("task_completed", "need", {"data": {"need": "Nya texten om halkbekämpning"}}),
    ])
    assert [(d.field, d.body) for d in docs] == [("title", "T"), ("need", "Nya texten om halkbekämpning")]


def test_facets_count_cases_by_status_stage_and_field_and_filter_the_results(ctx) -> None:
    one = described(ctx, "Grönytor", "Fler träd på skolgården ger skugga.")
    two = described(ctx, "Träd på gatan", "Gatan saknar grönska.")
    found = search(ctx, "träd", LEAD)
    assert found.total == 2
    assert dict(found.facets["status"]) == {"running": 2}
    assert dict(found.facets["field"]) == {"title": 1, "need": 1}
    only_titles = search(ctx, "träd", LEAD, field_="title")
    assert numbers(only_titles) == [two.number]
    assert numbers(search(ctx, "träd", LEAD, field_="need")) == [one.number]
    assert search(ctx, "träd", LEAD, status="completed").total == 0


def test_status_and_stage_facets_and_filters_follow_the_case_when_it_moves_on(ctx) -> None:
    moving = described(ctx, "Pollinerande ängar", "Ängar med blommor i parkerna.")
    staying = described(ctx, "Ängar vid skolan", "Skolan vill ha en äng.")

    def stage() -> int | None:
        with ctx.uow.read() as tx:
            return tx.session.execute(select(Case.stage).where(Case.number == moving.number)).scalar_one()

    stage_before = stage()
    moving.complete("assign_lead", ASSIGN, LEAD)
    moving.complete("G1_decide", {**G1_APPROVE, "reason": "Bra för den biologiska mångfalden"})
    stage_after = stage()
    assert stage_after != stage_before
    case_admin.suspend_case(ctx, moving.number, ADMIN, "Väntar på budget")
    found = search(ctx, "äng", LEAD)
    assert dict(found.facets["status"]) == {"running": 1, "suspended": 1}
    assert dict(found.facets["stage"]) == {stage_before: 1, stage_after: 1}
    assert numbers(search(ctx, "äng", LEAD, status="suspended")) == [moving.number]
    assert numbers(search(ctx, "äng", LEAD, stage=stage_after)) == [moving.number]
    assert numbers(search(ctx, "äng", LEAD, status="running", stage=stage_before)) == [staying.number]
    with ctx.uow.read() as tx:  # what each document carries is its case's own
        rows = tx.session.execute(text(
            'SELECT d.case_status, d.case_stage, c.status, c.stage FROM search_document AS d '
            'JOIN "case" AS c ON c.id = d.case_id')).all()
    assert rows and all((r[0], r[1]) == (r[2], r[3]) for r in rows)


def test_pages_of_results_do_not_overlap(ctx) -> None:
    made = [described(ctx, f"Laddstolpar {i}", "Laddstolpar för elbilar saknas.").number for i in range(5)]
    first = search(ctx, "laddstolpar", LEAD, limit=2)
    second = search(ctx, "laddstolpar", LEAD, limit=2, offset=2)
    third = search(ctx, "laddstolpar", LEAD, limit=2, offset=4)
    seen = numbers(first) + numbers(second) + numbers(third)
    assert sorted(seen) == sorted(made) and first.total == 5


@pytest.mark.parametrize("query, options, field", [
    ("", {}, "q"), ("  !!! ", {}, "q"), ("x" * 501, {}, "q"), ("park", {"limit": 0}, "limit"),
    ("park", {"limit": 101}, "limit"), ("park", {"offset": -1}, "offset"), ("park", {"status": "nope"}, "status"),
    ("park", {"field_": "secret"}, "field"),
])
def test_bad_searches_are_refused_with_the_field_named(ctx, query, options, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        search(ctx, query, LEAD, **options)
    assert field in refused.value.fields


def test_query_syntax_in_the_search_text_is_just_words(ctx) -> None:
    walk = described(ctx, "Parkbänkar", "Parkbänkarna är trasiga.")
    for tricky in ('"parkbänkarna', "parkbänkarna*", "(parkbänkarna)", "parkbänkarna & !", "-parkbänkarna",
                   "parkbänkarna'); --", "^parkbänkarna:*"):
        assert numbers(search(ctx, tricky, LEAD)) == [walk.number], tricky
    # OR, NEAR and column names are words here, and every word must match.
    assert search(ctx, "parkbänkarna OR simhall", LEAD).total == 0
    assert search(ctx, "NEAR(parkbänkarna) sv:x", LEAD).total == 0
    search(ctx, "'); DROP TABLE search_document; --", LEAD)
    assert numbers(search(ctx, "parkbänkarna", LEAD)) == [walk.number]


def test_reindex_rebuilds_the_index_from_the_history(ctx) -> None:
    walk = described(ctx, "Simhall", "Simhallen har för korta öppettider.")
    with ctx.uow.write() as tx:
        search_index.write_documents(tx.session, walk.case_id, [])
        tx.commit()
    assert search(ctx, "simhall", LEAD).total == 0
    with pytest.raises(Forbidden):
        search_index.rebuild(ctx, LEAD)
    assert search_index.rebuild(ctx, ADMIN) == 1
    assert numbers(search(ctx, "öppettid", LEAD)) == [walk.number]
    with ctx.uow.read() as tx:
        fields = sorted(tx.session.scalars(select(SearchDocument.field)
                                           .where(SearchDocument.case_id == walk.case_id)))
    assert fields == ["need", "title"]


def _index_of(ctx, case_id: int) -> list[tuple]:
    """A case's documents, each with its full-text row on SQLite (the stems FTS5 matches), which must be
    those of the document's text (a reindex leaves a document whose text is right as it is)."""
    with ctx.uow.read() as tx:
        rows = tx.session.execute(select(SearchDocument.id, SearchDocument.field, SearchDocument.lesson_id,
                                         SearchDocument.body).where(SearchDocument.case_id == case_id)).all()
        if tx.session.get_bind().dialect.name != "sqlite":
            return sorted((r.field, r.lesson_id or 0, r.body) for r in rows)
        fts = {r[0]: (r[1], r[2]) for r in tx.session.execute(text("SELECT rowid, sv, en FROM search_fts"))}
        assert [fts.get(r.id) for r in rows] == [analysed(r.body) for r in rows]  # in step with its text
        return sorted((r.field, r.lesson_id or 0, r.body, fts[r.id]) for r in rows)


def test_the_documents_a_case_gets_from_its_completions_are_those_a_reindex_writes(ctx) -> None:
    """A completion rebuilds only the documents of the fields it submitted text for (and the title's):
    what it leaves is what reading the whole history again makes of the case."""
    walk = Walk.start(ctx)
    walk.complete("need", {**NEED, "title": "Simhall", "need": "Simhallen har för korta öppettider."}, OWNER)
    walk.complete("assign_lead", ASSIGN, LEAD)
    walk.complete("G1_decide", {**G1_APPROVE, "reason": "Stämmer med stadens mål för folkhälsa"})
    walk.complete("understand", {**UNDERSTAND, "insights": "Kvällar och helger saknas"})
    incremental = _index_of(ctx, walk.case_id)
    assert {doc[0] for doc in incremental} == {"title", "need", "understand", "decisions"}
    assert search_index.rebuild(ctx, ADMIN) == 1
    assert _index_of(ctx, walk.case_id) == incremental


def test_a_field_written_again_is_replaced_in_place_kept_when_it_says_the_same_and_dropped_when_empty(ctx) -> None:
    walk = Walk.start(ctx)

    def write(body):
        with ctx.uow.write() as tx:
            search_index.write_fields(tx.session, walk.case_id, {"understand": body})
            tx.commit()
        return [doc for doc in _index_of(ctx, walk.case_id) if doc[0] == "understand"]

    def written_at():
        with ctx.uow.read() as tx:
            return tx.session.scalars(select(SearchDocument.updated_at).where(
                SearchDocument.case_id == walk.case_id, SearchDocument.field == "understand")).all()

    assert [doc[2] for doc in write("Kvällar saknas")] == ["Kvällar saknas"]
    assert [doc[2] for doc in write("Helger saknas")] == ["Helger saknas"]  # replaced, not a second one
    first = written_at()
    assert [doc[2] for doc in write("Helger saknas")] == ["Helger saknas"]
    assert written_at() == first  # the same text is not written again
    assert write(None) == []


def test_each_database_keeps_its_own_full_text_index(ctx) -> None:
    with ctx.uow.read() as tx:
        if tx.session.get_bind().dialect.name == "postgresql":
            kind = tx.session.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_document_tsv'")).scalar_one()
            assert "gin" in kind
            similar = tx.session.execute(text(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_search_document_similar_tsv'")).scalar_one()
            assert "gin" in similar and "title" in similar and "need" in similar
        else:
            sql = tx.session.execute(text("SELECT sql FROM sqlite_master WHERE name = 'search_fts'")).scalar_one()
            assert "fts5" in sql
            covering = tx.session.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_search_document_match'")).scalar_one()
            assert "case_id" in covering and "lesson_id" in covering


def test_the_cases_a_search_reads_for_a_reader_are_those_the_case_pages_show_them(ctx) -> None:
    """Search reads the reader's cases once through the task indexes; the case pages ask case by case."""
    annas = described(ctx, "Matsvinn i skolkök", "Skolköken slänger mycket mat.")
    annas.complete("assign_lead", ASSIGN, LEAD)  # closed by lena; G1 now waits for the innovation leads
    bertils = described(ctx, "Ensamhet bland äldre", "Äldre i Tensta är ensamma på helgerna.", owner=BERTIL)
    accounts.add_user(ctx, "ivar", "Ivar Lind", groups={"innovation-leads"}, manager="mona")
    readers = [OWNER, BERTIL, Actor("lena"), Actor("greta", frozenset({"idea_owner"}), frozenset({"innovation-leads"})),
               Actor("mona"), Actor("olle", frozenset(), frozenset({"some-other-group"}))]
    seen = {}
    with ctx.uow.read() as tx:
        for reader in readers:
            by_rule = set(tx.session.scalars(select(Case.id).where(visible_cases(tx.session, reader))))
            read = read_visible_cases(tx.session, reader)
            assert not read.all
            assert set(json.loads(read.ids.replace("{", "[").replace("}", "]"))) == by_rule, reader.username
            seen[reader.username] = by_rule
    assert seen["lena"] == {annas.case_id}  # she closed a task there
    both = {annas.case_id, bertils.case_id}  # the innovation leads have a task in each
    assert seen["greta"] == seen["mona"] == both  # a member; the manager of a member
    assert seen["olle"] == set() and seen["anna"] == {annas.case_id} and seen["bertil"] == {bertils.case_id}
    assert read_visible_cases_for(ctx, LEAD).all


def read_visible_cases_for(ctx, actor):
    with ctx.uow.read() as tx:
        return read_visible_cases(tx.session, actor)


def test_a_manager_finds_the_cases_their_reports_worked_on_and_nothing_else(ctx) -> None:
    accounts.add_user(ctx, "lisa", "Lisa Berg", manager="mona")
    # Lisa described the need, so she closed its task; the case is hers, not Mona's.
    walk = described(ctx, "Matsvinn i skolkök", "Skolköken slänger mycket mat.",
                     owner=Actor("lisa", frozenset({"idea_owner"})))
    described(ctx, "Matsvinn på förskolan", "Förskolan slänger mat varje dag.", owner=BERTIL)
    mona = Actor("mona")
    found = search(ctx, "matsvinn", mona)
    assert numbers(found) == [walk.number] and found.total == 1
    assert dict(found.facets["field"]) == {"title": 1}
    assert [c.case_id for c in similar_cases(ctx, "Matsvinn och mat som slängs", mona)] == [walk.case_id]


def test_every_case_is_on_one_page_when_only_the_weightiest_candidates_are_ranked(ctx, monkeypatch) -> None:
    """PostgreSQL ranks only the CANDIDATES cases whose matching fields weigh most; here two of five."""
    in_title = [described(ctx, f"Laddstolpar {i}", "Elbilar saknar laddning.").number for i in range(2)]
    in_need = [described(ctx, f"Elbilar {i}", "Laddstolpar saknas vid skolan.").number for i in range(3)]
    monkeypatch.setattr(search_module, "CANDIDATES", 2)
    search_module._search_statement.cache_clear()
    try:
        pages = [search(ctx, "laddstolpar", LEAD, limit=2, offset=offset) for offset in (0, 2, 4)]
    finally:
        search_module._search_statement.cache_clear()
    seen = [hit.number for page in pages for hit in page.hits]
    assert sorted(seen) == sorted(in_title + in_need) and all(page.total == 5 for page in pages)
    assert sorted(seen[:2]) == sorted(in_title)  # a title weighs most, on both back ends
