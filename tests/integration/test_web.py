"""The plain start page lists processes, cases and open tasks, in Swedish."""

from __future__ import annotations

from iphs_flow.services import cases, processes
from iphs_flow.web.app import create_app
from tests.conftest import fixture_files


def test_the_start_page_lists_processes_cases_and_tasks(ctx) -> None:
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), "designer")
    cases.start_case(ctx, "review_loop", {"title": "Grönare skolgårdar"}, "anna")
    client = create_app(context=ctx).test_client()
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert "Granskning med omarbetning" in html and "Grönare skolgårdar" in html and "Skriv utkast" in html
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/healthz").json == {"status": "ok"}
