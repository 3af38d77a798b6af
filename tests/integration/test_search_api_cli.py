"""/api/v1/search, /api/v1/similar, duplicates over HTTP, and `iphs-flow search` on the command line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from iphs_flow.cli import cli
from iphs_flow.services import accounts, cases
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import FIXTURES, ROOT
from tests.integration.api_world import Browser
from tests.integration.process_driver import ASSIGN, NEED
from tests.integration.web_world import app_for, shipped_web_context


@pytest.fixture
def world(db_url):
    ctx = shipped_web_context(db_url)
    yield ctx, app_for(ctx)
    ctx.close()


def described(ctx, username: str, title: str, need: str) -> int:
    owner = accounts.actor_for(ctx, username)
    view = cases.start_case(ctx, "innovation", {}, owner)
    cases.complete_task(ctx, view.open_tasks[0].id, {**NEED, "title": title, "need": need}, owner)
    return view.id


def test_the_api_searches_like_the_page_and_counts_only_what_you_may_see(world) -> None:
    ctx, app = world
    annas = described(ctx, "anna", "Skollokaler", "Skollokalerna i Rinkeby räcker inte.")
    described(ctx, "erik", "Fler skollokaler", "Skollokalerna i Kista är fulla.")
    anna = Browser(app, "anna")
    body = anna.get("/api/v1/search?q=skollokal").json
    assert body["total"] == 1 and [h["case_id"] for h in body["hits"]] == [annas]
    assert body["hits"][0]["snippet"] == "<mark>Skollokaler</mark>"  # the title ranks first
    assert body["facets"]["status"] == [{"value": "running", "count": 1}]
    lena = Browser(app, "lena")
    assert lena.get("/api/v1/search?q=skollokal").json["total"] == 2
    assert lena.get("/api/v1/search?q=skollokal&field=title&limit=1").json["hits"][0]["field"] == "title"


@pytest.mark.parametrize("query", ["", "?q=", "?q=%21%21", "?q=a&limit=0", "?q=a&status=x", "?q=a&field=secret",
                                   "?q=" + "a" * 501, "?q=a&offset=-1"])
def test_bad_searches_are_a_422_problem(world, query) -> None:
    _ctx, app = world
    response = Browser(app, "anna").get("/api/v1/search" + query)
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


def test_signed_out_search_is_a_401(world) -> None:
    _ctx, app = world
    assert app.test_client().get("/api/v1/search?q=a").status_code == 401


def test_similar_cases_and_duplicates_over_http(world) -> None:
    ctx, app = world
    first = described(ctx, "anna", "Ensamhet bland äldre", "Äldre i Tensta är ensamma på helgerna.")
    second = described(ctx, "anna", "Ensamma seniorer", "Seniorer i Tensta är ensamma på helgerna.")
    anna = Browser(app, "anna")
    found = anna.get(f"/api/v1/similar?text=äldre+ensamma+helgerna+Tensta&exclude={second}").json
    assert [f["case_id"] for f in found] == [first]
    assert Browser(app, "erik").get("/api/v1/similar?text=äldre+ensamma+helgerna").json == []
    assert anna.post(f"/api/v1/cases/{second}/duplicates", {"original": str(first)}).status_code == 403
    lead = accounts.actor_for(ctx, "lena")
    assign = next(t for t in task_queries.list_tasks(ctx, lead, str(second)) if t.task_key == "assign_lead")
    cases.complete_task(ctx, assign.id, ASSIGN, lead)
    lena = Browser(app, "lena")
    marked = lena.post(f"/api/v1/cases/{second}/duplicates", {"original": str(first), "reason": "Samma behov"})
    assert marked.status_code == 201 and marked.json["duplicate_of"][0]["case_id"] == first
    assert lena.post(f"/api/v1/cases/{second}/duplicates", {"original": str(first)}).status_code == 409
    assert lena.post(f"/api/v1/cases/{second}/duplicates", {"original": str(second)}).status_code == 422
    back = anna.get(f"/api/v1/cases/{first}/duplicates").json
    assert back["duplicates"][0]["case_id"] == second and back["duplicates"][0]["reason"] == "Samma behov"
    assert Browser(app, "erik").get(f"/api/v1/cases/{first}/duplicates").status_code == 404


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("IPHS_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("IPHS_FORMS_DIR", str(ROOT / "forms"))
    monkeypatch.delenv("IPHS_ACTOR", raising=False)
    return tmp_path


def run(*args: str, ok: bool = True):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_search_on_the_command_line(env) -> None:
    run("db", "upgrade")
    run("users", "demo")
    run("deploy", str(ROOT / "bpmn"), "--as", "dora")
    run("start", "innovation", "--as", "anna")
    data = json.dumps({**NEED, "title": "Skollokaler", "need": "Skollokalerna i Rinkeby räcker inte."})
    run("complete", "1", "--data", data, "--as", "anna")
    out = run("search", "query", "skollokal", "--as", "anna").output
    assert "1 matching case(s)" in out and "[title] *Skollokaler*" in out
    assert "0 matching case(s)" in run("search", "query", "skollokal", "--as", "dora").output
    as_json = json.loads(run("search", "query", "rinkeby", "--json", "--as", "lena").output)
    assert as_json["total"] == 1 and as_json["hits"][0]["title"] == "Skollokaler"
    refused = run("search", "query", "!!!", "--as", "anna", ok=False)
    assert refused.exit_code == 2 and "q: write at least one word" in refused.output
    assert "Skollokaler" in run("search", "similar", "Skollokalerna är för små", "--as", "anna").output
    assert "reindexed 1 case(s)" in run("search", "reindex").output
    denied = run("search", "reindex", "--as", "anna", ok=False)
    assert denied.exit_code == 1 and "Forbidden" in denied.output
    assert FIXTURES.exists()
