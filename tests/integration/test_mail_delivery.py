"""The shipped innovation process over a real SMTP server: every reminder, escalation and
decision mail arrives once, on the right working day, to the right person, in their language."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iphs_flow.engine import clock
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, processes
from tests.conftest import ROOT, make_context
from tests.integration.process_driver import ASSIGN, DESIGNER, G1_APPROVE, NEED, Walk
from tests.integration.test_innovation_process import MONDAY_BEFORE_EASTER
from tests.smtp_server import MailServer


@pytest.fixture
def ctx(sqlite_url, mail_server):
    context = make_context(sqlite_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn", smtp_host="127.0.0.1",
                           smtp_port=mail_server.port, base_url="https://iphs.example.se")
    processes.deploy_process(context, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    accounts.add_user(context, "anna", "Anna Andersson", email="anna@example.se", language="sv")
    accounts.add_user(context, "lena", "Lena Lind", email="lena@example.se", language="en",
                      groups={"innovation-leads"}, roles={"innovation_lead"}, manager="mona")
    accounts.add_user(context, "mona", "Mona Berg", email="mona@example.se", language="sv")
    clock.freeze(MONDAY_BEFORE_EASTER)
    yield context
    context.close()


def new_mails(server: MailServer, seen: list) -> list[tuple[str, str, str, str]]:
    got = server.received()
    fresh = got[len(seen):]
    seen.extend(fresh)
    return [(m.date[:10], m.to, m.language, m.subject) for m in fresh]


def test_gate_reminders_and_the_escalation_arrive_once_on_their_working_days(ctx, mail_server) -> None:
    scheduler, seen = Scheduler(ctx, "test"), []
    walk = Walk.start(ctx)
    walk.complete("need", NEED)
    scheduler.run_once()
    assert sorted(new_mails(mail_server, seen)) == [
        ("2026-03-31", "anna@example.se", "sv", f"Vi har tagit emot ditt ärende {walk.number}"),
        ("2026-03-31", "lena@example.se", "en", f"New task: Tilldela innovationsledare in {walk.number}")]
    walk.complete("assign_lead", ASSIGN)
    scheduler.run_once()
    new_mails(mail_server, seen)

    arrived = []
    for _ in range(3):  # G1 opened Tuesday 31 March; Easter (3-6 April) is skipped
        walk.advance_to_next_timer()
        scheduler.run_once()
        scheduler.run_once()
        arrived += new_mails(mail_server, seen)
    decision = "Behovsprövning (G1)"
    assert arrived == [
        ("2026-04-09", "lena@example.se", "en", f"Reminder: {decision} in {walk.number}"),
        ("2026-04-14", "lena@example.se", "en", f"Reminder: {decision} in {walk.number}"),
        ("2026-04-16", "mona@example.se", "sv", f"Eskalering: {decision} i {walk.number} är försenad"),
    ]
    escalation = seen[-1]
    assert "Lena Lind" in escalation.body and "efter 10 arbetsdagar" in escalation.body
    assert f"https://iphs.example.se/cases/{walk.case_id}" in escalation.body

    clock.advance(timedelta(days=3))
    scheduler.run_once()
    assert new_mails(mail_server, seen) == []  # nothing twice


def test_the_owner_is_told_of_a_gate_decision_and_its_reason(ctx, mail_server) -> None:
    scheduler, seen = Scheduler(ctx, "test"), []
    walk = Walk.start(ctx)
    walk.complete("need", NEED)
    walk.complete("assign_lead", ASSIGN)
    scheduler.run_once()
    new_mails(mail_server, seen)
    walk.complete("G1_decide", dict(G1_APPROVE, decision="rejected", reason="Ligger utanför stadens uppdrag."))
    scheduler.run_once()
    [mail] = [m for m in mail_server.received()[len(seen):]]
    assert (mail.to, mail.subject) == ("anna@example.se", f"Beslut G1 i {walk.number}: Avslag")
    assert "Motivering:\nLigger utanför stadens uppdrag." in mail.body
