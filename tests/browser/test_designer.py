"""A designer changes the innovation process in the browser and deploys it; old cases move after a preview.

Runs with the real Content Security Policy (no bypass) so the modeler is proven to work
under script-src/style-src 'self'; the axe checks use a separate context, as axe is injected.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from iphs_flow.services import accounts, cases
from iphs_flow.services.permissions import Actor
from tests.browser.conftest import axe_violations, sign_in
from tests.conftest import ROOT
from tests.integration.web_session import PASSWORD

ANNA = Actor("anna", frozenset({"idea_owner"}))
ADMIN = Actor("adam", frozenset({"administrator"}))
INNOVATION = (ROOT / "bpmn" / "innovation.bpmn").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def world(served):
    server, ctx = served
    accounts.add_user(ctx, "dora", "Dora Designer", password=PASSWORD, roles={"process_designer"}, groups=set())
    accounts.add_user(ctx, "adam", "Adam Administratör", password=PASSWORD, roles={"administrator"},
                      groups={"administrators"})
    old_case = cases.start_case(ctx, "innovation", {}, ANNA)
    return {"server": server, "ctx": ctx, "old_case": old_case}


def strict_page(browser, server: str, username: str):
    """A signed-in page that enforces the site's CSP and records every console error."""
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    sign_in(page, server, username)
    return page


def open_modeler(page, server: str) -> None:
    page.goto(f"{server}/design/innovation")
    page.wait_for_selector("#designer[data-ready=true]", timeout=30000)


def wait_status(page, text: str) -> None:
    expect(page.locator("#designer-status")).to_contain_text(text, timeout=30000)


def status(page) -> str:
    return page.locator("#designer-status").inner_text()


def test_a_designer_adds_a_user_task_with_a_form_and_deploys_version_2(browser, world) -> None:
    server, ctx = world["server"], world["ctx"]
    page = strict_page(browser, server, "dora")
    page.goto(f"{server}/design")
    page.get_by_role("link", name="Redigera Innovationsprocess").click()
    page.wait_for_selector("#designer[data-ready=true]", timeout=30000)
    assert page.locator("#canvas .djs-palette").count() == 1  # the modeler, not the viewer

    # keyboard only: choose the need task in the element list, add a user task after it
    page.focus("#element-select")
    page.select_option("#element-select", "need")
    page.focus("#btn-add-task")
    page.keyboard.press("Enter")
    expect(page.locator("#properties input[name=name]")).to_be_focused()
    page.keyboard.type("Kontrollera behovet")
    page.keyboard.press("Tab")
    page.fill("#properties input[name=formKey]", "check_need")
    page.press("#properties input[name=formKey]", "Tab")
    page.get_by_role("button", name="Skapa formuläret check_need").click()
    wait_status(page, "check_need")
    page.select_option("#properties select[name=stage]", "0")
    page.fill("#properties textarea[name=documentation]", "Läs igenom behovet innan det tas emot.")
    page.get_by_role("button", name="Tillämpa ändringarna").click()

    page.get_by_role("button", name="Kontrollera").click()
    wait_status(page, "Inga problem")
    page.get_by_role("button", name="Driftsätt").click()
    wait_status(page, "driftsatt")
    assert "Version 2 av Innovationsprocess är driftsatt" in status(page)
    assert [e for e in page.errors if "Content Security Policy" in e or "Refused" in e] == []

    new_case = cases.start_case(ctx, "innovation", {}, ANNA)
    assert new_case.process_version == 2
    assert cases.get_case(ctx, world["old_case"].number, ADMIN).case.process_version == 1
    # the properties made it into the deployed model
    need = cases.complete_task(ctx, new_case.open_tasks[0].id, {
        "title": "Tryggare skolvägar", "need": "Barn känner sig otrygga.", "target_group": "Elever",
        "need_owner": "Skolchef Eva Ek"}, ANNA)
    assert [(t.name, t.form_key, t.stage) for t in need.open_tasks] == [("Kontrollera behovet", "check_need", 0)]
    page.context.close()


