"""A case through two gate rounds in the browser, as the demo users, with axe-core on every page visited (issue 16.6).

anna (idea owner) describes the need; lena (innovation lead) assigns herself and asks for more
information at G1; anna replies; lena reads the reply in the decision brief and approves;
anna understands the need and types the concept's budget as "250 000"; bo (unit manager) sees
the brief and approves the pilot; adam (administrator) looks at the outbox and the case; dora
(process designer) opens the designer; lena sees the diagram. No command line in between.
"""

from __future__ import annotations

import re

from iphs_flow.engine import clock
from iphs_flow.services import accounts
from tests.browser.conftest import axe_violations, sign_in
from tests.conftest import T0
from tests.integration.process_driver import CONCEPT, NEED, UNDERSTAND
from tests.integration.web_session import PASSWORD

NUMBER = "IPHS 2026/0001"


def test_a_case_goes_through_two_gate_rounds_as_the_demo_users_with_no_axe_violations(browser, served) -> None:
    server, ctx = served
    accounts.add_user(ctx, "adam", "Adam Administratör", password=PASSWORD, roles={"administrator"})
    accounts.add_user(ctx, "dora", "Dora Designer", password=PASSWORD, roles={"process_designer"})
    people: dict[str, object] = {}
    visited: list[str] = []

    def person(username: str):
        if username not in people:
            page = browser.new_context(bypass_csp=True).new_page()  # axe is injected as a script tag
            sign_in(page, server, username)
            people[username] = page
        return people[username]

    def checked(page) -> None:
        page.wait_for_load_state("load")
        violations = axe_violations(page)
        assert violations == [], (page.url, violations)
        visited.append(page.url.replace(server, ""))

    def visit(username: str, path: str):
        page = person(username)
        page.goto(f"{server}{path}")
        checked(page)
        return page

    def open_task(username: str, name: str):
        page = visit(username, "/inbox")
        page.get_by_role("link", name=name).first.click()
        page.wait_for_url(re.compile(r"/tasks/\d+$"))
        checked(page)
        return page

    def send(page) -> None:
        page.get_by_role("button", name="Skicka in").click()
        page.wait_for_load_state("load")
        assert re.search(r"/cases/\d+$", page.url), page.locator("#error-summary").inner_text() \
            if page.locator("#error-summary").count() else page.url
        checked(page)

    clock.freeze(T0)
    try:
        anna = visit("anna", "/start")
        anna.get_by_role("button", name=re.compile("Starta: Innovation")).click()
        anna.wait_for_url(re.compile(r"/tasks/\d+$"))
        checked(anna)
        anna.get_by_role("button", name="Skicka in").click()  # empty: refused, focus on the summary
        anna.wait_for_load_state("load")
        assert anna.evaluate("document.activeElement.id") == "error-summary"
        checked(anna)
        for field in ("title", "need", "target_group", "need_owner"):
            anna.fill(f"#f-{field}", NEED[field])
        send(anna)

        lena = open_task("lena", "Tilldela innovationsledare")
        lena.fill("#f-innovation_lead", "lena") if lena.locator("input#f-innovation_lead").count() else \
            lena.select_option("#f-innovation_lead", "lena")
        send(lena)

        # G1, round 1: the outcome's fields appear with the outcome (JavaScript here; the server without it)
        lena = open_task("lena", "Behovsprövning (G1)")
        assert lena.locator("#outcome-info_request").is_hidden() and lena.locator("#outcome-reason").is_hidden()
        lena.check('input[name="decision"][value="rejected"]')
        assert lena.locator("#outcome-reason").is_visible() and lena.locator("#outcome-within_remit").is_hidden()
        lena.get_by_role("button", name="Skicka in").click()  # a rejection needs a reason
        lena.wait_for_load_state("load")
        assert lena.evaluate("document.activeElement.id") == "error-summary"
        checked(lena)
        lena.check('input[name="decision"][value="more_info"]')
        assert lena.locator("#outcome-info_request").is_visible() and lena.locator("#outcome-reason").is_hidden()
        lena.fill("#f-info_request", "Hur många skolor berörs?")
        send(lena)
        assert "Väntar på komplettering" in visit("anna", "/cases").content()

        anna = open_task("anna", "Komplettera (G1)")
        assert "Hur många skolor berörs?" in anna.content()
        anna.fill("#f-supplement_reply", "Fyra skolor i Skärholmen")
        send(anna)

        # G1, round 2: the brief shows the reply and the first round's decision
        lena = open_task("lena", "Behovsprövning (G1)")
        brief = lena.locator("section.decision-brief").inner_text()
        assert "Fyra skolor i Skärholmen" in brief and "Hur många skolor berörs?" in brief
        assert "Omgång 1" in brief and "Skolchef Eva Ek" in brief
        lena.check('input[name="decision"][value="approved"]')
        for criterion in ("within_remit", "need_owner_named", "not_duplicate"):
            lena.check(f"#f-{criterion}")
        send(lena)

        anna = open_task("anna", "Förstå behovet")
        for key, value in UNDERSTAND.items():
            if isinstance(value, list):
                for v in value:
                    anna.check(f'input[name="{key}"][value="{v}"]')
            else:
                anna.fill(f"#f-{key}", value)
        send(anna)
        anna = open_task("anna", "Idé och koncept")
        anna.fill("#f-chosen_concept", CONCEPT["chosen_concept"])
        anna.click('button[value="add:expected_benefits"]')
        anna.wait_for_selector('[name="expected_benefits.0.indicator"]')
        anna.fill('[name="expected_benefits.0.indicator"]', "Andel elever som känner sig trygga")
        anna.fill('[name="expected_benefits.0.baseline"]', "40")
        anna.fill('[name="expected_benefits.0.target"]', "70")
        anna.fill("#f-pilot_budget", "250 000")  # as Swedes write it
        anna.check('input[name="pilot_scope"][value="unit"]')
        anna.fill("#f-pilot_plan", CONCEPT["pilot_plan"])
        send(anna)

        bo = open_task("bo", "Beslut om pilot (G2)")
        brief = bo.locator("section.decision-brief").inner_text()
        assert "Smart belysning vid passager" in brief and "250\u00a0000" in brief
        bo.check('input[name="decision"][value="approved"]')
        for criterion in ("need_verified_with_users", "measurable_benefit_hypothesis", "pilot_success_criteria",
                          "funding_secured", "gdpr_screened"):
            bo.check(f"#f-{criterion}")
        send(bo)

        pilot = open_task("anna", "Planera och starta piloten")
        assert pilot.locator('[name="indicators.0.indicator"]').input_value() == "Andel elever som känner sig trygga"
        case_page = visit("anna", "/cases/1")
        assert case_page.locator("#bpmn-diagram").count() == 0  # the owner: timeline and people's steps
        records = case_page.locator("#h-data + ol").inner_text()
        assert records.index("Behovsprövning (G1): Begär komplettering") < records.index(
            "Behovsprövning (G1) (omgång 2): Godkänd")
        assert not re.search(r"G1_\w+", case_page.locator("#h-history + table").inner_text())

        lead_view = visit("lena", "/cases/1")  # leads see the whole model
        lead_view.wait_for_selector("#bpmn-diagram[data-ready='true']", timeout=20000)
        checked(lead_view)
        visit("dora", "/design")
        visit("adam", "/admin/outbox")
        visit("adam", "/admin/cases/1")
        visit("adam", "/overview")
        missing = person("adam")
        missing.goto(f"{server}/cases/999")
        checked(missing)  # the error page too
        assert "/cases/999" in visited and "/admin/outbox" in visited
    finally:
        clock.reset()
        for page in people.values():
            page.context.close()
