"""The shipped light process Förbättringsförslag (bpmn/improvement.bpmn)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from iphs_flow.engine import clock
from iphs_flow.services.errors import InvalidInput
from tests.integration.process_driver import Walk, local, shipped_context

SUGGESTION = {"title": "Digital bokning av lokaler", "suggestion": "Låt föreningar boka skolans lokaler på webben",
              "unit": "Skärholmens stadsdelsförvaltning"}
THURSDAY = datetime(2026, 12, 17, 9, 0, tzinfo=timezone.utc)  # 10:00 in Stockholm, a week before Christmas


@pytest.fixture
def ctx(sqlite_url):
    context = shipped_context(sqlite_url)
    clock.freeze(THURSDAY)
    yield context
    context.close()


def submitted(ctx) -> Walk:
    walk = Walk.start(ctx, "improvement")
    assert walk.task("suggestion").assignee == "anna"
    walk.complete("suggestion", SUGGESTION)
    return walk


def test_the_unit_manager_decides_within_15_working_days(ctx) -> None:
    walk = submitted(ctx)
    assert [m["template"] for m in walk.mails()] == ["receipt"]
    decide = walk.task("improvement_decide")
    assert decide.candidate_group == "unit-managers"
    # 15 working days from 17 December: Christmas Eve and Day, Boxing Day, New Year's Eve and Day,
    # and Epiphany are not working days.
    assert local(decide.due_at) == "2027-01-14 10:00"
    view = walk.complete("improvement_decide", {"decision": "do_it", "responsible": "Lokalenheten"})
    assert view.status == "completed"
    assert (walk.mails()[-1]["template"], walk.mails()[-1]["params"]["decision"]) == ("decision", "do_it")


@pytest.mark.parametrize("decision", ["not_now", "refer_to_innovation"])
def test_declining_or_referring_needs_a_reason_that_reaches_the_owner(ctx, decision) -> None:
    walk = submitted(ctx)
    with pytest.raises(InvalidInput) as info:
        walk.complete("improvement_decide", {"decision": decision})
    assert "reason" in info.value.fields
    walk.complete("improvement_decide", {"decision": decision, "reason": "Ingår i stadens nya bokningssystem"})
    note = walk.mails()[-1]
    assert note["to"] == "owner" and note["params"]["reason"] == "Ingår i stadens nya bokningssystem"
    assert walk.case().case.status == "completed"


def test_the_manager_is_reminded_and_escalated(ctx) -> None:
    walk = submitted(ctx)
    fired = [local(walk.advance_to_next_timer()) for _ in range(3)]
    assert fired == ["2026-12-28 10:00", "2027-01-07 10:00", "2027-01-14 10:00"]
    assert [(m["template"], m["to"]) for m in walk.mails()[1:]] == [
        ("reminder", "assignee"), ("reminder", "assignee"), ("escalation", "manager")]
