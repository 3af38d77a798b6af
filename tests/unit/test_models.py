"""A model that must not run is refused at deploy, pointing at the element and line."""

from __future__ import annotations

import pytest

from iphs_flow.engine import runtime
from iphs_flow.engine.errors import InvalidModel, UnsafeXML
from iphs_flow.engine.models import parse_deployment
from tests.bpmn_builder import condition_process, script_process, timer_process, user_task_process
from tests.conftest import fixture_files


def test_a_valid_model_lists_its_user_tasks_with_forms_lanes_and_stages() -> None:
    model = parse_deployment(fixture_files("review_loop.bpmn"))["review_loop"]
    assert model.name == "Granskning med omarbetning"
    draft = model.user_tasks["draft"]
    assert (draft.form_key, draft.lane, draft.stage) == ("draft", "Idéägare", 1)
    assert model.user_tasks["review"].lane == "Innovationsledare"
    assert model.form_keys == {"draft", "review"}


def test_a_script_that_imports_is_refused_with_element_and_line() -> None:
    with pytest.raises(InvalidModel) as info:
        parse_deployment({"evil.bpmn": script_process("import os\nos.system('id')")})
    err = info.value
    assert err.element_id == "run_script"
    assert err.file_name == "evil.bpmn"
    assert err.line is not None and err.line > 1
    assert "Imports are not allowed" in err.message


def test_a_gateway_condition_with_dunder_access_is_refused() -> None:
    with pytest.raises(InvalidModel, match="gateway condition") as info:
        parse_deployment({"c.bpmn": condition_process("().__class__.__bases__")})
    assert info.value.element_id == "gw"


def test_a_timer_expression_that_gives_no_date_is_refused() -> None:
    with pytest.raises(InvalidModel, match="timer expression") as info:
        parse_deployment({"t.bpmn": timer_process("'next tuesday'")})
    assert info.value.element_id == "wait"


def test_a_timer_expression_that_imports_is_refused() -> None:
    with pytest.raises(InvalidModel, match="not allowed"):
        parse_deployment({"t.bpmn": timer_process("__import__('os').system('id')")})


def test_a_timer_expression_using_case_data_is_accepted() -> None:
    parse_deployment({"t.bpmn": timer_process("start_of_day(resume_date)")})


def test_a_user_task_without_a_form_becomes_a_mark_as_done_task() -> None:
    model = parse_deployment({"p.bpmn": user_task_process({"stage": "1"})})["plain"]
    assert model.user_tasks["work"].form_key is None
    assert model.form_keys == set()


def test_a_due_date_expression_is_checked() -> None:
    with pytest.raises(InvalidModel, match="dueDate"):
        parse_deployment({"p.bpmn": user_task_process({"formKey": "formula", "dueDate": "import os"})})


def test_an_exclusive_gateway_without_default_flow_deploys_and_no_match_is_an_incident_naming_it() -> None:
    xml = condition_process("x > 1").replace(b' default="f_no"', b"")
    xml = xml.replace(b'<bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="no" />',
                      b'<bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="no">'
                      b"<bpmn:conditionExpression>x &lt; 0</bpmn:conditionExpression></bpmn:sequenceFlow>")
    model = parse_deployment({"g.bpmn": xml})["condition_case"]
    assert [t.bpmn_id for t in runtime.start(model, {"x": 2}).open_tasks] == ["yes"]
    stuck = runtime.start(model, {"x": 0})
    assert stuck.status == "incident"
    assert "no outgoing flow" in stuck.incident and "(gw)" in stuck.incident


def test_an_unknown_service_operator_is_refused() -> None:
    xml = fixture_files("review_loop.bpmn")["review_loop.bpmn"].replace(
        b'serviceTaskOperator id="notify"', b'serviceTaskOperator id="http_get"')
    with pytest.raises(InvalidModel, match="unknown service operator 'http_get'") as info:
        parse_deployment({"r.bpmn": xml})
    assert info.value.element_id == "remind"


def test_an_entity_declaration_is_refused_before_parsing() -> None:
    xml = script_process("x = 1").replace(
        b"<bpmn:definitions", b'<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<bpmn:definitions', 1)
    with pytest.raises(UnsafeXML, match="DOCTYPE"):
        parse_deployment({"x.bpmn": xml})


def test_malformed_bpmn_is_refused_with_the_file_name() -> None:
    with pytest.raises((InvalidModel, UnsafeXML), match="broken.bpmn"):
        parse_deployment({"broken.bpmn": b"<bpmn:definitions xmlns:bpmn='x'><unclosed></bpmn:definitions>"})


def test_files_without_an_executable_process_are_refused() -> None:
    xml = script_process("x = 1").replace(b'isExecutable="true"', b'isExecutable="false"')
    with pytest.raises(InvalidModel, match="no executable process"):
        parse_deployment({"x.bpmn": xml})


def test_a_decision_output_cell_that_imports_is_refused_at_deploy() -> None:
    from tests.bpmn_builder import decision_process, decision_table

    with pytest.raises(InvalidModel, match="DMN output") as info:
        parse_deployment({"d.bpmn": decision_process(),
                          "routing.dmn": decision_table(output_entry="__import__('os').getcwd()")})
    assert info.value.element_id == "route"
