"""Numbers as Swedes write them are accepted, and repeated fields come prefilled from the earlier stage (issue 16.5)."""

from __future__ import annotations

import pytest

from iphs_flow.engine.numbers import coerce_numbers, parse_number
from iphs_flow.services import cases
from iphs_flow.services.errors import InvalidInput
from iphs_flow.services.queries.records import case_records
from tests.conftest import ADMIN
from tests.integration.process_driver import CONCEPT, G1_APPROVE, G2_APPROVE, OWNER, UNDERSTAND
from tests.integration.test_web_pages import as_form, html, open_task, submit, to_g1
from tests.integration.test_web_pages import web as web  # noqa: F401 - the fixture

NUMBER = "IPHS 2026/0001"


@pytest.mark.parametrize("typed, integer, expected", [
    ("250 000", True, 250_000), ("250\u00a0000", True, 250_000), ("250\u2009000", True, 250_000),
    ("250\u202f000", True, 250_000), ("1,5", False, 1.5), ("1 234,25", False, 1234.25), ("-3", True, -3),
    ("1,5", True, None), ("tre", False, None), ("1,000.5", False, None), ("", False, None)])
def test_numbers_are_read_as_swedes_write_them(typed, integer, expected) -> None:
    assert parse_number(typed, integer=integer) == expected


def test_an_api_client_may_send_a_number_as_typed_and_jsonschema_checks_the_result(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    assert submit(lena, gate.id, G1_APPROVE).status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "understand").id, UNDERSTAND).status_code == 302
    concept = open_task(ctx, NUMBER, "concept")
    with pytest.raises(InvalidInput) as refused:
        cases.complete_task(ctx, concept.id, dict(CONCEPT, pilot_budget="trehundratusen"), OWNER)
    assert "pilot_budget" in refused.value.fields
    cases.complete_task(ctx, concept.id, dict(CONCEPT, pilot_budget="250 000", expected_benefits=[
        {"indicator": "Andel trygga", "baseline": "40,5", "target": "70", "unit": "procent"}]), OWNER)
    recorded = [r for r in case_records(ctx, NUMBER, ADMIN).stages if r.task_key == "concept"][0].data
    assert recorded["pilot_budget"] == 250_000 and recorded["expected_benefits"][0]["baseline"] == 40.5
    assert coerce_numbers({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": "x"}) == {"n": "x"}


def test_a_budget_typed_with_spaces_is_accepted_in_the_form(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    assert submit(lena, gate.id, G1_APPROVE).status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "understand").id, UNDERSTAND).status_code == 302
    concept = open_task(ctx, NUMBER, "concept")
    form = {**as_form(CONCEPT), "pilot_budget": "250\u00a0000", "expected_benefits.0.baseline": "40,5"}
    from tests.integration.web_world import post_form
    done = post_form(anna, f"/tasks/{concept.id}", {**form, "_action": "submit"})
    assert done.status_code == 302, html(done)
    data = [r for r in case_records(ctx, NUMBER, ADMIN).stages if r.task_key == "concept"][0].data
    assert data["pilot_budget"] == 250_000 and data["expected_benefits"][0]["baseline"] == 40.5


def test_the_pilot_indicators_come_prefilled_from_the_concept_and_the_results_from_the_pilot(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    assert submit(lena, gate.id, G1_APPROVE).status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "understand").id, UNDERSTAND).status_code == 302
    assert submit(anna, open_task(ctx, NUMBER, "concept").id, CONCEPT).status_code == 302
    from tests.integration.web_world import client_for
    bo = client_for(app, "bo")
    assert submit(bo, open_task(ctx, NUMBER, "G2_decide").id, G2_APPROVE).status_code == 302
    pilot = open_task(ctx, NUMBER, "pilot")
    page = html(anna.get(f"/tasks/{pilot.id}"))
    assert 'name="indicators.0.indicator"' in page and "Andel elever som känner sig trygga" in page
    assert 'name="indicators.0.target" value="70"' in page
    assert 'name="indicators.1.indicator"' not in page  # one benefit, one row
