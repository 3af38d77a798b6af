"""Designers edit a shared draft of a process, see every problem in it, and deploy it as a new version."""

from __future__ import annotations

import pytest

from iphs_flow.services import accounts, cases, design, processes, versions
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from tests.conftest import ADMIN, ANNA, DESIGNER, LEAD, fixture_files

ORIGINAL = fixture_files("review_loop.bpmn")["review_loop.bpmn"].decode()
OTHER_DESIGNER = Actor("david", frozenset({"process_designer"}))

NOTE_FORM = {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "Anteckning", "type": "object",
             "properties": {"note": {"type": "string", "title": "Anteckning", "minLength": 1}},
             "required": ["note"]}
# A new user task 'note' between 'review' and the gateway, in the lead's lane, with a new form.
WITH_NOTE = (ORIGINAL
             .replace('<bpmn:flowNodeRef>decide</bpmn:flowNodeRef>',
                      '<bpmn:flowNodeRef>decide</bpmn:flowNodeRef><bpmn:flowNodeRef>note</bpmn:flowNodeRef>')
             .replace('<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>',
                      '<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f_note</bpmn:outgoing>')
             .replace('<bpmn:sequenceFlow id="f4" sourceRef="review" targetRef="decide" />',
                      '<bpmn:sequenceFlow id="f_note" sourceRef="review" targetRef="note" />'
                      '<bpmn:sequenceFlow id="f4" sourceRef="note" targetRef="decide" />'
                      '<bpmn:userTask id="note" name="Skriv anteckning"><bpmn:extensionElements>'
                      '<spiffworkflow:properties><spiffworkflow:property name="formKey" value="note" />'
                      '</spiffworkflow:properties></bpmn:extensionElements>'
                      '<bpmn:incoming>f_note</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>'))


@pytest.fixture
def deployed(ctx):
    # The lead's lane has a person, so the checks below show only the problems they are about
    # (a group without members is a warning of its own: tests/integration/test_staffing.py).
    accounts.add_user(ctx, "lena", "Lena Lind", roles={"innovation_lead"}, groups={"innovation-leads"})
    processes.deploy_process(ctx, {"review_loop.bpmn": ORIGINAL.encode()}, DESIGNER)
    return ctx


def messages(problems) -> list[tuple[str | None, str]]:
    return [(p.element_id, p.message) for p in problems]


