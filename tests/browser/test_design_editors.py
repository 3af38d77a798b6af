"""The designers' editors and the administrators' instance viewer in a real browser.

The editors are driven with the site's real Content Security Policy in force (no bypass),
so a vendor script that needed inline code would fail here; only axe-core, which is
injected as an inline script, runs in a context that bypasses the CSP.
"""

from __future__ import annotations

import json
import re

import pytest

from iphs_flow.services import accounts, cases, design, processes
from iphs_flow.services.permissions import Actor
from tests.browser.conftest import axe_violations, sign_in
from tests.integration.web_session import PASSWORD

DORA = Actor("dora", frozenset({"process_designer"}))
DMN = "/design/innovation/dmn/gate_routing.dmn"
FAILING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="failing_defs" targetNamespace="http://iphs-flow.se/test">
  <bpmn:process id="failing" name="Beräkning som fallerar" isExecutable="true">
    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="Beräkna">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>total = 1000 // divisor</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end" name="Klart"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute" />
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="failing_diagram"><bpmndi:BPMNPlane id="failing_plane" bpmnElement="failing">
    <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36" />
    </bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="compute_di" bpmnElement="compute"><dc:Bounds x="200" y="78" width="100" height="80" />
    </bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="360" y="100" width="36" height="36" />
    </bpmndi:BPMNShape>
    <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118" /><di:waypoint x="200" y="118" />
    </bpmndi:BPMNEdge>
    <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="300" y="118" /><di:waypoint x="360" y="118" />
    </bpmndi:BPMNEdge>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
NEED_ANSWERS = {"title": "Tryggare skolvägar", "need": "Barn känner sig otrygga på väg till skolan.",
                "target_group": "Elever och vårdnadshavare", "need_owner": "Skolchef Eva Ek"}


@pytest.fixture(scope="module")
def world(served):
    """A designer, an administrator, and a case that has passed its first step."""
    base, ctx = served
    accounts.add_user(ctx, "dora", "Dora Designer", password=PASSWORD, roles={"process_designer"}, groups=set())
    accounts.add_user(ctx, "adam", "Adam Admin", password=PASSWORD, roles={"administrator", "idea_owner"},
                      groups={"administrators"})
    anna = accounts.actor_for(ctx, "anna")
    view = cases.start_case(ctx, "innovation", {}, anna)
    view = cases.complete_task(ctx, view.open_tasks[0].id, NEED_ANSWERS, anna)
    processes.deploy_process(ctx, {"failing.bpmn": FAILING.encode()}, Actor.system())
    failed = cases.start_case(ctx, "failing", {"divisor": 0}, anna)
    assert failed.status == "incident"
    return {"base": base, "ctx": ctx, "case": view, "failed": failed}


@pytest.fixture
def enforced(browser):
    """A browser context with the site's CSP in force; collects what the console reports."""
    context = browser.new_context()
    messages: list[str] = []
    context.on("console", lambda message: messages.append(message.text))
    yield context, messages
    context.close()


@pytest.fixture(scope="module")
def checked(browser):
    """A CSP-bypassing context, only so that axe-core can be injected."""
    context = browser.new_context(bypass_csp=True)
    yield context
    context.close()


def script_violations(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m and "script-src" in m]


def test_the_dmn_editor_changes_a_threshold_saves_it_and_shows_it_after_reloading(world, enforced) -> None:
    context, messages = enforced
    page = context.new_page()
    sign_in(page, world["base"], "dora")
    page.goto(world["base"] + DMN)
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    assert page.locator("#dmn-xml").is_hidden()  # the table editor replaced the XML fallback
    cell = page.locator("#dmn-editor td", has_text=re.compile(r"^< 500000$")).first
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("< 750000")
    with page.expect_navigation():
        page.get_by_role("button", name="Spara i utkastet").click()
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    assert "är sparad i utkastet" in page.locator(".flash").inner_text()
    page.reload()
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    assert page.locator("#dmn-editor td", has_text=re.compile(r"^< 750000$")).count() == 1
    assert page.locator("#dmn-editor td", has_text=re.compile(r"^< 500000$")).count() == 0
    saved = design.get_draft(world["ctx"], "innovation", DORA).files["gate_routing.dmn"]
    assert "<text>&lt; 750000</text>" in saved and "<text>&lt; 500000</text>" not in saved
    assert "\r" not in saved  # browsers send textareas with CRLF; the draft keeps plain newlines
    assert script_violations(messages) == []


def test_the_dmn_editor_validates_what_is_in_the_table(world, enforced) -> None:
    context, _messages = enforced
    page = context.new_page()
    sign_in(page, world["base"], "dora")
    page.goto(world["base"] + DMN)
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    cell = page.locator("#dmn-editor td", has_text=re.compile(r'^"unit-managers"$')).first
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("__import__('os')")
    with page.expect_navigation():
        page.get_by_role("button", name="Validera").click()
    summary = page.locator("#error-summary").inner_text()
    assert "regel 2, kolumn ”Beslutande grupp”" in summary and "__import__" in summary
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    assert page.locator("#dmn-editor td", has_text="__import__('os')").count() == 1  # kept, not lost


