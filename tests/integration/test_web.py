"""The plain start page says what the city works on, with counts in plain words, in Swedish."""

from __future__ import annotations

from iphs_flow.app import create_app
from iphs_flow.services import cases, processes
from tests.conftest import ANNA, DESIGNER, fixture_files


def test_the_start_page_shows_counts_in_plain_words_but_no_case_data_nor_user_names(ctx) -> None:
    processes.deploy_process(ctx, fixture_files("review_loop.bpmn"), DESIGNER)
    cases.start_case(ctx, "review_loop", {"title": "Grönare skolgårdar"}, ANNA)
    client = create_app(context=ctx).test_client()
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="sv">' in html
    assert "Pågår" in html and "running" not in html
    assert DESIGNER.username not in html  # who deployed a process is nobody's business on the public page
    assert 'href="/stadens-innovationer"' in html and 'href="/login"' in html
    assert "Grönare skolgårdar" not in html  # no case data for anonymous visitors
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/healthz").json == {"status": "ok"}


def test_an_unknown_page_gets_the_sites_own_404_in_swedish_and_the_api_problem_json(ctx) -> None:
    client = create_app(context=ctx).test_client()
    page = client.get("/finns-inte")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "Sidan finns inte." in page.get_data(as_text=True) and '<html lang="sv">' in page.get_data(as_text=True)
    api = client.get("/api/v1/finns-inte")
    assert api.status_code == 404 and api.mimetype == "application/problem+json"
