"""Designers edit the draft's decision tables (DMN): save with the draft version, validate cell by cell.

Runs on SQLite and PostgreSQL (the `db_url` fixture).
"""

from __future__ import annotations

import html as html_lib
import re

import pytest

from iphs_flow.services import accounts, design
from iphs_flow.services.permissions import Actor
from tests.integration.web_session import PASSWORD
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context

DORA = Actor("dora", frozenset({"process_designer"}))
URL = "/design/innovation/dmn/gate_routing.dmn"
SMALL_PILOT = "<text>&lt; 500000</text>"


@pytest.fixture
def web(db_url):
    ctx = shipped_web_context(db_url)
    for username in ("dora", "disa"):
        accounts.add_user(ctx, username, username.title(), password=PASSWORD, roles={"process_designer"}, groups=set())
    app = app_for(ctx)
    yield ctx, app
    ctx.close()


def html(response) -> str:
    return response.get_data(as_text=True)


def table(ctx) -> str:
    return design.get_draft(ctx, "innovation", DORA).files["gate_routing.dmn"]


def send(client, content: str, version: int, action: str = "save", **extra: str):
    return post_form(client, URL, {"content": content, "expected_version": str(version), "_action": action, **extra})


def test_the_editor_opens_the_drafts_table_with_the_xml_as_a_fallback(web) -> None:
    ctx, app = web
    page = html(client_for(app, "dora").get(URL))
    assert "/vendor/dmn-js/dmn-modeler.js" in page and "/static/dmn_editor.js" in page
    assert '<label for="dmn-xml">' in page
    textarea = re.search(r'<textarea id="dmn-xml"[^>]*>(.*?)</textarea>', page, re.S)
    assert textarea and html_lib.unescape(textarea.group(1)) == table(ctx)
    assert "<script>" not in page and " style=" not in page  # the CSP allows neither


def test_the_editors_files_are_served_from_node_modules(web) -> None:
    _ctx, app = web
    client = app.test_client()
    for name in ("dmn-js/dmn-modeler.js", "dmn-js/dmn-js-decision-table.css", "dmn-js/dmn-font/css/dmn.css",
                 "dmn-js/dmn-font/font/dmn.woff2"):
        response = client.get(f"/vendor/{name}")
        assert response.status_code == 200, name
        response.close()
    assert client.get("/vendor/dmn-js/package.json").status_code == 404


def test_changing_a_threshold_saves_the_table_into_the_draft(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    changed = table(ctx).replace(SMALL_PILOT, "<text>&lt; 750000</text>", 1)
    response = send(dora, changed, before.version)
    assert response.status_code == 302
    assert table(ctx) == changed
    assert design.get_draft(ctx, "innovation", DORA).version == before.version + 1
    assert "är sparad i utkastet" in html(dora.get(URL))
    assert design.validate_draft(ctx, "innovation", DORA) == []


def test_validation_points_at_the_decision_rule_and_column_of_a_refused_cell(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    evil = table(ctx).replace(SMALL_PILOT, "<text>&lt; __import__('os').getpid()</text>", 1)
    response = send(dora, evil, before.version, action="validate")
    assert response.status_code == 422
    page = html_lib.unescape(html(response))
    assert ("Beslut ”Vem beslutar vid beslutspunkten?”, regel 2, kolumn ”Budget (SEK)”: villkoret "
            "”< __import__('os').getpid()” är inte tillåtet") in page
    assert 'data-element="Rule_G2_unit_small_budget"' in page
    assert "__import__('os').getpid()" in page  # the text stays in the editor
    assert design.get_draft(ctx, "innovation", DORA) == before

    clean = send(dora, table(ctx), before.version, action="validate")
    assert clean.status_code == 200 and "Inga problem hittades i tabellen." in html(clean)


def test_a_refused_output_cell_is_not_saved_and_the_page_says_where_it_is(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    broken = table(ctx).replace('<text>"unit-managers"</text>', "<text>unit managers</text>", 1)
    response = send(dora, broken, before.version)
    page = html_lib.unescape(html(response))
    assert response.status_code == 422 and "Tabellen sparades inte." in page
    assert "regel 2, kolumn ”Beslutande grupp”: utdatat ”unit managers” är inte tillåtet" in page
    assert "<text>unit managers</text>" in page  # kept in the editor
    assert design.get_draft(ctx, "innovation", DORA) == before


def test_a_table_with_a_modelling_problem_is_saved_with_a_warning_to_fix_before_deploying(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    unnamed = table(ctx).replace(' name="decider_title"', "", 1)
    response = send(dora, unnamed, before.version)
    page = html_lib.unescape(html(response))
    assert response.status_code == 200 and "har problem som måste rättas" in page
    assert "kolumn ”Beslutsfattare”: utdatakolumnen saknar namn" in page
    assert table(ctx) == unnamed


def test_unsafe_xml_is_refused_and_nothing_is_saved(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    evil = '<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n' + \
        table(ctx).split("\n", 1)[1]
    response = send(dora, evil, before.version)
    assert response.status_code == 422
    assert "DOCTYPE" in html(response) and "Tabellen sparades inte." in html(response)
    assert design.get_draft(ctx, "innovation", DORA) == before
    response = send(dora, "<definitions", before.version)
    assert response.status_code == 422 and "inte välformad XML" in html(response)


def test_a_save_over_a_colleagues_newer_version_is_a_409_that_keeps_the_table(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    loaded = design.get_draft(ctx, "innovation", DORA)
    theirs = table(ctx).replace(SMALL_PILOT, "<text>&lt; 600000</text>", 1)
    disa = Actor("disa", frozenset({"process_designer"}))
    design.save_draft_file(ctx, "innovation", "gate_routing.dmn", theirs, disa, loaded.version)
    mine = loaded.files["gate_routing.dmn"].replace(SMALL_PILOT, "<text>&lt; 700000</text>", 1)
    response = send(dora, mine, loaded.version)
    assert response.status_code == 409
    page = html(response)
    assert "disa sparade utkastet medan du arbetade" in page and "&lt; 700000" in html_lib.unescape(page)
    assert table(ctx) == theirs
    overwrite = re.search(r'name="overwrite" value="(\d+)"', page)
    assert overwrite
    response = send(dora, mine, loaded.version, overwrite=overwrite.group(1))
    assert response.status_code == 302 and table(ctx) == mine


def test_only_designers_open_tables_and_only_tables_that_exist(web) -> None:
    ctx, app = web
    before = design.get_draft(ctx, "innovation", DORA)
    anna = client_for(app, "anna")
    assert anna.get(URL).status_code == 403
    assert send(anna, table(ctx), before.version).status_code == 403
    dora = client_for(app, "dora")
    assert dora.get("/design/innovation/dmn/missing.dmn").status_code == 404
    assert dora.get("/design/innovation/dmn/innovation.bpmn").status_code == 404
    assert dora.get("/design/nothing/dmn/gate_routing.dmn").status_code == 404
    assert send(dora, table(ctx), before.version, expected_version="").status_code == 422
    assert design.get_draft(ctx, "innovation", DORA) == before
