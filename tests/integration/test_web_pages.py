"""The staff pages: start a case, inbox, task forms with validation and drafts, gates, case page.

Each test runs on a SQLite file and on PostgreSQL (the `db_url` fixture).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import render_template

from iphs_flow.engine import clock
from iphs_flow.services import cases, timers
from iphs_flow.services.queries import tasks as task_queries
from iphs_flow.web.forms import FormSpec
from tests.conftest import ADMIN, LEAD, ROOT
from tests.integration.process_driver import CONCEPT, EVALUATION, IMPLEMENTATION, NEED, PILOT, UNDERSTAND
from tests.integration.web_world import app_for, client_for, post_form, shipped_web_context, start_case

T0 = datetime(2026, 3, 12, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def web(db_url):
    clock.freeze(T0)
    ctx = shipped_web_context(db_url)
    app = app_for(ctx)
    yield ctx, app
    ctx.close()


def as_form(data: dict, prefix: str = "") -> dict[str, list[str] | str]:
    """Form fields as a browser would post them for `data` (rows as name.N.field)."""
    out: dict[str, list[str] | str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, row in enumerate(value):
                out.update(as_form(row, f"{name}.{i}."))
        elif isinstance(value, list):
            out[name] = [str(v) for v in value]
        else:
            out[name] = str(value)
    return out


def html(response) -> str:
    return response.get_data(as_text=True)


def open_task(ctx, case_number: str, key: str):
    found = [t for t in task_queries.list_tasks(ctx, ADMIN, case_number, everyone=True) if t.task_key == key]
    assert len(found) == 1, [t.task_key for t in task_queries.list_tasks(ctx, ADMIN, case_number, everyone=True)]
    return found[0]


def submit(client, task_id: int, data: dict, action: str = "submit"):
    return post_form(client, f"/tasks/{task_id}", {**as_form(data), "_action": action})


def test_anonymous_visitors_are_sent_to_the_login_page(web) -> None:
    _, app = web
    client = app.test_client()
    for path in ("/inbox", "/cases", "/start", "/overview", "/cases/1", "/tasks/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_starting_a_case_gives_its_number_and_opens_the_need_form(web) -> None:
    _, app = web
    anna = client_for(app, "anna")
    task_id, location = start_case(anna)
    page = html(anna.get(location))
    assert "IPHS 2026/0001" in page and "är skapat" in page
    assert '<label for="f-need">Behovet som ett problem <span class="required">(obligatoriskt)</span></label>' in page
    assert 'aria-describedby="f-need-help"' in page and 'id="f-need-help"' in page


def test_an_empty_need_shows_each_error_at_its_field_and_in_a_summary_and_changes_nothing(web) -> None:
    ctx, app = web
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    response = submit(anna, task_id, {"title": "Tryggare skolvägar", "need": "  "})
    page = html(response)
    assert response.status_code == 422
    assert 'class="error-summary" role="alert"' in page
    assert '<a href="#f-need">Behovet som ett problem: Fyll i detta fält.</a>' in page
    assert 'id="f-target_group" name="target_group"' in page and 'aria-invalid="true"' in page
    assert 'value="Tryggare skolvägar"' in page  # nothing typed is lost
    assert open_task(ctx, "IPHS 2026/0001", "need").state == "open"


def test_a_draft_is_saved_and_filled_in_again_later(web) -> None:
    _, app = web
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    response = submit(anna, task_id, {"title": "Halvfärdigt", "need": "Jag skriver klart i morgon"}, "draft")
    assert response.status_code == 200 and "Utkastet är sparat" in html(response)
    again = html(anna.get(f"/tasks/{task_id}"))
    assert 'value="Halvfärdigt"' in again and "Jag skriver klart i morgon</textarea>" in again
    assert "Ett sparat utkast från 2026-03-12 09:00 är ifyllt." in again


def test_a_late_submission_says_who_completed_the_task_and_keeps_what_was_typed(web) -> None:
    ctx, app = web
    lena = client_for(app, "lena")
    bo = client_for(app, "bo")
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    assert submit(anna, task_id, NEED).status_code == 302
    assign = open_task(ctx, "IPHS 2026/0001", "assign_lead")
    form_token_page = lena.get(f"/tasks/{assign.id}")
    assert form_token_page.status_code == 200
    cases.complete_task(ctx, assign.id, {"innovation_lead": "lena"}, LEAD)
    # the innovation lead is chosen from a list now; the comment is what was typed
    late = submit(lena, assign.id, {"innovation_lead": "lena", "screening_note": "Skrivet för sent"})
    page = html(late)
    assert late.status_code == 409
    assert "Uppgiften är redan klar (av lena" in page
    assert "Skrivet för sent" in page  # what was typed is shown again
    assert "Skrivet för sent" in html(lena.get(f"/tasks/{assign.id}"))  # and kept as a draft
    assert bo.get(f"/tasks/{assign.id}").status_code == 404  # bo is not part of the case


def test_the_inbox_lists_group_tasks_marks_overdue_in_words_and_claims_and_gives_back(web) -> None:
    ctx, app = web
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    submit(anna, task_id, NEED)
    lena = client_for(app, "lena")
    page = html(lena.get("/inbox"))
    assert "IPHS 2026/0001" in page and "Grupp: innovation-leads" in page and "Ta uppgiften" in page
    assign = open_task(ctx, "IPHS 2026/0001", "assign_lead")
    clock.freeze(T0 + timedelta(days=60))
    lena = client_for(app, "lena")  # the old session has expired meanwhile
    assert "Försenad</strong>" in html(lena.get("/inbox?show=overdue"))
    claimed = post_form(lena, f"/tasks/{assign.id}/claim", {}, follow_redirects=True)
    assert "Du har tagit uppgiften." in html(claimed) and "Lämna tillbaka" in html(claimed)
    assert open_task(ctx, "IPHS 2026/0001", "assign_lead").assignee == "lena"
    back = post_form(lena, f"/tasks/{assign.id}/unclaim", {}, follow_redirects=True)
    assert "Uppgiften är tillbaka hos gruppen." in html(back)
    assert open_task(ctx, "IPHS 2026/0001", "assign_lead").assignee is None
    assert "Du har inga uppgifter just nu." in html(client_for(app, "anna").get("/inbox?q=finns-inte"))


def to_g1(ctx, app):
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    assert submit(anna, task_id, NEED).status_code == 302
    lena = client_for(app, "lena")
    assign = open_task(ctx, "IPHS 2026/0001", "assign_lead")
    assert submit(lena, assign.id, {"innovation_lead": "lena"}).status_code == 302
    return anna, lena, open_task(ctx, "IPHS 2026/0001", "G1_decide")


def test_the_gate_page_shows_the_case_summary_criteria_and_all_seven_outcomes(web) -> None:
    ctx, app = web
    _, lena, gate = to_g1(ctx, app)
    page = html(lena.get(f"/tasks/{gate.id}"))
    assert "Ärendet i korthet" in page and "Tryggare skolvägar" in page
    for outcome in ("Godkänd", "Godkänd med villkor", "Avslag", "Vilande", "Åter till steg X",
                    "Begär komplettering", "Hänvisa"):
        assert f">{outcome}</label>" in page, outcome
    assert 'type="checkbox" id="f-within_remit" name="within_remit" value="true"' in page


def test_rejecting_at_a_gate_requires_a_reason_and_holding_requires_a_resume_date(web) -> None:
    ctx, app = web
    _, lena, gate = to_g1(ctx, app)
    rejected = submit(lena, gate.id, {"decision": "rejected"})
    assert rejected.status_code == 422 and '<a href="#f-reason">Motivering: Fyll i detta fält.</a>' in html(rejected)
    held = submit(lena, gate.id, {"decision": "on_hold", "reason": "Budgeten är slut i år"})
    assert held.status_code == 422 and '<a href="#f-resume_date">Återupptas: Fyll i detta fält.</a>' in html(held)
    unmet = submit(lena, gate.id, {"decision": "approved", "within_remit": True})
    assert unmet.status_code == 422 and "Måste vara uppfyllt för det här beslutet." in html(unmet)
    assert open_task(ctx, "IPHS 2026/0001", "G1_decide").state == "open"
    done = submit(lena, gate.id, {"decision": "rejected", "reason": "Ligger utanför stadens uppdrag"})
    assert done.status_code == 302
    case_page = html(lena.get(done.headers["Location"]))
    assert "Avslag – Ligger utanför stadens uppdrag" in case_page


def test_conditions_are_repeatable_rows_added_and_removed_without_javascript(web) -> None:
    ctx, app = web
    _, lena, gate = to_g1(ctx, app)
    base = {"decision": "approved_with_conditions", "within_remit": True, "need_owner_named": True,
            "not_duplicate": True}
    one = submit(lena, gate.id, base, "add:conditions")
    assert one.status_code == 200 and 'name="conditions.0.text"' in html(one)
    two = submit(lena, gate.id, {**base, "conditions": [{"text": "Förankra med rektorerna", "due_date": ""}]},
                 "add:conditions")
    assert 'name="conditions.1.text"' in html(two) and "Förankra med rektorerna" in html(two)
    blank_row = submit(lena, gate.id, {**base, "conditions": [{"text": "", "due_date": ""}]})
    assert blank_row.status_code == 422  # an added row left blank is pointed out, not silently dropped
    assert '<a href="#f-conditions-0-text">Villkor: Fyll i detta fält.</a>' in html(blank_row)
    missing_date = submit(lena, gate.id, {**base, "conditions": [{"text": "Förankra med rektorerna"}]})
    assert missing_date.status_code == 422
    assert '<a href="#f-conditions-0-due_date">Förfallodag: Fyll i detta fält.</a>' in html(missing_date)
    removed = submit(lena, gate.id, {**base, "conditions": [{"text": "A"}, {"text": "B"}]}, "remove:conditions:0")
    assert 'name="conditions.1.text"' not in html(removed) and ">B</textarea>" in html(removed)
    done = submit(lena, gate.id, {**base, "conditions": [{"text": "Förankra med rektorerna",
                                                             "due_date": "2026-04-30"}]})
    assert done.status_code == 302
    open_now = task_queries.list_tasks(ctx, ADMIN, "IPHS 2026/0001", everyone=True)
    assert "G1_decide" not in [t.task_key for t in open_now]
    assert "Förankra med rektorerna" in html(lena.get(done.headers["Location"]))


def test_the_case_page_shows_stages_open_tasks_data_history_and_comments_to_participants_only(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    page = html(anna.get("/cases/1"))
    assert 'aria-current="step"' in page and "Behov inlämnat" in page
    assert "Behovsprövning" in page or gate.name in page
    assert "Behovet som ett problem" in page and "Barn känner sig otrygga" in page  # the need's data
    assert "Ärendet startades" in page and "Uppgift klar" in page
    commented = post_form(anna, "/cases/1/comments", {"body": "Jag kan visa platserna på plats."},
                          follow_redirects=True)
    assert "Jag kan visa platserna på plats." in html(commented)
    empty = post_form(anna, "/cases/1/comments", {"body": "  "}, follow_redirects=True)
    assert "Skriv en kommentar" in html(empty)
    erik = client_for(app, "erik")
    assert erik.get("/cases/1").status_code == 404
    assert erik.post("/cases/1/comments", data={"body": "x"}).status_code == 400  # no CSRF token
    assert "Jag kan visa platserna på plats." in html(lena.get("/cases/1"))


def test_the_overview_board_is_for_innovation_leads(web) -> None:
    ctx, app = web
    to_g1(ctx, app)
    lena = client_for(app, "lena")
    page = html(lena.get("/overview"))
    assert "Pågående ärenden per steg" in page and "IPHS 2026/0001" in page and "(1)" in page
    assert client_for(app, "anna").get("/overview").status_code == 403


def test_my_cases_show_stage_status_and_what_they_wait_for(web) -> None:
    ctx, app = web
    anna, _, gate = to_g1(ctx, app)
    page = html(anna.get("/cases"))
    assert "IPHS 2026/0001" in page and "Pågår" in page and gate.name in page


def test_the_language_switch_shows_pages_and_forms_in_english(web) -> None:
    _, app = web
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    response = post_form(anna, "/lang", {"lang": "en", "next": f"/tasks/{task_id}"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/tasks/{task_id}")
    page = html(anna.get(f"/tasks/{task_id}"))
    assert '<html lang="en">' in page and "The need as a problem" in page
    assert ">Submit</button>" in page and "My tasks" in page and "Skicka in" not in page
    post_form(anna, "/lang", {"lang": "sv", "next": "/inbox"})
    assert "Mina uppgifter" in html(anna.get("/inbox"))


def test_every_shipped_form_renders_with_a_label_for_each_field(web) -> None:
    _, app = web
    names = sorted(p.name.removesuffix(".schema.json") for p in (ROOT / "forms").glob("*.schema.json"))
    assert len(names) >= 10
    with app.test_request_context("/"):
        for name in names:
            schema = json.loads((ROOT / "forms" / f"{name}.schema.json").read_text())
            ui_path = ROOT / "forms" / f"{name}.ui.json"
            ui = json.loads(ui_path.read_text()) if ui_path.exists() else {}
            form = FormSpec(name, {"schema": schema, "ui": ui}).build({})
            page = render_template("_form_preview.html", form=form)
            for field_id in re.findall(r'<(?:input|textarea|select)[^>]* id="([^"]+)"', page):
                assert f'for="{field_id}"' in page, (name, field_id)


def test_an_innovation_case_walks_from_need_to_implementation_through_the_pages(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    g1 = {"decision": "approved", "within_remit": True, "need_owner_named": True, "not_duplicate": True}
    assert submit(lena, gate.id, g1).status_code == 302
    people = {"anna": anna, "lena": lena}

    def do(key: str, data: dict) -> None:
        task = open_task(ctx, "IPHS 2026/0001", key)
        who = task.assignee or {"innovation-leads": "lena", "unit-managers": "bo", "gate-deciders": "bo",
                                "department-management": "dagny", "city-executive-office": "kim"}[task.candidate_group]
        client = people.get(who) or client_for(app, who)
        people[who] = client
        response = submit(client, task.id, data)
        assert response.status_code == 302, (key, html(response)[html(response).find("error-summary"):][:800])

    do("understand", UNDERSTAND)
    do("concept", CONCEPT)
    task = open_task(ctx, "IPHS 2026/0001", "G2_decide")
    do("G2_decide", {"decision": "approved", "need_verified_with_users": True, "measurable_benefit_hypothesis": True,
                     "pilot_success_criteria": True, "funding_secured": True, "gdpr_screened": True})
    assert task.name
    do("pilot", PILOT)
    clock.freeze(datetime(2026, 9, 30, 0, 1, tzinfo=timezone.utc))
    timers.fire_due_timers(ctx)
    people.clear()  # half a year later everyone signs in again
    anna = people["anna"] = client_for(app, "anna")
    do("evaluation", EVALUATION)
    do("G3_decide", {"decision": "approved", "evidence_meets_targets": True, "operational_owner_named": True,
                     "running_budget_secured": True, "security_gdpr_cleared": True})
    do("implementation", IMPLEMENTATION)
    page = html(anna.get("/cases/1"))
    assert "Implementering &amp; spridning" in page
    assert re.search(r'class="current" aria-current="step">\s*<span class="stage-no">5</span>', page)


def test_the_case_page_has_the_process_diagram_and_its_steps_as_text(web) -> None:
    ctx, app = web
    anna, lena, gate = to_g1(ctx, app)
    page = html(lena.get("/cases/1"))  # leads (and designers) see the whole model
    assert 'id="bpmn-diagram"' in page and "/vendor/bpmn-js/bpmn-viewer.js" in page
    assert f"<li class=\"open\">{gate.name} – pågår nu</li>" in page
    assert re.search(r'<li class="done">[^<]+ – klart</li>', page)
    owner = html(anna.get("/cases/1"))  # the owner: the stage timeline and the steps where people act
    assert 'id="bpmn-diagram"' not in owner and f"<li class=\"open\">{gate.name} – pågår nu</li>" in owner
    assert "Påminnelse" not in owner.split('id="h-diagram"')[1].split("</section>")[0]
    xml = anna.get("/cases/1/diagram.bpmn")
    assert xml.status_code == 200 and xml.mimetype == "application/xml" and b"G1_decide" in xml.data
    assert client_for(app, "erik").get("/cases/1/diagram.bpmn").status_code == 404
    assert anna.get("/vendor/bpmn-js/bpmn-viewer.js").status_code == 200
    assert anna.get("/vendor/../pyproject.toml").status_code == 404


def test_attachments_are_checked_by_content_and_downloaded_only_by_those_who_see_the_case(sqlite_url, tmp_path) -> None:
    import io
    clock.freeze(T0)
    ctx = shipped_web_context(sqlite_url, attachments_dir=tmp_path / "files", attachment_max_bytes=1000)
    app = app_for(ctx)
    anna, _, _ = to_g1(ctx, app)

    def upload(name: str, content: bytes):
        return post_form(anna, "/cases/1/attachments", {"file": (io.BytesIO(content), name)},
                         content_type="multipart/form-data", follow_redirects=True)

    assert "Filen är bifogad." in html(upload("plan.pdf", b"%PDF-1.7\n..."))
    assert "filens innehåll stämmer inte" in html(upload("skript.pdf", b"#!/bin/sh\nrm -rf /\n"))
    assert "den filtypen är inte tillåten" in html(upload("virus.exe", b"MZ\x90\x00"))
    assert "filen är större än" in html(upload("stor.txt", b"a" * 1001))
    stored = list((tmp_path / "files").iterdir())
    assert len(stored) == 1 and stored[0].name != "plan.pdf"
    page = html(anna.get("/cases/1"))
    link = re.search(r'href="(/attachments/\d+)">plan.pdf</a>', page)
    assert link
    download = anna.get(link.group(1))
    assert download.status_code == 200 and download.data == b"%PDF-1.7\n..."
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.mimetype == "application/pdf"
    assert client_for(app, "erik").get(link.group(1)).status_code == 404
    ctx.close()


def test_attachments_download_when_the_storage_folder_is_relative_as_by_default(sqlite_url, tmp_path,
                                                                                 monkeypatch) -> None:
    import io
    monkeypatch.chdir(tmp_path)  # `make run` keeps them in instance/attachments, relative to the working directory
    clock.freeze(T0)
    ctx = shipped_web_context(sqlite_url, attachments_dir=Path("instance") / "attachments")
    app = app_for(ctx)
    anna, _, _ = to_g1(ctx, app)
    post_form(anna, "/cases/1/attachments", {"file": (io.BytesIO(b"%PDF-1.7\n..."), "plan.pdf")},
              content_type="multipart/form-data")
    link = re.search(r'href="(/attachments/\d+)">plan.pdf</a>', html(anna.get("/cases/1")))
    assert link
    download = anna.get(link.group(1))
    assert download.status_code == 200 and download.data == b"%PDF-1.7\n..."
    ctx.close()


def test_a_task_cancelled_meanwhile_or_a_paused_case_keeps_what_was_typed(web) -> None:
    from iphs_flow.services import case_admin
    ctx, app = web
    anna = client_for(app, "anna")
    first, _ = start_case(anna)
    case_admin.suspend_case(ctx, "IPHS 2026/0001", ADMIN)
    paused = submit(anna, first, NEED)
    assert paused.status_code == 409 and "Ärendet kan inte ändras just nu (Pausat)" in html(paused)
    assert "Tryggare skolvägar" in html(paused)
    case_admin.terminate_case(ctx, "IPHS 2026/0001", ADMIN, "Dubblett")
    late = submit(anna, first, dict(NEED, title="Mitt sena förslag"))
    assert late.status_code == 409 and "Uppgiften behövs inte längre" in html(late)
    assert 'value="Mitt sena förslag"' in html(late)
    assert 'value="Mitt sena förslag"' in html(anna.get(f"/tasks/{first}"))  # kept as a draft
    assert "Dubblett" in html(anna.get("/cases/1"))  # the owner's history says why the case was ended


def test_a_submitted_form_takes_its_draft_with_it_and_a_refused_one_keeps_it(web) -> None:
    """The draft goes in the completion's own transaction (nothing left to find after a submit)."""
    from iphs_flow.services import accounts, drafts

    ctx, app = web
    anna = client_for(app, "anna")
    task_id, _ = start_case(anna)
    assert submit(anna, task_id, {"title": "Halvfärdigt", "need": "I morgon"}, "draft").status_code == 200
    owner = accounts.actor_for(ctx, "anna")
    assert drafts.load_draft(ctx, task_id, owner) is not None
    refused = submit(anna, task_id, {"title": "", "need": ""})
    assert refused.status_code == 422 and drafts.load_draft(ctx, task_id, owner) is not None
    assert submit(anna, task_id, NEED).status_code == 302
    assert drafts.load_draft(ctx, task_id, owner) is None
