"""The service layer decides who may do what, so every entrypoint gives the same answer."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, cases, processes
from iphs_flow.services.errors import Forbidden, NotFound
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import case_lists
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import ADMIN, ANNA, BERTIL, DESIGNER, LEAD, MANAGER, fixture_files


@pytest.fixture
def case(ctx):
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), DESIGNER)
    return cases.start_case(ctx, "review_loop", {"title": "Annas behov"}, ANNA)


def test_only_designers_and_administrators_deploy(ctx) -> None:
    with pytest.raises(Forbidden, match="process designers"):
        processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), ANNA)
    assert processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), ADMIN)[0].created


def test_an_idea_owner_cannot_read_another_owners_case_by_guessing_its_id(ctx, case) -> None:
    for ref in (case.id, case.number):
        with pytest.raises(NotFound, match="there is no case"):
            cases.get_case(ctx, ref, BERTIL)
    with pytest.raises(NotFound):
        cases.get_case(ctx, 987654, BERTIL)  # the same answer as for a case that exists
    assert case_lists.search_cases(ctx, BERTIL).items == []
    assert [c.number for c in case_lists.search_cases(ctx, ANNA).items] == [case.number]


def test_a_stranger_cannot_complete_a_task_in_a_case_they_cannot_see(ctx, case) -> None:
    with pytest.raises(NotFound):
        cases.complete_task(ctx, case.open_tasks[0].id, {"text": "x"}, BERTIL)


def test_a_group_task_is_for_the_group_and_the_owner_cannot_complete_it(ctx, case) -> None:
    view = cases.complete_task(ctx, case.open_tasks[0].id, {"text": "x"}, ANNA)
    review = view.open_tasks[0]
    with pytest.raises(Forbidden, match="innovation-leads"):
        cases.complete_task(ctx, review.id, {"approved": True}, ANNA)
    with pytest.raises(NotFound):  # the manager's groups had no task here: the case is invisible
        cases.complete_task(ctx, review.id, {"approved": True}, MANAGER)
    assert cases.complete_task(ctx, review.id, {"approved": True}, LEAD).status == "completed"


def test_the_manager_of_a_task_holder_may_read_the_case_an_escalation_points_to(ctx, case) -> None:
    accounts.add_user(ctx, "ivar", "Ivar Lind", groups={"innovation-leads"}, manager="mona")
    mona, other_manager = Actor("mona"), Actor("olle")
    with pytest.raises(NotFound):  # nobody of Mona's has a task in the case yet
        cases.get_case(ctx, case.id, mona)
    cases.complete_task(ctx, case.open_tasks[0].id, {"text": "x"}, ANNA)  # the review goes to innovation-leads
    assert cases.get_case(ctx, case.id, mona).case.number == case.number
    with pytest.raises(NotFound):
        cases.get_case(ctx, case.id, other_manager)


def test_innovation_leads_see_every_case_and_task(ctx, case) -> None:
    assert cases.get_case(ctx, case.number, LEAD).case.number == case.number
    assert len(task_queries.list_tasks(ctx, LEAD, everyone=True)) == 1
    with pytest.raises(Forbidden):
        task_queries.list_tasks(ctx, ANNA, everyone=True)


def test_only_administrators_retry_incidents(ctx, case) -> None:
    with pytest.raises(Forbidden, match="administrator"):
        cases.retry_incident(ctx, case.number, LEAD)


def test_passwords_are_checked_with_argon2_and_failures_are_logged(ctx) -> None:
    accounts.add_user(ctx, "eva", "Eva", password="correct horse battery", roles={"approver"},
                      groups={"gate-deciders"})
    assert accounts.authenticate(ctx, "eva", "wrong password!!") is None
    assert accounts.authenticate(ctx, "nobody", "whatever password") is None
    actor = accounts.authenticate(ctx, "eva", "correct horse battery")
    assert actor is not None and actor.groups == {"gate-deciders"} and "idea_owner" in actor.roles
    with ctx.uow.read() as tx:
        from iphs_flow.store.tables import AccessLog, UserAccount
        events = [(e.event, e.username) for e in tx.session.query(AccessLog).order_by(AccessLog.id)]
        stored = tx.session.query(UserAccount).filter_by(username="eva").one().password_hash
    assert ("login_failed", "eva") in events and ("login_failed", "nobody") in events
    assert ("login", "eva") in events
    assert stored.startswith("$argon2")


def test_the_server_hashes_passwords_with_argon2id_above_the_owasp_minimum() -> None:
    from argon2 import Type
    hasher = accounts.DEFAULT_HASHER
    assert hasher.type is Type.ID
    assert hasher.memory_cost >= 19 * 1024 and hasher.time_cost >= 2
    assert hasher.hash("a password of twelve").startswith("$argon2id$v=19$m=65536,t=3")


def test_a_password_hashed_at_a_lower_cost_is_rehashed_at_the_next_login(ctx) -> None:
    accounts.add_user(ctx, "ebba", "Ebba", password="correct horse battery", roles={"idea_owner"})
    accounts.use_password_hasher(accounts.DEFAULT_HASHER)
    try:
        assert accounts.authenticate(ctx, "ebba", "correct horse battery") is not None
        with ctx.uow.read() as tx:
            from iphs_flow.store.tables import UserAccount
            stored = tx.session.query(UserAccount).filter_by(username="ebba").one().password_hash
        assert stored.startswith("$argon2id$v=19$m=65536,t=3")
    finally:
        from tests.conftest import FAST_HASHER
        accounts.use_password_hasher(FAST_HASHER)