def test_a_save_from_an_older_copy_is_refused_and_the_editor_keeps_the_work(browser, world) -> None:
    server = world["server"]
    first = strict_page(browser, server, "dora")
    second = strict_page(browser, server, "dora")
    open_modeler(first, server)
    open_modeler(second, server)
    for page, name in ((first, "Första"), (second, "Andra")):
        page.select_option("#element-select", "need")
        page.fill("#properties input[name=name]", f"{name} namnet")
        page.press("#properties input[name=name]", "Tab")
    first.get_by_role("button", name="Spara utkast").click()
    wait_status(first, "sparat")
    second.get_by_role("button", name="Spara utkast").click()
    wait_status(second, "sparades inte")
    assert "finns kvar i redigeraren" in status(second)
    assert second.locator("#properties input[name=name]").input_value() == "Andra namnet"
    first.context.close()
    second.context.close()


def test_the_old_case_moves_to_version_2_after_a_preview(browser, world) -> None:
    server, ctx = world["server"], world["ctx"]
    old = world["old_case"]
    page = strict_page(browser, server, "adam")
    page.goto(f"{server}/design/innovation/versions")
    assert page.locator("#diff").inner_text().count("Tillagt") >= 1
    page.get_by_role("link", name=f"Förhandsgranska flytt av {old.number} till version 2").click()
    page.wait_for_load_state("load")
    assert page.locator("h1").inner_text() == f"Flytta {old.number} till version 2"
    assert "Kontrollera behovet" in page.locator("main").inner_text()
    page.get_by_role("button", name=f"Flytta {old.number} till version 2").click()
    page.wait_for_load_state("load")
    assert f"Ärendet {old.number} kör nu version 2." in page.locator(".flash").inner_text()
    detail = cases.get_case(ctx, old.number, ADMIN)
    assert detail.case.process_version == 2
    assert [e.data["to"] for e in detail.history if e.kind == "case_migrated"] == [2]
    page.context.close()


@pytest.mark.parametrize(("content", "reason"), [
    ('<?xml version="1.0"?>\n<!DOCTYPE bpmn [<!ENTITY a "x"><!ENTITY b "&a;&a;">]>\n' + INNOVATION.split("?>", 1)[1],
     "DOCTYPE and entity declarations are not allowed"),
    (INNOVATION.replace('<bpmn:script>decision = "on_hold"', '<bpmn:script>import os\ndecision = "on_hold"', 1),
     "Imports are not allowed"),
], ids=["entities", "import-os"])
def test_a_malicious_bpmn_upload_is_refused_with_a_clear_message(browser, world, content, reason) -> None:
    server = world["server"]
    page = strict_page(browser, server, "dora")
    page.goto(f"{server}/design/import")
    page.set_input_files("#import-file", files=[{"name": "innovation.bpmn", "mimeType": "application/xml",
                                                  "buffer": content.encode()}])
    page.get_by_role("button", name="Läs in", exact=True).click()
    page.wait_for_load_state("load")
    alert = page.get_by_role("alert")
    assert "Filen lästes inte in" in alert.inner_text() and reason in alert.inner_text()
    page.context.close()


def test_every_designer_page_passes_axe(browser, world) -> None:
    server = world["server"]
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sign_in(page, server, "adam")
    for path in ("/design", "/design/import", "/design/innovation/versions?old=1&new=2"):
        page.goto(server + path)
        assert page.locator("h1").count() == 1, path
        assert axe_violations(page) == [], path
    open_modeler(page, server)
    page.select_option("#element-select", "need")
    assert axe_violations(page) == [], "modeler with a user task selected"
    page.get_by_role("button", name="Kontrollera").click()
    expect(page.locator("#designer-status")).not_to_be_empty(timeout=30000)
    assert axe_violations(page) == [], "modeler after validation"
    page.goto(f"{server}/design/import")
    page.set_input_files("#import-file", files=[{"name": "x.bpmn", "mimeType": "application/xml",
                                                  "buffer": b"<!DOCTYPE x><x/>"}])
    page.get_by_role("button", name="Läs in", exact=True).click()
    page.wait_for_load_state("load")
    assert axe_violations(page) == [], "import with an error"
    context.close()


def test_the_designer_link_is_shown_to_designers_only(browser, world) -> None:
    server = world["server"]
    page = strict_page(browser, server, "anna")
    page.goto(f"{server}/inbox")
    assert page.get_by_role("link", name="Processdesign").count() == 0
    page.goto(f"{server}/design")
    assert page.locator("h1").inner_text() == "Något gick inte att göra"
    page.context.close()
    page = strict_page(browser, server, "dora")
    page.goto(f"{server}/inbox")
    page.get_by_role("link", name="Processdesign").click()
    assert re.search(r"/design$", page.url)
    page.context.close()
