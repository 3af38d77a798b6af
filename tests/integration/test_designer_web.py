"""The designer pages over HTTP: JSON saves with the version lock, import refusals, versions and migration."""

from __future__ import annotations

import io
import re

import pytest

from iphs_flow.services import accounts
from tests.conftest import ROOT
from tests.integration.web_session import PASSWORD
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context, start_case, token

INNOVATION = (ROOT / "bpmn" / "innovation.bpmn").read_text(encoding="utf-8")
ENTITIES = ('<?xml version="1.0"?>\n<!DOCTYPE bpmn [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
            + INNOVATION.split("?>", 1)[1])
IMPORTS_OS = INNOVATION.replace('<bpmn:script>decision = "on_hold"', '<bpmn:script>import os\ndecision = "on_hold"', 1)


@pytest.fixture
def world(sqlite_url):
    ctx = shipped_web_context(sqlite_url)
    accounts.add_user(ctx, "dora", "Dora Designer", password=PASSWORD, roles={"process_designer"}, groups=set())
    accounts.add_user(ctx, "adam", "Adam Admin", password=PASSWORD, roles={"administrator", "idea_owner"},
                      groups={"administrators"})
    app = app_for(ctx)
    yield app, ctx
    ctx.close()


def json_post(client, path: str, body: dict):
    return client.post(path, json=body, headers={"X-CSRFToken": token(client, "/design")})


def test_a_designer_saves_validates_and_deploys_through_the_json_routes(world) -> None:
    app, _ctx = world
    dora = client_for(app, "dora")
    page = dora.get("/design")
    assert page.status_code == 200 and "Innovationsprocess" in page.get_data(as_text=True)
    assert dora.get("/design/innovation").status_code == 200
    draft = dora.get("/design/innovation/draft.json").get_json()
    assert draft["version"] == 1 and draft["main_file"] == "innovation.bpmn"
    renamed = INNOVATION.replace('name="Beskriv behovet"', 'name="Beskriv ditt behov"', 1)
    assert renamed != INNOVATION
    path = "/design/innovation/draft/files/innovation.bpmn"
    saved = json_post(dora, path, {"content": renamed, "expected_version": 1})
    assert saved.status_code == 200 and saved.get_json()["version"] == 2
    stale = json_post(dora, path, {"content": INNOVATION, "expected_version": 1})
    assert stale.status_code == 409 and stale.get_json()["current_version"] == 2
    assert json_post(dora, "/design/innovation/validate", {}).get_json() == {"problems": []}
    deployed = json_post(dora, "/design/innovation/deploy", {}).get_json()
    assert {"key": "innovation", "name": "Innovationsprocess", "version": 2, "created": True,
            "warnings": []} in deployed["deployed"]  # every group the models route to has people
    exported = dora.get("/design/innovation/export.bpmn?source=deployed")
    assert exported.status_code == 200 and "Beskriv ditt behov" in exported.get_data(as_text=True)
    assert 'filename="innovation.bpmn"' in exported.headers["Content-Disposition"]


def test_problems_come_back_with_element_and_line(world) -> None:
    app, _ctx = world
    dora = client_for(app, "dora")
    broken = INNOVATION.replace('default="Flow_G1_route_G1_decide"', "", 1)
    json_post(dora, "/design/innovation/draft/files/innovation.bpmn", {"content": broken, "expected_version": 1})
    problems = json_post(dora, "/design/innovation/validate", {}).get_json()["problems"]
    assert [p["element_id"] for p in problems] == ["G1_route"] and problems[0]["line"] > 1
    refused = json_post(dora, "/design/innovation/deploy", {})
    assert refused.status_code == 422 and refused.get_json()["problems"][0]["element_id"] == "G1_route"