def test_the_first_look_at_a_process_copies_its_newest_version_into_a_draft(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    assert draft.files == {"review_loop.bpmn": ORIGINAL}
    assert set(draft.forms) == {"draft", "review"} and draft.forms["draft"]["schema"]["title"] == "Utkast"
    assert (draft.version, draft.base_version, draft.updated_by) == (1, 1, "dora")
    # designers share one draft: a colleague sees the same copy, not a new one
    assert design.get_draft(deployed, "review_loop", OTHER_DESIGNER) == draft


def test_a_process_that_was_never_deployed_has_no_draft_to_open(deployed) -> None:
    with pytest.raises(NotFound):
        design.get_draft(deployed, "nonexistent", DESIGNER)


def test_saving_a_file_and_a_form_bumps_the_version(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    saved = design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", WITH_NOTE, DESIGNER, draft.version)
    assert saved.version == 2 and saved.files["review_loop.bpmn"] == WITH_NOTE
    saved = design.save_draft_form(deployed, "review_loop", "note", NOTE_FORM, {}, OTHER_DESIGNER, saved.version)
    assert saved.version == 3 and saved.forms["note"] == {"schema": NOTE_FORM, "ui": {}}
    assert saved.updated_by == "david"


def test_a_save_based_on_an_older_copy_is_refused_and_keeps_the_colleagues_work(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", WITH_NOTE, OTHER_DESIGNER, draft.version)
    with pytest.raises(Conflict, match="david saved the draft") as refused:
        design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", ORIGINAL, DESIGNER, draft.version)
    assert refused.value.status == 409
    assert design.get_draft(deployed, "review_loop", DESIGNER).files["review_loop.bpmn"] == WITH_NOTE


def test_unsafe_xml_and_forbidden_scripts_never_enter_a_draft(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    entities = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
                + ORIGINAL.split("?>", 1)[1])
    with pytest.raises(InvalidInput, match="DOCTYPE and entity declarations are not allowed"):
        design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", entities, DESIGNER, draft.version)
    importing = ORIGINAL.replace("rounds = rounds + 1", "import os\n    rounds = rounds + 1")
    with pytest.raises(InvalidInput, match="Imports are not allowed"):
        design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", importing, DESIGNER, draft.version)
    with pytest.raises(InvalidInput, match="not allowed"):
        design.save_draft_file(deployed, "review_loop", "../evil.bpmn", ORIGINAL, DESIGNER, draft.version)
    with pytest.raises(InvalidInput, match="DOCTYPE"):
        design.import_file(deployed, "review_loop.bpmn", entities.encode(), DESIGNER)
    assert design.get_draft(deployed, "review_loop", DESIGNER).version == 1


def test_a_form_must_be_an_object_schema_with_field_names_scripts_may_use(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    with pytest.raises(InvalidInput, match="must describe an object"):
        design.save_draft_form(deployed, "review_loop", "note", {"type": "string"}, {}, DESIGNER, draft.version)
    with pytest.raises(InvalidInput, match="not a valid JSON Schema"):
        design.save_draft_form(deployed, "review_loop", "note", {"type": "object", "required": "note"}, {},
                               DESIGNER, draft.version)
    with pytest.raises(InvalidInput, match="reserve: now"):
        design.save_draft_form(deployed, "review_loop", "note",
                               {"type": "object", "properties": {"now": {"type": "string"}}}, {}, DESIGNER,
                               draft.version)


def _problems_after(ctx, content: str) -> list[tuple[str | None, str]]:
    draft = design.get_draft(ctx, "review_loop", DESIGNER)
    design.save_draft_file(ctx, "review_loop", "review_loop.bpmn", content, DESIGNER, draft.version)
    return messages(design.validate_draft(ctx, "review_loop", DESIGNER))


def test_a_deployable_draft_has_no_problems(deployed) -> None:
    assert design.validate_draft(deployed, "review_loop", DESIGNER) == []


def test_a_user_task_without_a_form_is_named_as_a_mark_as_done_task(deployed) -> None:
    found = _problems_after(deployed, ORIGINAL.replace('<spiffworkflow:property name="formKey" value="review" />', ""))
    assert ("review", "the user task 'Granska utkast' (review) names no form: it is shown as a \"mark as done\" "
                      "task with its documentation") in found


def test_a_form_that_does_not_exist_is_named(deployed) -> None:
    found = _problems_after(deployed, WITH_NOTE)
    assert found == [("note", "the user task 'Skriv anteckning' uses the form 'note', which does not exist; "
                              "create it in the form editor")]


def test_a_lane_without_a_role_is_named(deployed) -> None:
    found = _problems_after(deployed, ORIGINAL.replace('name="Innovationsledare"', 'name="Kaffegruppen"'))
    assert found[0][0] == "lane_lead" and "the lane 'Kaffegruppen' maps to no role" in found[0][1]


def test_a_timer_that_does_not_evaluate_is_named_with_its_line(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    content = ORIGINAL.replace('"P2D"', '"two days"')
    design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", content, DESIGNER, draft.version)
    problems = design.validate_draft(deployed, "review_loop", DESIGNER)
    assert [p.element_id for p in problems] == ["review_late"]
    assert "does not give a duration" in problems[0].message
    assert problems[0].line == content.splitlines().index(
        next(line for line in content.splitlines() if '"two days"' in line)) + 1


def test_a_gateway_flow_with_no_condition_that_is_not_the_default_is_named(deployed) -> None:
    found = _problems_after(deployed, ORIGINAL.replace(' default="f_again"', ""))
    assert found == [("decide", "the flow f_again leaves the gateway 'Godkänt?' (decide) without a condition and "
                                "is not its default flow; make it the default flow or give it a condition")]


def test_an_element_no_path_reaches_is_named(deployed) -> None:
    lonely = ORIGINAL.replace('<bpmn:endEvent id="done"',
                              '<bpmn:task id="lonely" name="Ensam" /><bpmn:endEvent id="done"')
    found = _problems_after(deployed, lonely)
    assert found == [("lonely", "'Ensam' (lonely) cannot be reached from a start event; connect it with a "
                                "sequence flow or remove it")]


def test_every_problem_is_listed_at_once(deployed) -> None:
    broken = (ORIGINAL.replace(' default="f_again"', "").replace('"P2D"', '"soon"')
              .replace('<spiffworkflow:property name="formKey" value="review" />', ""))
    assert [element for element, _ in _problems_after(deployed, broken)] == ["review", "review_late", "decide"]


def test_deploying_the_draft_creates_version_two_with_the_drafts_forms(deployed) -> None:
    old_case = cases.start_case(deployed, "review_loop", {}, ANNA)
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    draft = design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", WITH_NOTE, DESIGNER, draft.version)
    design.save_draft_form(deployed, "review_loop", "note", NOTE_FORM, {"note": {"ui:widget": "textarea"}},
                           DESIGNER, draft.version)
    outcomes = design.deploy_draft(deployed, "review_loop", DESIGNER)
    assert [(o.key, o.version, o.created) for o in outcomes] == [("review_loop", 2, True)]
    listed = versions.list_versions(deployed, "review_loop", DESIGNER)
    assert [(v.version, v.deployed_by, v.running_cases) for v in listed] == [(1, "dora", 1), (2, "dora", 0)]
    new_case = cases.start_case(deployed, "review_loop", {}, ANNA)
    assert new_case.process_version == 2
    assert cases.get_case(deployed, old_case.number, ADMIN).case.process_version == 1
    changes = {(c.element_id, c.change) for c in versions.diff_versions(deployed, "review_loop", 1, 2, DESIGNER)}
    assert {("note", "added"), ("f_note", "added")} <= changes and ("note", "form") not in changes
    # the draft is done: the next look starts from version 2, with the new form
    fresh = design.get_draft(deployed, "review_loop", DESIGNER)
    assert fresh.base_version == 2 and fresh.forms["note"]["ui"] == {"note": {"ui:widget": "textarea"}}


def test_a_draft_with_problems_is_not_deployed_and_all_problems_are_given(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", WITH_NOTE.replace(' default="f_again"', ""),
                           DESIGNER, draft.version)
    with pytest.raises(design.DraftInvalid) as refused:
        design.deploy_draft(deployed, "review_loop", DESIGNER)
    assert refused.value.status == 422
    assert [p.element_id for p in refused.value.problems] == ["decide", "note"]
    assert [v.version for v in versions.list_versions(deployed, "review_loop", DESIGNER)] == [1]


def test_a_discarded_draft_starts_again_from_the_newest_version(deployed) -> None:
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", WITH_NOTE, DESIGNER, draft.version)
    assert design.discard_draft(deployed, "review_loop", DESIGNER) is True
    assert design.get_draft(deployed, "review_loop", DESIGNER).files["review_loop.bpmn"] == ORIGINAL


def test_importing_a_bpmn_file_of_a_new_process_starts_its_draft(deployed) -> None:
    other = ORIGINAL.replace('id="review_loop"', 'id="review_two"').replace('processRef="review_loop"',
                                                                            'processRef="review_two"')
    draft = design.import_file(deployed, "review_two.bpmn", other.encode(), DESIGNER)
    assert (draft.key, draft.base_version, list(draft.files)) == ("review_two", None, ["review_two.bpmn"])
    assert design.validate_draft(deployed, "review_two", DESIGNER) == []
    assert [o.version for o in design.deploy_draft(deployed, "review_two", DESIGNER)] == [1]
    assert {d.key for d in design.list_designs(deployed, DESIGNER)} == {"review_loop", "review_two"}


@pytest.mark.parametrize("person", [ANNA, LEAD])
def test_only_designers_and_administrators_may_design(deployed, person) -> None:
    with pytest.raises(Forbidden):
        design.get_draft(deployed, "review_loop", person)
    with pytest.raises(Forbidden):
        design.save_draft_file(deployed, "review_loop", "review_loop.bpmn", ORIGINAL, person, 1)
    with pytest.raises(Forbidden):
        design.save_draft_form(deployed, "review_loop", "note", NOTE_FORM, {}, person, 1)
    with pytest.raises(Forbidden):
        design.validate_draft(deployed, "review_loop", person)
    with pytest.raises(Forbidden):
        design.deploy_draft(deployed, "review_loop", person)
    with pytest.raises(Forbidden):
        design.discard_draft(deployed, "review_loop", person)
    with pytest.raises(Forbidden):
        design.import_file(deployed, "review_loop.bpmn", ORIGINAL.encode(), person)
    assert design.get_draft(deployed, "review_loop", ADMIN).version == 1


def test_the_designers_start_page_names_who_has_a_draft_open(deployed) -> None:
    design.get_draft(deployed, "review_loop", OTHER_DESIGNER)
    [listed] = design.list_designs(deployed, DESIGNER)
    assert (listed.key, listed.draft_by, [v.version for v in listed.versions]) == ("review_loop", "david", [1])


def test_a_flow_to_nowhere_and_elements_bpmn_does_not_know_are_named(deployed) -> None:
    found = _problems_after(deployed, ORIGINAL.replace('targetRef="done"', 'targetRef="nowhere"'))
    assert ("f_ok", "the sequence flow 'f_ok' leads to 'nowhere', which does not exist; connect both ends") in found
    bogus = ORIGINAL.replace('<bpmn:endEvent id="done"', '<bpmn:bogus id="x" /><bpmn:endEvent id="done"')
    found = _problems_after(deployed, bogus)
    assert len(found) == 1 and found[0][1].startswith("not valid BPMN 2.0: Element 'bpmn:bogus': This element is not "
                                                      "expected.")


def test_a_typo_in_a_condition_may_be_saved_and_is_named_but_an_import_is_refused(deployed) -> None:
    found = _problems_after(deployed, ORIGINAL.replace("approved == True", "approved =="))
    assert [element for element, _ in found] == ["f_ok"] and "is not valid Python" in found[0][1]
    draft = design.get_draft(deployed, "review_loop", DESIGNER)
    with pytest.raises(InvalidInput, match="the condition of 'f_ok' is refused: .*starts with \"_\""):
        design.save_draft_file(deployed, "review_loop", "review_loop.bpmn",
                               ORIGINAL.replace("approved == True", "__import__('os')"), DESIGNER, draft.version)
