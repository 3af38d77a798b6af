"""Every page passes axe-core (WCAG 2.1 A and AA) and works with the keyboard alone."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import axe_violations, sign_in


@pytest.fixture(scope="module")
def pages(browser, server):
    """Signed-in pages for an idea owner and an innovation lead, with one case at G1."""
    context = browser.new_context(bypass_csp=True)
    anna = context.new_page()
    sign_in(anna, server, "anna")
    anna.goto(f"{server}/start")
    anna.get_by_role("button", name=re.compile("Starta: Innovation", re.I)).first.click()
    anna.wait_for_url(re.compile(r"/tasks/\d+"))
    need_url = anna.url
    anna.fill("#f-title", "Tryggare skolvägar")
    anna.fill("#f-need", "Barn känner sig otrygga på väg till skolan.")
    anna.fill("#f-target_group", "Elever och vårdnadshavare")
    anna.fill("#f-need_owner", "Skolchef Eva Ek")
    anna.get_by_role("button", name="Skicka in").click()
    anna.wait_for_url(re.compile(r"/cases/\d+"))
    case_url = anna.url
    lead_context = browser.new_context(bypass_csp=True)
    lena = lead_context.new_page()
    sign_in(lena, server, "lena")
    yield {"anna": anna, "lena": lena, "case": case_url, "need": need_url, "server": server}
    context.close()
    lead_context.close()


def check(page, url: str) -> None:
    page.goto(url)
    assert page.locator("h1").count() == 1, url
    violations = axe_violations(page)
    assert violations == [], (url, violations)


@pytest.mark.parametrize("path", ["/login", "/tillganglighet", "/"])
def test_public_pages_have_no_axe_violations(browser, server, path) -> None:
    page = browser.new_page(bypass_csp=True)
    check(page, server + path)
    page.close()


@pytest.mark.parametrize("path", ["/inbox", "/cases", "/start", "/notifications"])
def test_the_idea_owners_pages_have_no_axe_violations(pages, path) -> None:
    check(pages["anna"], pages["server"] + path)


def test_the_case_page_and_a_completed_task_have_no_axe_violations(pages) -> None:
    check(pages["anna"], pages["case"])
    check(pages["anna"], pages["need"])


def test_the_leads_inbox_overview_and_forms_have_no_axe_violations(pages) -> None:
    lena = pages["lena"]
    check(lena, pages["server"] + "/inbox")
    check(lena, pages["server"] + "/overview")
    lena.goto(pages["server"] + "/inbox")
    lena.get_by_role("link", name="Utse innovationsledare").first.click() if lena.get_by_role(
        "link", name="Utse innovationsledare").count() else lena.locator("tbody a").first.click()
    lena.wait_for_url(re.compile(r"/tasks/\d+"))
    assert axe_violations(lena) == []
    # a form with errors: the error summary, aria-invalid fields and messages pass too
    lena.get_by_role("button", name="Skicka in").click()
    lena.wait_for_load_state("load")
    assert lena.locator("#error-summary").count() == 1
    assert axe_violations(lena) == []


def test_a_task_form_is_filled_and_sent_with_the_keyboard_alone(pages) -> None:
    lena = pages["lena"]
    lena.goto(pages["server"] + "/inbox")
    lena.locator("tbody a[href^='/tasks/']").first.click()
    lena.wait_for_url(re.compile(r"/tasks/\d+"))
    lena.locator("body").focus()
    # Tab from the top of the page until the first form field has focus, then type and press Enter.
    for _ in range(40):
        lena.keyboard.press("Tab")
        if lena.evaluate("document.activeElement && document.activeElement.name") == "innovation_lead":
            break
    else:
        pytest.fail("Tab never reached the form field")
    lena.keyboard.type("lena")  # the people picker: typing a name selects that person
    assert lena.evaluate("document.activeElement.value") == "lena"
    for _ in range(10):  # on to the submit button
        lena.keyboard.press("Tab")
        if lena.evaluate("document.activeElement && document.activeElement.value") == "submit":
            break
    lena.keyboard.press("Enter")
    lena.wait_for_url(re.compile(r"/cases/\d+"))
    assert "är inskickad" in lena.content()


def test_the_axe_check_does_find_violations_when_there_are_some(browser) -> None:
    page = browser.new_page(bypass_csp=True)
    page.set_content('<html lang="sv"><body><main><h1>Prov</h1><img src="x.png"><input id="x"></main></body></html>')
    found = {v["id"] for v in axe_violations(page)}
    page.close()
    assert {"image-alt", "label"} <= found


def test_the_bpmn_diagram_shows_where_the_case_stands(pages) -> None:
    lena = pages["lena"]  # the full diagram is for leads and designers; the owner sees the people's steps
    lena.goto(pages["case"])
    lena.wait_for_selector("#bpmn-diagram[data-ready='true']", timeout=15000)
    assert lena.locator("#bpmn-diagram .step-open").count() >= 1
    assert lena.locator("#bpmn-diagram .step-done").count() >= 1
    assert axe_violations(lena) == []


def test_every_shipped_form_empty_and_with_every_error_passes_axe(browser) -> None:
    import json

    from flask import render_template

    from iphs_flow.app import create_app
    from iphs_flow.web.forms import FormSpec
    from tests.conftest import ROOT, make_context

    ctx = make_context("sqlite://", forms_dir=ROOT / "forms")
    app = create_app(context=ctx)
    page = browser.new_page(bypass_csp=True)
    names = sorted(p.name.removesuffix(".schema.json") for p in (ROOT / "forms").glob("*.schema.json"))
    with app.test_request_context("/"):
        for name in names:
            schema = json.loads((ROOT / "forms" / f"{name}.schema.json").read_text())
            ui_path = ROOT / "forms" / f"{name}.ui.json"
            spec = FormSpec(name, {"schema": schema, "ui": json.loads(ui_path.read_text()) if ui_path.exists() else {}})
            # one empty row in each repeatable field, and the errors an empty submission gets
            values = {k: [{}] for k, v in schema.get("properties", {}).items()
                      if v.get("type") == "array" and v.get("items", {}).get("type") == "object"}
            for state in (spec.build({}), spec.build(values, spec.validate({"decision": "rejected"}))):
                page.set_content(render_template("_form_preview.html", form=state))
                assert axe_violations(page) == [], name
    page.close()
    ctx.close()
