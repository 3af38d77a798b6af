"""Designers mark form fields shareable with research (`"x-shareable": true`); only those fields' text leaves."""

import json
from pathlib import Path

import pytest

from iphs_flow.services.errors import InvalidProcess
from iphs_flow.services.form_design import read_form_texts
from iphs_flow.services.processes import check_form
from iphs_flow.services.shareable import shareable_fields, shareable_problems, shared_texts

FORMS = Path(__file__).resolve().parents[2] / "forms"
SCHEMA = {"type": "object", "properties": {
    "need": {"type": "string", "x-shareable": True},
    "need_owner": {"type": "string"},
    "results": {"type": "array", "x-shareable": True,
                "items": {"type": "object", "properties": {"indicator": {"type": "string"},
                                                           "actual": {"type": "number"}}}},
    "partners": {"type": "array", "items": {"type": "object", "properties": {
        "name": {"type": "string"}, "role": {"type": "string", "x-shareable": True}}}},
}}


def test_marked_fields_and_sub_fields_are_shareable_and_nothing_else():
    assert shareable_fields(SCHEMA) == {"need", "results", "results[].indicator", "results[].actual", "partners[].role"}
    data = {"need": "Trygga skolvägar", "need_owner": "Eva Ek", "results": [{"indicator": "Trygghet", "actual": 76}],
            "partners": [{"name": "Firma AB", "role": "Leverantör"}]}
    assert shared_texts(data, shareable_fields(SCHEMA)) == [
        ("need", "Trygga skolvägar"), ("results[1].indicator", "Trygghet"), ("partners[1].role", "Leverantör")]


def test_a_mark_that_is_not_true_or_false_is_refused_at_deploy_and_in_the_form_designer():
    bad = json.loads(json.dumps(SCHEMA))
    bad["properties"]["need"]["x-shareable"] = "yes"
    assert shareable_problems(bad) == [("properties/need", "x-shareable must be true or false")]
    with pytest.raises(InvalidProcess, match="x-shareable"):
        check_form("need", bad, {})
    _, _, problems = read_form_texts(json.dumps(bad), "{}")
    assert any("x-shareable" in (p.detail or "") for p in problems)
    check_form("need", SCHEMA, {})  # a correct mark deploys


def test_the_shipped_forms_share_needs_concepts_results_and_lessons_but_no_people_or_budgets():
    def marks(form: str) -> frozenset[str]:
        return shareable_fields(json.loads((FORMS / f"{form}.schema.json").read_text(encoding="utf-8")))

    assert {"need", "title"} <= marks("need") and "need_owner" not in marks("need")
    assert "chosen_concept" in marks("concept")
    assert not {"partners", "cost_description", "pilot_budget"} & marks("concept")
    assert {"lessons_learned", "results[].indicator"} <= marks("evaluation")
    assert "lessons_learned" in marks("closure")
    assert "operational_owner" not in marks("implementation") and "innovation_lead" not in marks("assign_lead")
