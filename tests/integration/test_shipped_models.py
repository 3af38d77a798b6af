"""The shipped models are real BPMN 2.0 a designer can open: laid out, deployable, complete."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator
from lxml import etree

from iphs_flow.config import DEFAULT_LANE_GROUPS
from iphs_flow.engine.models import parse_deployment
from iphs_flow.services import processes
from tests.conftest import ROOT

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI = "http://www.omg.org/spec/BPMN/20100524/DI"
FLOW_NODES = ("startEvent", "endEvent", "userTask", "serviceTask", "scriptTask", "businessRuleTask",
              "exclusiveGateway", "parallelGateway", "inclusiveGateway", "intermediateCatchEvent",
              "intermediateThrowEvent", "boundaryEvent", "callActivity", "subProcess")


@pytest.fixture(scope="module")
def models():
    return parse_deployment(processes.read_model_files([ROOT / "bpmn"]))


def test_both_processes_are_deployable(models) -> None:
    assert set(models) == {"innovation", "improvement"}
    assert models["innovation"].name == "Innovationsprocess"
    assert models["improvement"].name == "Förbättringsförslag"


@pytest.mark.parametrize("name", ["innovation.bpmn", "improvement.bpmn"])
def test_every_element_has_a_diagram_shape(name) -> None:
    tree = etree.parse(str(ROOT / "bpmn" / name))
    shapes = {e.get("bpmnElement") for e in tree.iter(f"{{{DI}}}BPMNShape")}
    edges = {e.get("bpmnElement") for e in tree.iter(f"{{{DI}}}BPMNEdge")}
    nodes = {e.get("id") for tag in FLOW_NODES for e in tree.iter(f"{{{BPMN}}}{tag}")}
    lanes = {e.get("id") for e in tree.iter(f"{{{BPMN}}}lane")}
    flows = {e.get("id") for e in tree.iter(f"{{{BPMN}}}sequenceFlow")}
    assert nodes - shapes == set()
    assert lanes - shapes == set()
    assert flows - edges == set()


def test_every_user_task_has_a_valid_form_and_a_lane_with_a_role(models) -> None:
    for model in models.values():
        for task in model.user_tasks.values():
            assert task.lane in DEFAULT_LANE_GROUPS, (task.bpmn_id, task.lane)
            schema = json.loads((ROOT / "forms" / f"{task.form_key}.schema.json").read_text())
            Draft202012Validator.check_schema(schema)
            assert (ROOT / "forms" / f"{task.form_key}.ui.json").is_file()


def test_every_form_has_swedish_titles_and_an_english_translation() -> None:
    english = json.loads((ROOT / "forms" / "translations" / "en.json").read_text())
    for path in sorted((ROOT / "forms").glob("*.schema.json")):
        key = path.name.removesuffix(".schema.json")
        schema = json.loads(path.read_text())
        assert schema.get("title"), key
        assert key in english and english[key].get("title"), key
        for name, field in schema.get("properties", {}).items():
            assert field.get("title"), (key, name)


def test_the_gate_forms_offer_all_seven_outcomes() -> None:
    for gate in ("gate_g1", "gate_g2", "gate_g3"):
        schema = json.loads((ROOT / "forms" / f"{gate}.schema.json").read_text())
        outcomes = {choice["const"] for choice in schema["properties"]["decision"]["oneOf"]}
        assert outcomes == {"approved", "approved_with_conditions", "rejected", "on_hold", "recycle",
                            "more_info", "referred"}
        titles = {choice["title"] for choice in schema["properties"]["decision"]["oneOf"]}
        assert {"Godkänd", "Avslag", "Vilande"} <= titles


def test_the_agenda_2030_goals_are_a_multi_select_of_the_17_goals() -> None:
    schema = json.loads((ROOT / "forms" / "need.schema.json").read_text())
    goals = [p for p in schema["properties"].values() if p.get("type") == "array"
             and {c.get("const") for c in p["items"].get("oneOf", [])} == set(range(1, 18))]
    assert len(goals) == 1 and goals[0].get("uniqueItems") is True
