"""Designers edit forms in the browser: JSON Schema and UI schema, a live preview, saved to the draft.

The preview is the task page's renderer, so the test compares the two. Runs on SQLite and
PostgreSQL (the `db_url` fixture).
"""

from __future__ import annotations

import json
import re

import pytest
from flask import render_template_string

from iphs_flow.services import accounts, design
from iphs_flow.services.permissions import Actor
from iphs_flow.web.forms import FormSpec
from tests.conftest import ROOT
from tests.integration.web_session import PASSWORD
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context, start_case

DORA = Actor("dora", frozenset({"process_designer"}))
DESIGNERS = {"dora": "Dora Designer", "disa": "Disa Designer"}
FIELDS = '{% import "_form.html" as forms %}{% for f in form.fields %}{{ forms.field(f) }}{% endfor %}'


@pytest.fixture
def web(db_url):
    ctx = shipped_web_context(db_url)
    for username, name in DESIGNERS.items():
        accounts.add_user(ctx, username, name, password=PASSWORD, roles={"process_designer"}, groups=set())
    app = app_for(ctx)
    yield ctx, app
    ctx.close()


def html(response) -> str:
    return response.get_data(as_text=True)


def texts(draft: design.DraftView, form_key: str) -> tuple[str, str]:
    form = draft.forms[form_key]
    return json.dumps(form["schema"], ensure_ascii=False), json.dumps(form["ui"], ensure_ascii=False)


def save(client, form_key: str, schema: str, ui: str, version: int, action: str = "save", key: str = "innovation"):
    return post_form(client, f"/design/{key}/forms/{form_key}",
                     {"schema": schema, "ui": ui, "expected_version": str(version), "_action": action})


def test_the_preview_renders_the_form_exactly_as_the_task_page_does(web) -> None:
    ctx, app = web
    anna = client_for(app, "anna")
    task_id, _location = start_case(anna)
    task_page = html(anna.get(f"/tasks/{task_id}"))
    draft = design.get_draft(ctx, "innovation", DORA)
    with app.test_request_context("/"):
        fields = render_template_string(FIELDS, form=FormSpec("need", draft.forms["need"]).build({}))
    assert 'id="f-need"' in fields and fields in task_page

    dora = client_for(app, "dora")
    schema, ui = texts(draft, "need")
    response = post_form(dora, "/design/innovation/forms/need/preview", {"schema": schema, "ui": ui})
    assert response.status_code == 200
    assert fields in html(response)
    editor = html(dora.get("/design/innovation/forms/need"))
    assert fields in editor and 'id="form-preview" aria-live="polite"' in editor


