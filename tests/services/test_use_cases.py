"""Use cases over the in-memory unit of work: the rules of the service layer, without a database.

The same rules run against SQLite and PostgreSQL in tests/integration; here they run in
milliseconds, so a rule can be pinned down case by case.
"""

from __future__ import annotations

import pytest

from iphs_flow.services import case_admin, comments, drafts
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from tests.conftest import ADMIN, ANNA, BERTIL
from tests.services.fake_uow import Store, a_case, fake_context


@pytest.fixture
def store() -> Store:
    return Store()


# ---------------------------------------------------------------- comments


def test_the_owner_comments_on_her_case_and_reads_it_back_by_number(store) -> None:
    case = a_case(store)
    ctx = fake_context(store)
    made = comments.add_comment(ctx, case.number, "  Kan vi prata med rektorn?  ", ANNA)
    assert made.body == "Kan vi prata med rektorn?" and made.author == "anna"
    assert [c.body for c in comments.list_comments(ctx, case.id, ANNA)] == ["Kan vi prata med rektorn?"]


def test_someone_who_may_not_see_the_case_gets_not_found_and_nothing_is_written(store) -> None:
    case = a_case(store)
    ctx = fake_context(store)
    with pytest.raises(NotFound):
        comments.add_comment(ctx, case.id, "Jag tycker till", BERTIL)
    assert ctx.uow.committed.comments == [] and ctx.uow.commits == 0


def test_an_empty_comment_is_refused_with_a_field_message(store) -> None:
    case = a_case(store)
    with pytest.raises(InvalidInput) as refused:
        comments.add_comment(fake_context(store), case.id, "   ", ANNA)
    assert refused.value.fields == {"body": ["empty"]}


def test_a_group_member_with_a_task_in_the_case_may_comment(store) -> None:
    case = a_case(store, tasks=({"name": "Granska", "task_key": "review", "candidate_group": "innovation-leads"},))
    member = Actor("lena", frozenset({"idea_owner"}), frozenset({"innovation-leads"}))  # no overview role
    made = comments.add_comment(fake_context(store), case.id, "Jag tar den", member)
    assert made.author == "lena"


# ---------------------------------------------------------------- drafts


def test_a_draft_is_kept_per_person_replaced_on_save_and_gone_when_discarded(store) -> None:
    case = a_case(store, tasks=({"name": "Beskriv behovet", "task_key": "need", "assignee": "anna"},))
    [task_id] = [t.id for t in store.tasks.values() if t.case_id == case.id]
    ctx = fake_context(store)
    drafts.save_draft(ctx, task_id, {"text": "Första"}, ANNA)
    drafts.save_draft(ctx, task_id, {"text": "Andra"}, ANNA)
    data, _saved_at = drafts.load_draft(ctx, task_id, ANNA)
    assert data == {"text": "Andra"} and len(ctx.uow.committed.drafts) == 1
    assert drafts.load_draft(ctx, task_id, ADMIN) is None
    drafts.discard_draft(ctx, task_id, ANNA)
    assert drafts.load_draft(ctx, task_id, ANNA) is None


def test_a_draft_that_is_not_an_object_is_refused_before_anything_is_read(store) -> None:
    with pytest.raises(InvalidInput):
        drafts.save_draft(fake_context(store), 1, ["not", "an", "object"], ANNA)  # type: ignore[arg-type]


# ---------------------------------------------------------------- administrators' operations


def test_an_administrator_suspends_and_resumes_a_case_and_the_history_says_why(store) -> None:
    case = a_case(store)
    ctx = fake_context(store)
    assert case_admin.suspend_case(ctx, case.number, ADMIN, "väntar på budget").status == "suspended"
    assert case_admin.resume_case(ctx, case.id, ADMIN).status == "running"
    kinds = [(e.kind, e.data) for e in ctx.uow.committed.events]
    assert kinds == [("case_suspended", {"reason": "väntar på budget"}), ("case_resumed", {})]


def test_terminating_a_case_cancels_its_open_tasks(store) -> None:
    case = a_case(store, tasks=({"name": "Granska", "task_key": "review", "candidate_group": "innovation-leads"},))
    ctx = fake_context(store)
    view = case_admin.terminate_case(ctx, case.id, ADMIN, "dubblett")
    assert view.status == "terminated" and view.open_tasks == []
    [task] = ctx.uow.committed.tasks.values()
    assert (task.state, task.closed_by) == ("cancelled", "adam")


def test_only_administrators_suspend_and_a_refusal_changes_nothing(store) -> None:
    case = a_case(store)
    ctx = fake_context(store)
    with pytest.raises(Forbidden):
        case_admin.suspend_case(ctx, case.id, ANNA, "")
    with pytest.raises(Conflict):
        case_admin.resume_case(ctx, case.id, ADMIN)  # it is running, not suspended
    assert ctx.uow.committed.cases[case.id].status == "running" and ctx.uow.committed.events == []
