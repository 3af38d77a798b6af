"""Similar cases while a need is described, and duplicates, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from bench.search import recall_at
from iphs_flow.services import duplicates
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries.search import similar_cases
from tests.conftest import FIXTURES
from tests.integration.process_driver import ASSIGN, LEAD, NEED, OWNER, Walk, shipped_context

BERTIL = Actor("bertil", frozenset({"idea_owner"}))
NEEDS = json.loads((FIXTURES / "similar_needs.json").read_text(encoding="utf-8"))["needs"]


@pytest.fixture
def ctx(db_url):
    context = shipped_context(db_url)
    yield context
    context.close()


def described(ctx, title: str, need: str, owner: Actor = OWNER) -> Walk:
    walk = Walk.start(ctx, owner=owner)
    walk.complete("need", {**NEED, "title": title, "need": need, "target_group": "Invånare",
                           "need_owner": "Enhetschef"}, owner)
    return walk


def test_the_test_set_has_sixty_needs_with_pairs_in_other_words() -> None:
    pairs = [n for n in NEEDS if n["pair"] is not None]
    assert len(NEEDS) >= 60 and len(pairs) >= 60
    by_pair: dict[int, list[str]] = {}
    for n in pairs:
        by_pair.setdefault(n["pair"], []).append(n["text"])
    assert all(len(texts) == 2 and texts[0] != texts[1] for texts in by_pair.values())


@pytest.mark.slow
def test_the_true_pair_is_among_the_five_most_similar_for_at_least_four_needs_in_five(ctx) -> None:
    case_ids = [described(ctx, n["title"], n["text"]).case_id for n in NEEDS]
    recall, misses = recall_at(ctx, NEEDS, case_ids, LEAD, k=5)
    assert recall >= 0.8, f"recall@5 {recall:.2f}; missed: {misses}"


def test_similar_cases_come_with_status_outcome_and_lessons_and_never_the_case_itself(ctx) -> None:
    earlier = described(ctx, "Ensamhet bland äldre", "Äldre i Tensta är ensamma på helgerna.")
    earlier.complete("assign_lead", ASSIGN, LEAD)
    earlier.complete("G1_decide", {"decision": "rejected", "reason": "Finns redan i äldreförvaltningens plan"}, LEAD)
    unrelated = described(ctx, "Cykelparkering", "Cykelställen vid stationen är fulla.")
    now = described(ctx, "Isolerade äldre", "Många äldre är ensamma och isolerade i hemmet.")
    found = similar_cases(ctx, "Många äldre är ensamma och isolerade", OWNER, 5, exclude_case_id=now.case_id)
    assert [f.case_id for f in found] == [earlier.case_id]
    assert found[0].outcome == "rejected" and found[0].status in ("completed", "running")
    assert "<mark>" in found[0].snippet
    assert unrelated.case_id not in [f.case_id for f in found]


def test_similar_cases_show_the_lessons_learned(ctx) -> None:
    from iphs_flow.services import search_index

    walk = described(ctx, "Matsvinn i skolkök", "Skolköken slänger mycket mat.")
    with ctx.uow.write() as tx:
        docs = search_index.case_documents(tx.session, walk.case_id)
        docs.append(search_index.Document("lessons", "Vägt svinn varje dag gjorde eleverna medvetna."))
        search_index.write_documents(tx.session, walk.case_id, docs)
        tx.commit()
    found = similar_cases(ctx, "Eleverna slänger mat i skolköket", LEAD)
    assert found[0].lessons == "Vägt svinn varje dag gjorde eleverna medvetna."


def test_similar_cases_never_show_a_case_the_person_may_not_see(ctx) -> None:
    bertils = described(ctx, "Ensamhet bland äldre", "Äldre i Tensta är ensamma på helgerna.", owner=BERTIL)
    assert similar_cases(ctx, "äldre ensamma helgerna", OWNER) == []
    assert [f.case_id for f in similar_cases(ctx, "äldre ensamma helgerna", BERTIL)] == [bertils.case_id]
    assert [f.case_id for f in similar_cases(ctx, "äldre ensamma helgerna", LEAD)] == [bertils.case_id]


def test_a_text_of_only_small_words_finds_nothing_and_bad_limits_are_refused(ctx) -> None:
    described(ctx, "Ensamhet", "Äldre är ensamma.")
    assert similar_cases(ctx, "och det är att", LEAD) == []
    with pytest.raises(InvalidInput):
        similar_cases(ctx, "äldre", LEAD, 0)
    with pytest.raises(InvalidInput):
        similar_cases(ctx, "äldre " * 200, LEAD)


def test_a_decider_marks_a_duplicate_and_both_cases_link_each_other(ctx) -> None:
    original = described(ctx, "Ensamhet bland äldre", "Äldre är ensamma.")
    again = described(ctx, "Ensamma seniorer", "Seniorer är ensamma.", owner=BERTIL)
    again.complete("assign_lead", ASSIGN, LEAD)
    with pytest.raises(Forbidden):
        duplicates.mark_duplicate(ctx, again.case_id, original.case_id, BERTIL)
    with pytest.raises(InvalidInput):
        duplicates.mark_duplicate(ctx, again.case_id, again.case_id, LEAD)
    with pytest.raises(InvalidInput):
        duplicates.mark_duplicate(ctx, again.case_id, 999_999, LEAD)
    links = duplicates.mark_duplicate(ctx, again.case_id, original.case_id, LEAD, "Samma behov som 0001")
    assert [link.number for link in links.duplicate_of] == [original.number]
    back = duplicates.duplicate_links(ctx, original.case_id, LEAD)
    assert [(link.number, link.reason) for link in back.duplicates] == [(again.number, "Samma behov som 0001")]
    with pytest.raises(Conflict):
        duplicates.mark_duplicate(ctx, again.case_id, original.case_id, LEAD)
    kinds = [e.kind for e in again.case().history]
    assert "marked_duplicate" in kinds
    # Anna sees her case, but not that Bertil's (which she may not see) repeats it.
    assert duplicates.duplicate_links(ctx, original.case_id, OWNER).duplicates == []
    with pytest.raises(NotFound):
        duplicates.duplicate_links(ctx, again.case_id, OWNER)


def test_the_gate_decider_may_mark_a_duplicate_without_the_lead_role(ctx) -> None:
    original = described(ctx, "Ensamhet bland äldre", "Äldre är ensamma.")
    again = described(ctx, "Ensamma seniorer", "Seniorer är ensamma.")
    again.complete("assign_lead", ASSIGN, LEAD)
    member = Actor("greta", frozenset({"idea_owner"}), frozenset({"innovation-leads"}))  # G1 waits for this group
    links = duplicates.mark_duplicate(ctx, again.case_id, original.case_id, member)
    assert [link.case_id for link in links.duplicate_of] == [original.case_id]