def test_the_preview_follows_the_schema_being_typed_and_saves_nothing(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    schema = json.dumps({"type": "object", "title": "Budget", "required": ["amount"],
                         "properties": {"amount": {"type": "integer", "title": "Belopp i kronor"}}})
    response = post_form(dora, "/design/innovation/forms/need/preview", {"schema": schema, "ui": "{}"})
    assert response.status_code == 200
    assert re.search(r'<label for="f-amount">Belopp i kronor <span class="required">', html(response))
    # the same without JavaScript: the Förhandsgranska button renders the whole page
    response = save(dora, "need", schema, "{}", before.version, action="preview")
    assert response.status_code == 200 and 'for="f-amount"' in html(response) and schema in html(response).replace(
        "&#34;", '"')
    assert design.get_draft(ctx, "innovation", DORA) == before


@pytest.mark.parametrize(("schema", "message"), [
    ('{"type": "object", "properties": {', "Ogiltig JSON på rad 1, kolumn"),
    ('["not", "an", "object"]', "Måste vara ett JSON-objekt"),
    ('{"type": "objekt"}', "Inte ett giltigt JSON Schema vid type"),
    ('{"type": "string"}', "Formuläret måste beskriva ett objekt"),
    ('{"type": "object", "properties": {"now": {"type": "string"}, "_secret": {"type": "string"}}}',
     "Fältnamnen _secret, now är reserverade"),
    ('{"type": "object", "properties": {"flag": true}}', "Fältet ”flag” måste beskrivas med ett objekt"),
    ('{"type": "object", "properties": {"k": {"type": "string", "pattern": "(a)\\\\1"}}}',
     "Mönstret vid properties/k/pattern kan inte kontrolleras säkert"),
    ("", "Skriv ett JSON Schema."),
])
def test_a_schema_that_cannot_be_a_form_is_refused_with_the_reason_next_to_it(web, schema, message) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    response = save(dora, "need", schema, "{}", before.version)
    assert response.status_code == 422
    page = html(response)
    assert 'id="error-summary"' in page and '<a href="#schema-text">JSON Schema: ' in page
    assert re.search(r'<p class="error-message" id="schema-error">.*' + re.escape(message), page)
    assert re.search(r'<textarea id="schema-text"[^>]*aria-invalid="true"', page)
    assert design.get_draft(ctx, "innovation", DORA) == before  # nothing saved
    # the preview endpoint explains the same instead of rendering
    response = post_form(dora, "/design/innovation/forms/need/preview", {"schema": schema, "ui": "{}"})
    assert response.status_code == 422 and message in html(response)


def test_an_invalid_ui_schema_is_reported_at_the_ui_box(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    schema, _ui = texts(before, "need")
    response = save(dora, "need", schema, '{"ui:order": [}', before.version)
    assert response.status_code == 422
    assert re.search(r'<textarea id="ui-text"[^>]*aria-invalid="true"', html(response))
    assert '<a href="#ui-text">UI-schema: Ogiltig JSON' in html(response)
    assert design.get_draft(ctx, "innovation", DORA) == before


def test_saving_a_form_puts_it_in_the_draft_and_not_in_the_running_version(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    before = design.get_draft(ctx, "innovation", DORA)
    schema = before.forms["need"]["schema"]
    changed = {**schema, "title": "Beskriv behovet (ny version)"}
    ui = {**before.forms["need"]["ui"], "ui:order": ["title", "need"]}
    response = save(dora, "need", json.dumps(changed, ensure_ascii=False), json.dumps(ui), before.version)
    assert response.status_code == 302
    after = design.get_draft(ctx, "innovation", DORA)
    assert after.version == before.version + 1 and after.updated_by == "dora"
    assert after.forms["need"] == {"schema": changed, "ui": ui}
    page = html(dora.get(response.headers["Location"]))
    assert "är sparat i utkastet" in page and "Beskriv behovet (ny version)" in page
    # cases still start on the deployed version's form
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    assert "Beskriv behovet (ny version)" not in html(anna.get(f"/tasks/{task_id}"))


def test_a_new_form_needs_a_safe_unused_name_and_is_saved_into_the_draft(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    page = html(dora.get("/design/innovation/forms/new"))
    assert '<label for="form-key">' in page
    for bad in ("../evil", "9lives", "new", "med mellanslag", "need"):
        response = post_form(dora, "/design/innovation/forms/new", {"form_key": bad})
        assert response.status_code == 422, bad
        assert re.search(r'<input type="text" id="form-key"[^>]*aria-invalid="true"', html(response)), bad
    response = post_form(dora, "/design/innovation/forms/new", {"form_key": "pilot_budget"})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/design/innovation/forms/pilot_budget")
    page = html(dora.get(response.headers["Location"]))
    assert "Nytt formulär pilot_budget" in page and "Formuläret har inga fält ännu." in page
    draft = design.get_draft(ctx, "innovation", DORA)
    schema = {"type": "object", "title": "Pilotens budget",
              "properties": {"amount": {"type": "integer", "title": "Belopp"}}}
    assert save(dora, "pilot_budget", json.dumps(schema), "", draft.version).status_code == 302
    assert design.get_draft(ctx, "innovation", DORA).forms["pilot_budget"] == {"schema": schema, "ui": {}}
    assert "pilot_budget" in design.get_draft(ctx, "innovation", DORA).forms
    for unsafe in ("..%2Fetc", "9lives", "new%20form"):
        assert dora.get(f"/design/innovation/forms/{unsafe}").status_code == 404, unsafe


def test_a_save_based_on_an_older_draft_is_a_409_that_keeps_the_text(web) -> None:
    ctx, app = web
    dora = client_for(app, "dora")
    loaded = design.get_draft(ctx, "innovation", DORA)
    schema, ui = texts(loaded, "need")
    disa = Actor("disa", frozenset({"process_designer"}))
    theirs = {**loaded.forms["need"]["schema"], "title": "Disas rubrik"}
    design.save_draft_form(ctx, "innovation", "need", theirs, {}, disa, loaded.version)
    mine = schema.replace('"type": "object"', '"type": "object", "description": "Doras text"', 1)
    response = save(dora, "need", mine, ui, loaded.version)
    assert response.status_code == 409
    page = html(response)
    assert "disa sparade utkastet medan du arbetade" in page and "Doras text" in page
    assert design.get_draft(ctx, "innovation", DORA).forms["need"]["schema"]["title"] == "Disas rubrik"
    overwrite = re.search(r'name="overwrite" value="(\d+)"', page)
    assert overwrite and int(overwrite.group(1)) == loaded.version + 1
    response = post_form(dora, "/design/innovation/forms/need",
                         {"schema": mine, "ui": ui, "expected_version": str(loaded.version),
                          "overwrite": overwrite.group(1), "_action": "save"})
    assert response.status_code == 302
    assert design.get_draft(ctx, "innovation", DORA).forms["need"]["schema"]["description"] == "Doras text"


def test_a_form_shipped_in_forms_but_new_to_this_process_starts_from_the_shipped_text(web) -> None:
    ctx, app = web
    assert "improvement_suggestion" not in design.get_draft(ctx, "innovation", DORA).forms
    shipped = json.loads((ROOT / "forms" / "improvement_suggestion.schema.json").read_text(encoding="utf-8"))
    page = html(client_for(app, "dora").get("/design/innovation/forms/improvement_suggestion"))
    assert "Nytt formulär improvement_suggestion" in page
    assert json.dumps(shipped["title"], ensure_ascii=False)[1:-1] in page


def test_people_who_do_not_design_processes_cannot_open_or_change_forms(web) -> None:
    ctx, app = web
    before = design.get_draft(ctx, "innovation", DORA)
    schema, ui = texts(before, "need")
    for username in ("anna", "lena"):
        client = client_for(app, username)
        assert client.get("/design/innovation/forms/need").status_code == 403
        assert save(client, "need", schema, ui, before.version).status_code == 403
        response = post_form(client, "/design/innovation/forms/need/preview", {"schema": schema, "ui": ui})
        assert response.status_code == 403
        assert post_form(client, "/design/innovation/forms/new", {"form_key": "x"}).status_code == 403
    assert design.get_draft(ctx, "innovation", DORA) == before
    dora = client_for(app, "dora")
    assert dora.get("/design/no_such_process/forms/need").status_code == 404
    anonymous = app.test_client().get("/design/innovation/forms/need")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]
