"""The pages: a person's notifications and mail setting; the administrator's outbox and failed jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from iphs_flow.app import create_app
from iphs_flow.engine import clock
from iphs_flow.scheduler import Scheduler
from iphs_flow.services import accounts, cases, jobs, processes
from tests.conftest import ADMIN, ANNA, DESIGNER, fixture_files, make_context
from tests.integration.web_session import PASSWORD, csrf_token, login


@pytest.fixture
def web(sqlite_url, frozen_clock):
    ctx = make_context(sqlite_url, login_rate="1000/minute")
    accounts.add_user(ctx, "lena", "Lena Lind", password=PASSWORD, email="lena@example.se",
                      groups={"innovation-leads"}, roles={"innovation_lead"})
    accounts.add_user(ctx, "adam", "Adam Admin", password=PASSWORD, roles={"administrator"})
    processes.deploy_process(ctx, fixture_files("timers.bpmn"), DESIGNER)
    view = cases.start_case(ctx, "timers", {"start_date": "2026-03-16"}, ANNA, title="Cykelparkering")
    for _ in range(2):  # the decision opens; then its day-5 reminder
        clock.freeze(cases.get_case(ctx, view.number, ADMIN).case.next_timer_at + timedelta(seconds=1))
        Scheduler(ctx, "test").run_once()
    app = create_app(context=ctx)
    yield app
    ctx.close()


def test_a_person_reads_their_notifications_and_marks_them_read(web) -> None:
    client = web.test_client()
    login(client, "lena")
    page = client.get("/notifications").get_data(as_text=True)
    assert "Påminnelse: Fatta beslut i IPHS 2026/0001" in page and "Ny" in page
    token = csrf_token(client, "/notifications")
    assert client.post("/notifications/read", data={"csrf_token": token}).status_code == 302
    assert "<strong>Ny" not in client.get("/notifications").get_data(as_text=True)


def test_a_person_chooses_a_daily_digest(web) -> None:
    client = web.test_client()
    login(client, "lena")
    token = csrf_token(client, "/notifications")
    assert client.post("/notifications/mode", data={"notify_mode": "daily"}).status_code == 400  # no CSRF token
    response = client.post("/notifications/mode", data={"notify_mode": "daily", "csrf_token": token})
    assert response.status_code == 302
    assert accounts.get_user(web.extensions["iphs"], "lena").notify_mode == "daily"
    refused = client.post("/notifications/mode", data={"notify_mode": "hourly", "csrf_token": token})
    assert refused.status_code == 422
    assert accounts.get_user(web.extensions["iphs"], "lena").notify_mode == "daily"


def test_without_smtp_an_administrator_reads_the_held_mails_in_the_outbox(web) -> None:
    client = web.test_client()
    assert client.get("/admin/outbox").status_code == 302  # sign in first
    login(client, "lena")
    assert client.get("/admin/outbox").status_code == 403
    client = web.test_client()
    login(client, "adam")
    page = client.get("/admin/outbox?status=held").get_data(as_text=True)
    assert "lena@example.se" in page and "Påminnelse: Fatta beslut i IPHS 2026/0001" in page
    assert "Uppgiften &#34;Fatta beslut&#34;" in page or 'Uppgiften "Fatta beslut"' in page


def test_an_administrator_retries_and_dismisses_failed_jobs_from_the_outbox_page(web) -> None:
    ctx = web.extensions["iphs"]
    [mail] = [j for j in jobs.list_outbox(ctx, ADMIN) if j.subject.startswith("Påminnelse")]  # not the new-task mail
    client = web.test_client()
    login(client, "adam")
    token = csrf_token(client, "/notifications")  # one token per session
    assert client.post(f"/admin/jobs/{mail.id}/dismiss", data={"csrf_token": token}).status_code == 302
    assert {j.id: j.status for j in jobs.list_outbox(ctx, ADMIN)}[mail.id] == "dismissed"
    again = client.post(f"/admin/jobs/{mail.id}/retry", data={"csrf_token": token})
    assert again.status_code == 409  # a dismissed job stays dismissed
    assert client.post("/admin/jobs/999999/retry", data={"csrf_token": token}).status_code == 404