def test_the_form_preview_follows_the_schema_as_it_is_typed(world, enforced) -> None:
    context, messages = enforced
    page = context.new_page()
    sign_in(page, world["base"], "dora")
    page.goto(world["base"] + "/design/innovation/forms/need")
    region = page.locator("#form-preview")
    assert region.get_attribute("aria-live") == "polite"
    assert region.locator("label[for='f-need']").count() == 1
    schema = {"type": "object", "title": "Budget", "required": ["amount"],
              "properties": {"amount": {"type": "integer", "title": "Belopp i kronor"}}}
    page.fill("#schema-text", json.dumps(schema, ensure_ascii=False))
    page.wait_for_selector("#form-preview label[for='f-amount']", timeout=10000)
    assert "Belopp i kronor" in region.inner_text() and region.locator("label[for='f-need']").count() == 0
    page.fill("#schema-text", '{"type": "object", "properties": {')
    page.wait_for_selector("#form-preview .preview-unavailable", timeout=10000)
    assert "Ogiltig JSON" in region.inner_text()
    assert script_violations(messages) == []


def test_the_instance_viewer_marks_completed_and_active_steps_and_lists_them(world, enforced) -> None:
    context, messages = enforced
    page = context.new_page()
    sign_in(page, world["base"], "adam")
    page.goto(f"{world['base']}/admin/cases/{world['case'].id}")
    page.wait_for_selector("#bpmn-diagram[data-ready='true']", timeout=20000)
    assert page.locator("#bpmn-diagram .djs-element.step-done").count() >= 1
    assert page.locator("#bpmn-diagram .djs-element.step-open").count() == 1
    assert page.locator("#bpmn-diagram .step-badge.step-open-badge").inner_text() == "Pågår"
    assert page.locator("#bpmn-diagram .step-badge.step-done-badge").count() >= 1
    rows = page.locator("#instance-steps tbody tr")
    assert rows.filter(has_text="Pågår nu").count() == 1
    done = rows.filter(has_text="Klart")
    assert done.count() >= 1 and "anna" in " ".join(done.all_inner_texts())
    assert "Teckenförklaring" in (page.locator(".legend").get_attribute("aria-label") or "")
    assert script_violations(messages) == []


def test_the_instance_viewer_marks_the_step_that_failed_and_says_so_in_words(world, enforced) -> None:
    context, messages = enforced
    page = context.new_page()
    sign_in(page, world["base"], "adam")
    page.goto(f"{world['base']}/admin/cases/{world['failed'].id}")
    page.wait_for_selector("#bpmn-diagram[data-ready='true']", timeout=20000)
    failed = page.locator("#bpmn-diagram .djs-element.step-failed")
    assert failed.count() == 1 and failed.get_attribute("data-element-id") == "compute"
    assert page.locator("#bpmn-diagram .step-badge.step-failed-badge").inner_text() == "Fel"
    assert page.locator("#bpmn-diagram .djs-element.step-done").get_attribute("data-element-id") == "start"
    row = page.locator("#instance-steps tbody tr[data-state='failed']")
    assert row.locator("th").inner_text() == "Beräkna" and "Fel" in row.inner_text()
    assert "ZeroDivisionError" in page.locator(".incident-message").inner_text()
    assert script_violations(messages) == []


def test_an_administrator_pauses_and_resumes_a_case_with_the_keyboard(world, enforced) -> None:
    context, _messages = enforced
    page = context.new_page()
    sign_in(page, world["base"], "adam")
    page.goto(f"{world['base']}/admin/cases/{world['case'].id}")
    page.focus("#suspend-reason")
    page.keyboard.type("Väntar på budget")
    page.keyboard.press("Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#case-status").inner_text() == "Pausat"
    page.get_by_role("button", name="Återuppta").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#case-status").inner_text() == "Pågår"


def test_every_new_page_has_no_axe_violations(world, checked) -> None:
    page = checked.new_page()
    base = world["base"]
    sign_in(page, base, "dora")
    for path, ready in ((DMN, "#dmn-editor[data-ready='true']"), ("/design/innovation/forms/need", None),
                        ("/design/innovation/forms/new", None)):
        page.goto(base + path)
        if ready:
            page.wait_for_selector(ready, timeout=20000)
        assert page.locator("h1").count() == 1, path
        assert axe_violations(page) == [], path
    # with errors: the summaries, messages and aria-invalid fields pass too
    page.goto(base + "/design/innovation/forms/need")
    page.fill("#schema-text", '{"type": "string"}')
    with page.expect_navigation():
        page.get_by_role("button", name="Spara i utkastet").click()
    assert page.locator("#error-summary").count() == 1
    assert axe_violations(page) == []
    page.goto(base + "/design/innovation/forms/new")
    page.fill("#form-key", "../fel")
    with page.expect_navigation():
        page.get_by_role("button", name="Skapa formuläret").click()
    assert page.locator("#error-summary").count() == 1
    assert axe_violations(page) == []
    page.goto(base + DMN)
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    page.locator("#dmn-editor td", has_text=re.compile(r'^"G2"$')).first.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("__class__")
    with page.expect_navigation():
        page.get_by_role("button", name="Validera").click()
    page.wait_for_selector("#dmn-editor[data-ready='true']", timeout=20000)
    assert page.locator("#error-summary").count() == 1
    assert axe_violations(page) == []

    admin = checked.new_page()
    sign_in(admin, base, "adam")
    admin.goto(f"{base}/admin/cases/{world['failed'].id}")
    admin.wait_for_selector("#bpmn-diagram[data-ready='true']", timeout=20000)
    assert axe_violations(admin) == []
    admin.goto(f"{base}/admin/cases/{world['case'].id}")
    admin.wait_for_selector("#bpmn-diagram[data-ready='true']", timeout=20000)
    assert axe_violations(admin) == []
    admin.fill("#terminate-reason", " ")
    with admin.expect_navigation():
        admin.get_by_role("button", name="Avsluta ärendet").click()
    assert admin.locator("#error-summary").count() == 1
    assert axe_violations(admin) == []
