"""A secret-marked value never leaves the people who handle the case (OSL): not in search hits or
snippets, not among similar cases, not in the API for a non-handler, not in mails (real SMTP) or
in-app notifications to others. The shipped innovation process, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from iphs_flow.app import create_app
from iphs_flow.engine import clock
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, notifications, registration
from iphs_flow.services.queries import case_page
from iphs_flow.services.queries.search import search, similar_cases
from tests.conftest import ROOT, make_context
from tests.integration.api_world import Browser
from tests.integration.process_driver import ASSIGN, DESIGNER, G1_APPROVE, NEED, OWNER, Walk
from tests.people import LEAD, PASSWORD

SECRET_NEED = "Xylofonvägens trafikräkning visar leverantörens priser"
SECRET_REASON = "Zebrakodens anbudspris fyratusensjuhundraelva kronor"
WORDS = ("Xylofonvägens", "Zebrakodens", "fyratusensjuhundraelva")


@pytest.fixture
def world(db_url, mail_server):
    ctx = make_context(db_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn", smtp_host="127.0.0.1",
                       smtp_port=mail_server.port, base_url="https://iphs.example.se",
                       login_rate="10000/minute")
    from iphs_flow.services import processes

    processes.deploy_process(ctx, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    accounts.add_user(ctx, "anna", "Anna Andersson", email="anna@example.se", password=PASSWORD)
    accounts.add_user(ctx, "mona", "Mona Chef", email="mona@example.se", password=PASSWORD)
    accounts.add_user(ctx, "lena", "Lena Lind", email="lena@example.se", password=PASSWORD,
                      roles={"innovation_lead"}, groups={"innovation-leads"}, manager="mona")
    accounts.add_user(ctx, "bo", "Bo Beslut", email="bo@example.se", roles={"approver"},
                      groups={"unit-managers", "gate-deciders"})
    clock.freeze(datetime(2026, 3, 31, 7, 0, tzinfo=timezone.utc))
    yield ctx, create_app(context=ctx)
    clock.reset()
    ctx.close()


def _texts(found) -> str:
    return json.dumps([(h.title, h.snippet, h.field) for h in found.hits], ensure_ascii=False)


def test_a_secret_marked_value_never_reaches_search_similar_cases_the_api_mails_or_notifications(
        world, mail_server) -> None:
    ctx, app = world
    walk = Walk.start(ctx)
    walk.complete("need", dict(NEED, need=SECRET_NEED))
    walk.complete("assign_lead", ASSIGN)
    # before the marking the need is found: the search would show it
    assert search(ctx, "Xylofonvägens", LEAD).total == 1

    registration.mark_secret(ctx, walk.case_id, LEAD, kind="field", target="need", provision="OSL 31 kap. 16 §",
                             reason="Leverantörens affärsförhållanden")
    registration.mark_secret(ctx, walk.case_id, LEAD, kind="field", target="reason", provision="OSL 19 kap. 3 §",
                             reason="Anbudspriser i en pågående upphandling")
    walk.complete("G1_decide", dict(G1_APPROVE, decision="rejected", reason=SECRET_REASON))
    Scheduler(ctx, "test").run_once()

    mona = accounts.actor_for(ctx, "mona")  # lena's manager: sees the case, does not handle it
    for reader in (LEAD, mona, OWNER):
        for word in WORDS:
            found = search(ctx, word, reader)
            assert found.total == 0 and not any(word in _texts(found) for word in WORDS)
        similar = similar_cases(ctx, SECRET_NEED, reader, 10)
        assert walk.case_id not in [s.case_id for s in similar]
        assert not any(w in json.dumps([(s.title, s.snippet, s.lessons) for s in similar], ensure_ascii=False)
                       for w in WORDS)

    # the API, for a non-handler: case data, history, decisions, records, search
    browser = Browser(app, "mona")
    for path in (f"/api/v1/cases/{walk.number}", f"/api/v1/cases/{walk.number}/history",
                 f"/api/v1/cases/{walk.number}/decisions", "/api/v1/search?q=Xylofonvägens",
                 f"/api/v1/similar?text={SECRET_NEED}", f"/cases/{walk.case_id}"):
        response = browser.get(path)
        assert response.status_code == 200, path
        body = response.get_data(as_text=True)
        assert not any(w in body for w in WORDS), path
    assert "Sekretess enligt OSL 31 kap. 16 §" in browser.get(f"/cases/{walk.case_id}").get_data(as_text=True)

    # the owner's decision mail (a real SMTP server) and her in-app notification leave the reason out
    received = mail_server.wait_for(1)
    decision_mails = [m for m in received if m.to == "anna@example.se" and m.subject.startswith("Beslut G1")]
    assert decision_mails, [m.subject for m in received]
    assert not any(w in m.body or w in m.subject for m in received for w in WORDS)
    notes = [n for name in ("anna", "mona", "bo")
             for n in notifications.list_notifications(ctx, accounts.actor_for(ctx, name))]
    assert any(n.template == "decision" for n in notes)
    assert not any(w in n.body or w in n.subject for n in notes for w in WORDS)

    # those who handle the case still see both, and the decision mail is a registered outgoing document
    lead_page = case_page.case_page(ctx, walk.case_id, LEAD)
    assert SECRET_REASON in [d.reason for d in lead_page.records.decisions]
    assert SECRET_NEED in [r.data.get("need") for r in lead_page.records.stages]
    owner_page = case_page.case_page(ctx, walk.case_id, OWNER)  # her own need, but not the decider's reason
    assert SECRET_NEED in [r.data.get("need") for r in owner_page.records.stages]
    assert SECRET_REASON not in [d.reason for d in owner_page.records.decisions]
    documents = registration.registration_panel(ctx, walk.case_id, LEAD).documents
    assert [(d.direction, d.kind, d.counterpart) for d in documents if d.kind == "decision"] == \
        [("outgoing", "decision", "anna")]


def test_lifting_the_marking_makes_the_field_searchable_again(world) -> None:
    ctx, _app = world
    walk = Walk.start(ctx)
    walk.complete("need", dict(NEED, need=SECRET_NEED))
    marked = registration.mark_secret(ctx, walk.case_id, LEAD, kind="field", target="need",
                                      provision="OSL 31 kap. 16 §", reason="Affärsförhållanden")
    assert search(ctx, "Xylofonvägens", LEAD).total == 0
    registration.lift_secrecy(ctx, walk.case_id, marked.id, LEAD, reason="Prövat: offentlig")
    found = search(ctx, "Xylofonvägens", LEAD)
    assert found.total == 1 and "Xylofonvägens" in found.hits[0].snippet
