"""Plain status words from the outcome, a timeline for owners, a history in names and words (issue 16.3)."""

from __future__ import annotations

import re
from datetime import timedelta

from iphs_flow.engine import clock
from iphs_flow.services import timers
from tests.integration.test_web_pages import html, open_task, submit, to_g1
from tests.integration.test_web_pages import web as web  # noqa: F401 - the fixture
from tests.integration.web_world import client_for, post_form

NUMBER = "IPHS 2026/0001"


def status_on_case_page(client) -> str:
    found = re.search(r'<dd id="case-status">([^<]*)</dd>', html(client.get("/cases/1")))
    assert found
    return found.group(1)


def status_in_my_cases(client) -> str:
    row = html(client.get("/cases")).split(NUMBER)[1].split("</tr>")[0]
    return row


def test_a_rejected_case_reads_avslag_and_a_referred_one_hanvisad(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    assert submit(lena, gate.id, {"decision": "rejected", "reason": "Utanför uppdraget"}).status_code == 302
    assert status_on_case_page(anna) == "Avslag" and "<td>Avslag</td>" in status_in_my_cases(anna)
    assert "<td>Avslag</td>" in html(lena.get("/overview"))
    post_form(anna, "/lang", {"lang": "en", "next": "/cases"})
    assert status_on_case_page(anna) == "Rejected"


def test_a_referred_case_reads_hanvisad(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    done = submit(lena, gate.id, {"decision": "referred", "reason": "Hör till trafiken", "refer_to": "Trafikkontoret"})
    assert done.status_code == 302
    assert status_on_case_page(anna) == "Hänvisad"


def test_a_held_case_reads_vilande_till_its_date_and_one_waiting_for_a_reply_says_so(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    assert submit(lena, gate.id, {"decision": "more_info", "info_request": "Hur många skolor?"}).status_code == 302
    assert status_on_case_page(anna) == "Väntar på komplettering"
    assert submit(anna, open_task(ctx, NUMBER, "G1_supplement").id, {"supplement_reply": "Fyra"}).status_code == 302
    assert status_on_case_page(anna) == "Pågår"
    gate = open_task(ctx, NUMBER, "G1_decide")
    held = submit(lena, gate.id, {"decision": "on_hold", "reason": "Budgeten är slut", "resume_date": "2027-02-15"})
    assert held.status_code == 302
    assert status_on_case_page(anna) == "Vilande till 2027-02-15"
    assert "Vilande till 2027-02-15" in status_in_my_cases(anna)
    post_form(anna, "/lang", {"lang": "en", "next": "/cases"})
    assert status_on_case_page(anna) == "On hold until 2027-02-15"


def test_history_speaks_in_names_and_words_never_element_ids(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    clock.freeze(clock.now() + timedelta(days=8))  # working day 5: the decider is reminded
    timers.fire_due_timers(ctx)
    anna, lena = client_for(app, "anna"), client_for(app, "lena")  # signed in again after a week away
    assert submit(lena, open_task(ctx, NUMBER, "G1_decide").id,
                  {"decision": "approved", "within_remit": True, "need_owner_named": True,
                   "not_duplicate": True}).status_code == 302  # the day-8 reminder and the escalation are cancelled
    for client in (anna, lena):
        page = html(client.get("/cases/1"))
        history = page[page.index('id="h-history"'):]
        assert not re.search(r"G1_\w+|Flow_\w+|Gateway_\w+", history), re.findall(r"G1_\w+", history)
    lead_history = html(lena.get("/cases/1")).split('id="h-history"')[1]
    assert "Tidsfrist: en påminnelse eller tidsfrist" in lead_history
    assert "Steg avbrutet: en påminnelse eller tidsfrist" in lead_history
    assert "Avisering: påminnelse" in lead_history
    owner_history = html(anna.get("/cases/1")).split('id="h-history"')[1]
    assert "Steg avbrutet" not in owner_history and "Uppgift klar: Behovsprövning (G1)" in owner_history
