"""The research export from the web: a streamed ZIP for researchers, the log for administrators (issue 18.3)."""

from __future__ import annotations

import io
import json
import zipfile

import frictionless
import pytest

from iphs_flow.services import accounts
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context, start_case
from tests.people import PASSWORD


@pytest.fixture
def app(db_url):
    ctx = shipped_web_context(db_url)
    accounts.add_user(ctx, "rut", "Rut Forskare", password=PASSWORD, roles={"researcher"})
    accounts.add_user(ctx, "adam", "Adam Admin", password=PASSWORD, roles={"administrator"})
    yield app_for(ctx)
    ctx.close()


def test_a_researcher_downloads_a_valid_package_and_sees_it_listed(app, tmp_path):
    owner = client_for(app, "anna")
    start_case(owner)
    researcher = client_for(app, "rut")
    page = researcher.get("/forskning")
    assert page.status_code == 200 and "Forskningsexport" in page.get_data(as_text=True)

    response = post_form(researcher, "/forskning/export", {"period_from": "", "period_to": "", "process_key": ""})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="iphs-forskningsexport-')
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
        archive.extractall(tmp_path)
        names = archive.namelist()
    folder = response.headers["Content-Disposition"].split('"')[1].removesuffix(".zip")
    assert {f"{folder}/{n}" for n in ("datapackage.json", "cases.csv", "tasks.csv", "gate_decisions.csv")} <= set(names)
    assert frictionless.validate(str(tmp_path / folder / "datapackage.json")).valid
    assert json.loads((tmp_path / folder / "datapackage.json").read_text())["licenses"][0]["name"] == "CC-BY-4.0"

    listed = researcher.get("/forskning").get_data(as_text=True)
    assert "cases: 1" in listed and "alla processer" in listed


def test_a_bad_filter_gets_a_422_with_messages_at_the_fields(app):
    researcher = client_for(app, "rut")
    response = post_form(researcher, "/forskning/export", {"period_from": "1 maj", "period_to": "2026-01-01",
                                                           "process_key": "nope"})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="export-period_from-error"' in html and 'id="export-process_key-error"' in html


def test_idea_owners_may_not_export_and_only_administrators_see_the_log(app):
    owner = client_for(app, "anna")
    assert owner.get("/forskning").status_code == 403
    assert post_form(owner, "/forskning/export", {}).status_code == 403
    researcher = client_for(app, "rut")
    assert researcher.get("/admin/research-exports").status_code == 403
    post_form(researcher, "/forskning/export", {"process_key": "innovation"})
    admin = client_for(app, "adam")
    html = admin.get("/admin/research-exports").get_data(as_text=True)
    assert "rut" in html and "innovation" in html and "webben" in html
    assert admin.get("/forskning").status_code == 200  # administrators may export too
    assert researcher.get("/overview").status_code in (403, 404)  # no case pages beyond the other roles
