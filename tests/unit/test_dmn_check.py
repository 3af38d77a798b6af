"""DMN tables are checked cell by cell under the sandbox, as the engine will evaluate them."""

from __future__ import annotations

import pytest

from iphs_flow.engine.dmn_check import check_dmn, input_entry_expression
from tests.bpmn_builder import decision_table
from tests.conftest import ROOT


def test_the_shipped_gate_routing_table_has_no_problems() -> None:
    assert check_dmn((ROOT / "bpmn" / "gate_routing.dmn").read_bytes(), "gate_routing.dmn") == []


@pytest.mark.parametrize(("entry", "expected"), [
    ('"G2"', '(gate) == ("G2")'),
    ("< 500000", "gate< 500000"),
    ("4 < ? < 6", "4 < dmninputexpr < 6"),
    ('"what?"', '(gate) == ("what?")'),
])
def test_input_cells_are_combined_with_the_input_like_the_engine_does(entry, expected) -> None:
    assert input_entry_expression("gate", entry) == expected


def test_an_input_cell_the_sandbox_refuses_names_its_decision_rule_and_column() -> None:
    [problem] = check_dmn(decision_table(input_entry="&lt; __import__('os').getpid()"), "r.dmn")
    assert problem.code == "input_entry" and "_" in problem.detail
    assert (problem.decision_name, problem.rule_number, problem.rule_id, problem.column) == (
        "Vem beslutar", 1, "r1", "Budget")
    assert problem.element_id == "r1_in" and problem.line == 9


def test_an_output_cell_that_is_not_an_expression_is_reported() -> None:
    [problem] = check_dmn(decision_table(output_entry="unit managers"), "r.dmn")
    assert problem.code == "output_entry" and problem.column == "Beslutsgrupp" and problem.rule_number == 1


def test_dunder_access_in_an_output_cell_is_refused() -> None:
    [problem] = check_dmn(decision_table(output_entry="().__class__.__mro__"), "r.dmn")
    assert problem.code == "output_entry" and "__class__" in problem.detail


def test_a_doctype_is_refused_before_parsing() -> None:
    content = b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]>' + decision_table().split(b"?>", 1)[1]
    [problem] = check_dmn(content, "r.dmn")
    assert problem.code == "unsafe"


def test_malformed_xml_and_other_documents_are_reported() -> None:
    assert [p.code for p in check_dmn(b"<definitions", "r.dmn")] == ["xml"]
    bpmn = (ROOT / "bpmn" / "innovation.bpmn").read_bytes()
    assert [p.code for p in check_dmn(bpmn, "innovation.bpmn")] == ["not_dmn"]


def test_an_output_without_a_name_and_a_rule_with_missing_cells_are_reported() -> None:
    unnamed = decision_table().replace(b' name="decider_group"', b"")
    assert [p.code for p in check_dmn(unnamed, "r.dmn")] == ["output_name"]
    short = decision_table().replace(b'<inputEntry id="r2_in"><text>-</text></inputEntry>', b"")
    [problem] = check_dmn(short, "r.dmn")
    assert problem.code == "entry_count" and problem.rule_number == 2


def test_a_file_must_hold_exactly_one_decision_as_the_engine_reads_one() -> None:
    two = decision_table().replace(b"</definitions>", b'<decision id="other" name="Annat"><decisionTable '
                                   b'id="t2"><input id="i2" label="X"><inputExpression id="ie2" typeRef="number">'
                                   b'<text>x</text></inputExpression></input><output id="o2" name="y" />'
                                   b"</decisionTable></decision></definitions>")
    problems = check_dmn(two, "r.dmn")
    assert [(p.code, p.detail) for p in problems] == [("decision_count", "2")]


def test_what_the_engines_parser_refuses_is_reported_too() -> None:
    no_id = decision_table().replace(b'<rule id="r2">', b"<rule>")
    [problem] = check_dmn(no_id, "r.dmn")
    assert problem.code == "structure"


def test_a_condition_cell_the_sandbox_refuses_stops_a_deploy_too_naming_rule_and_column() -> None:
    from iphs_flow.config import DEFAULT_LANE_GROUPS
    from iphs_flow.engine import model_checks
    from tests.bpmn_builder import decision_process

    escaping = decision_table(input_entry="&lt; ().__class__.__base__")
    refused = [p for p in model_checks.check_files({"d.bpmn": decision_process(), "routing.dmn": escaping},
                                                   DEFAULT_LANE_GROUPS) if p.rule == model_checks.CODE]
    assert [(p.element_id, p.file_name) for p in refused] == [("r1_in", "routing.dmn")]
    assert "rule 1, column 'Budget'" in refused[0].message
    shipped = {name: (ROOT / "bpmn" / name).read_bytes() for name in ("innovation.bpmn", "gate_routing.dmn")}
    assert [p for p in model_checks.check_files(shipped, DEFAULT_LANE_GROUPS) if p.severity == "error"] == []
