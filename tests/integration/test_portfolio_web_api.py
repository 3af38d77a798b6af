"""The portfolio over HTTP (/portfolj, its CSV and Excel downloads, /api/v1/portfolio) and the console.

Exports are opened the way their readers open them (csv, openpyxl) and compared with the
table the page shows; a manager's page, downloads and API answer never hold a case they
may not see.
"""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from click.testing import CliRunner

from iphs_flow.cli import cli
from iphs_flow.services import accounts, cases
from iphs_flow.services.queries import portfolio as pf
from iphs_flow.services.queries import tasks as task_queries
from tests.conftest import ROOT
from tests.integration.api_world import Browser
from tests.integration.process_driver import ASSIGN, NEED
from tests.integration.web_session import PASSWORD
from tests.integration.web_world import app_for, client_for, shipped_web_context
from tests.people import LEAD

REASON = "=HYPERLINK(\"http://x\") ligger utanför uppdraget"  # a reason that would be a formula in a spreadsheet


@pytest.fixture
def world(db_url):
    ctx = shipped_web_context(db_url)
    accounts.add_user(ctx, "maja", "Maja Chef", password=PASSWORD, roles={"idea_owner"})
    accounts.add_user(ctx, "frida", "Frida Medarbetare", password=PASSWORD, roles={"idea_owner"}, manager="maja")
    yield ctx, app_for(ctx)
    ctx.close()


def rejected_case(ctx, username: str, unit: str, reason: str) -> str:
    owner = accounts.actor_for(ctx, username)
    view = cases.start_case(ctx, "innovation", {}, owner)
    cases.complete_task(ctx, view.open_tasks[0].id, {**NEED, "need_owner": unit, "agenda2030_goals": [11]}, owner)
    lead_task = task_queries.list_tasks(ctx, LEAD, view.number, everyone=True)[0]
    cases.complete_task(ctx, lead_task.id, ASSIGN, LEAD)
    g1 = task_queries.list_tasks(ctx, LEAD, view.number, everyone=True)[0]
    cases.complete_task(ctx, g1.id, {"decision": "rejected", "reason": reason}, LEAD)
    return view.number


def test_the_page_shows_each_chart_with_its_table_and_the_downloads_hold_the_same_rows(world) -> None:
    ctx, app = world
    number = rejected_case(ctx, "anna", "Skolchef Eva Ek", REASON)
    lena = client_for(app, "lena")
    page = lena.get("/portfolj")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'aria-current="page">Portfölj</a>' in html
    for key in ("funnel", "gates", "stage_times", "gate_times", "outcomes", "goals", "budget"):
        assert f'aria-labelledby="{key}-title {key}-desc"' in html and f'id="{key}-caption"' in html
    assert 'role="img"' in html and "<desc id=\"budget-desc\">" in html
    assert number in html and "Avslag" in html

    xlsx = lena.get("/portfolj/reasons.xlsx")
    assert xlsx.status_code == 200 and xlsx.mimetype.endswith("spreadsheetml.sheet")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data), read_only=True).active
    cells = [tuple(c.value for c in row) for row in sheet.iter_rows()]
    table = pf.read_portfolio(ctx, LEAD).table("reasons")
    assert cells[0] == tuple(c.title for c in table.columns)
    assert [(r[0], r[1], r[3]) for r in cells[1:]] == [(r[0], r[1], r[3]) for r in table.rows]
    assert cells[1][2] == "Avslag" and cells[1][3] == REASON  # text stays text, never a formula

    body = lena.get("/portfolj/goals.csv").get_data(as_text=True)
    assert body.startswith("\ufeff")
    parsed = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    goals = pf.read_portfolio(ctx, LEAD).table("goals")
    assert parsed[0] == [c.title for c in goals.columns] and len(parsed) == len(goals.rows) + 1
    assert parsed[11][:3] == ["11", "Hållbara städer och samhällen", "1"]
    reasons_csv = lena.get("/portfolj/reasons.csv").get_data(as_text=True)
    assert "'=HYPERLINK" in reasons_csv  # CSV: a leading apostrophe keeps it from being a formula

    workbook = openpyxl.load_workbook(io.BytesIO(lena.get("/portfolj.xlsx").data), read_only=True)
    assert len(workbook.sheetnames) == len(pf.TABLE_KEYS)


def test_bad_filters_are_a_422_with_messages_next_to_the_fields(world) -> None:
    _ctx, app = world
    lena = client_for(app, "lena")
    page = lena.get("/portfolj?from=2026-02-30&goal=18")
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and 'id="f-from-error"' in html and 'id="f-goal-error"' in html
    assert 'aria-invalid="true"' in html and "error-summary" in html
    assert lena.get("/portfolj/funnel.csv?status=lost").status_code == 422
    assert lena.get("/portfolj/nothing.csv").status_code == 404
    assert lena.get("/portfolj?unit=Skolchef+Eva+Ek&period=started&from=2026-01-01").status_code == 200