@pytest.mark.parametrize(("content", "reason"), [
    (ENTITIES, "DOCTYPE and entity declarations are not allowed"),
    (IMPORTS_OS, "Imports are not allowed"),
])
def test_a_malicious_upload_is_refused_with_the_reason_and_nothing_is_stored(world, content, reason) -> None:
    app, _ctx = world
    dora = client_for(app, "dora")
    response = dora.post("/design/import", data={"csrf_token": token(dora, "/design/import"), "key": "",
                                                 "file": (io.BytesIO(content.encode()), "innovation.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 422
    assert reason in response.get_data(as_text=True)
    assert dora.get("/design/innovation/draft.json").get_json()["files"]["innovation.bpmn"] == INNOVATION


def test_an_upload_goes_into_the_draft(world) -> None:
    app, _ctx = world
    dora = client_for(app, "dora")
    changed = INNOVATION.replace('name="Beskriv behovet"', 'name="Beskriv behovet nu"', 1)
    response = dora.post("/design/import", data={"csrf_token": token(dora, "/design/import"), "key": "",
                                                 "file": (io.BytesIO(changed.encode()), "innovation.bpmn")},
                         content_type="multipart/form-data")
    assert response.status_code == 302 and response.headers["Location"].endswith("/design/innovation")
    assert dora.get("/design/innovation/draft.json").get_json()["files"]["innovation.bpmn"] == changed


def test_idea_owners_get_no_designer_pages(world) -> None:
    app, _ctx = world
    anna = client_for(app, "anna")
    assert anna.get("/design").status_code == 403
    assert anna.get("/design/innovation").status_code == 403
    assert anna.get("/design/innovation/draft.json").status_code == 403
    assert json_post(anna, "/design/innovation/deploy", {}).status_code == 403
    assert "Processdesign" not in anna.get("/inbox").get_data(as_text=True)


def test_an_administrator_previews_and_migrates_an_old_case(world) -> None:
    app, _ctx = world
    anna = client_for(app, "anna")
    start_case(anna)
    dora = client_for(app, "dora")
    renamed = INNOVATION.replace('name="Beskriv behovet"', 'name="Beskriv ditt behov"', 1)
    json_post(dora, "/design/innovation/draft/files/innovation.bpmn", {"content": renamed, "expected_version": 1})
    assert json_post(dora, "/design/innovation/deploy", {}).status_code == 200
    versions_page = dora.get("/design/innovation/versions").get_data(as_text=True)
    assert "Ändrat" in versions_page and "Förhandsgranska flytt" not in versions_page  # designers cannot migrate
    adam = client_for(app, "adam")
    page = adam.get("/design/innovation/versions").get_data(as_text=True)
    link = re.search(r'href="(/design/innovation/cases/(\d+)/migrate\?version=2)"', page)
    assert link, page
    preview = adam.get(link.group(1).replace("&amp;", "&"))
    shown = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "Beskriv behovet (need)" in shown and "Beskriv ditt behov" in shown
    assert "Ärendet kan inte flyttas" not in shown
    moved = post_form(adam, f"/design/innovation/cases/{link.group(2)}/migrate", {"version": "2"})
    assert moved.status_code == 302
    case_page = adam.get(f"/cases/{link.group(2)}").get_data(as_text=True)
    assert "innovation v2" in case_page


def test_discarding_a_draft_needs_an_explicit_yes_and_keeps_it_otherwise(world) -> None:
    app, _ctx = world
    dora = client_for(app, "dora")
    renamed = INNOVATION.replace('name="Beskriv behovet"', 'name="Beskriv ditt behov"', 1)
    json_post(dora, "/design/innovation/draft/files/innovation.bpmn", {"content": renamed, "expected_version": 1})
    kept = post_form(dora, "/design/innovation/discard", {}, follow_redirects=True)
    assert "Utkastet är kvar" in kept.get_data(as_text=True)
    assert dora.get("/design/innovation/draft.json").get_json()["version"] == 2
    post_form(dora, "/design/innovation/discard", {"confirm": "yes"})
    assert dora.get("/design/innovation/draft.json").get_json()["version"] == 1  # a fresh draft of the deployed version