def test_only_leads_administrators_and_managers_have_the_page_and_its_link(world) -> None:
    _ctx, app = world
    anna = client_for(app, "anna")
    assert anna.get("/portfolj").status_code == 403 and anna.get("/portfolj/funnel.csv").status_code == 403
    assert "/portfolj" not in anna.get("/inbox").get_data(as_text=True)
    maja = client_for(app, "maja")
    assert maja.get("/portfolj").status_code == 200
    assert 'href="/portfolj"' in maja.get("/inbox").get_data(as_text=True)
    assert Browser(app, None).get("/api/v1/portfolio").status_code == 401


def test_a_hidden_case_never_leaks_through_the_page_the_downloads_or_the_api(world) -> None:
    ctx, app = world
    fridas = rejected_case(ctx, "frida", "Fritidschef", "Redan löst")
    hidden = rejected_case(ctx, "anna", "Hemlig enhet", "Hemligt skäl")
    maja = client_for(app, "maja")
    html = maja.get("/portfolj").get_data(as_text=True)
    assert fridas in html and hidden not in html and "Hemlig enhet" not in html and "Hemligt skäl" not in html
    assert "1 ärende i urvalet" in html
    for key in pf.TABLE_KEYS:
        for extension in ("csv", "xlsx"):
            data = maja.get(f"/portfolj/{key}.{extension}").data
            text = data.decode("utf-8") if extension == "csv" else "".join(
                str(c.value) for row in openpyxl.load_workbook(io.BytesIO(data), read_only=True).active.iter_rows()
                for c in row)
            assert hidden not in text and "Hemlig" not in text, (key, extension)
    api = Browser(app, "maja").get("/api/v1/portfolio").json
    assert api["cases"] == 1 and api["sees_all"] is False and api["units"] == ["Fritidschef"]
    assert "Hemlig" not in json.dumps(api, ensure_ascii=False)
    assert Browser(app, "lena").get("/api/v1/portfolio").json["cases"] == 2


def test_the_api_answers_with_codes_and_refuses_bad_filters_and_people_without_access(world) -> None:
    ctx, app = world
    rejected_case(ctx, "anna", "Skolchef Eva Ek", "Utanför uppdraget")
    lena = Browser(app, "lena")
    body = lena.get("/api/v1/portfolio?goal=11").json
    assert body["cases"] == 1 and body["filters"] == {"goal": "11"}
    assert body["tables"]["outcomes"]["rows"] == [{"outcome": "rejected", "cases": 1, "share": 100.0}]
    assert body["tables"]["funnel"]["rows"][0] == {"stage": 0, "cases": 1, "share_of_first": 100.0,
                                                   "share_of_previous": None}
    refused = lena.get("/api/v1/portfolio?from=yesterday&status=lost")
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert Browser(app, "anna").get("/api/v1/portfolio").status_code == 403
    rows = list(csv.reader(io.StringIO(lena.get("/api/v1/portfolio/outcomes.csv").get_data(as_text=True))))
    assert rows == [["outcome", "cases", "share"], ["rejected", "1", "100.0"]]
    book = openpyxl.load_workbook(io.BytesIO(lena.get("/api/v1/portfolio/budget.xlsx").data), read_only=True)
    assert [c.value for c in next(book.active.iter_rows())][:3] == ["Budget", "Ärenden med begäran", "Begärt (kr)"]
    assert lena.get("/api/v1/portfolio/nothing.csv").status_code == 404


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


def test_the_portfolio_on_the_command_line(env) -> None:
    run("db", "upgrade")
    run("users", "demo")
    run("deploy", str(ROOT / "bpmn"), "--as", "dora")
    run("start", "innovation", "--as", "anna")
    run("complete", "1", "--data", json.dumps({**NEED, "agenda2030_goals": [3]}), "--as", "anna")
    assert "1 case(s) in the selection" in run("portfolio", "--as", "lena").output
    out = run("portfolio", "--csv", "goals", "--goal", "3").output
    assert out.splitlines()[0].startswith("Mål,Målet,Ärenden") and "3,Hälsa och välbefinnande,1," in out
    target = env / "portfolj.xlsx"
    assert "wrote 10 tables" in run("portfolio", "--xlsx", str(target), "--status", "running").output
    assert len(openpyxl.load_workbook(target, read_only=True).sheetnames) == 10
    refused = run("portfolio", "--goal", "99", ok=False)
    assert refused.exit_code == 2 and "goal: a goal number from 1 to 17" in refused.output
    assert run("portfolio", "--csv", "nothing", ok=False).exit_code == 1
    assert run("portfolio", "--as", "anna", ok=False).exit_code == 1  # Forbidden
