"""A person's register extract, correction and erasure (GDPR art. 15–17) under the archive law."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import JSON, Text, cast, select

from iphs_flow.engine import clock
from iphs_flow.services import accounts, attachments, cases, comments, jobs, personal_data, processes
from iphs_flow.services.errors import Forbidden, InvalidInput
from iphs_flow.services.queries import case_page as case_pages
from iphs_flow.store.tables import AccessLog, Base
from tests.conftest import ROOT, T0, make_context
from tests.integration.process_driver import Walk
from tests.people import ADMIN, DESIGNER, LEAD, MANAGER

USERNAME, NAME, EMAIL = "igustafs", "Ingrid Gustafsdotter", "ingrid.gustafsdotter@stad.example"


@pytest.fixture
def ctx(db_url, tmp_path):
    context = make_context(db_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                           attachments_dir=tmp_path / "files")
    processes.deploy_process(context, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    accounts.add_user(context, USERNAME, NAME, email=EMAIL, password="ett långt lösenord")
    accounts.add_user(context, "lena", "Lena Lind", email="lena@stad.example")
    clock.freeze(T0)
    yield context
    clock.reset()
    context.close()


def her(ctx):
    return accounts.actor_for(ctx, USERNAME)


def her_cases(ctx) -> tuple[Walk, Walk]:
    """One decided suggestion of hers with a file and a colleague's comment naming her, one still open."""
    walk = Walk.start(ctx, "improvement", her(ctx))
    walk.complete("suggestion", {"title": "Cykelställ vid Medborgarhuset",
                                 "suggestion": f"Jag, {NAME}, föreslår fler cykelställ. Svara till {EMAIL}",
                                 "unit": "Södermalms stadsdelsförvaltning"}, her(ctx))
    attachments.add_attachment(ctx, walk.number, "karta.pdf", io.BytesIO(b"%PDF-1.4\n%%EOF\n"), her(ctx))
    comments.add_comment(ctx, walk.number, f"Har pratat med {NAME} om placeringen", LEAD)
    walk.complete("improvement_decide", {"decision": "do_it", "responsible": "Trafikkontoret"}, MANAGER)
    still_open = Walk.start(ctx, "improvement", her(ctx))
    jobs.process_due_jobs(ctx)  # notifications and mails (held: no SMTP server here) are made
    return walk, still_open


def traces(ctx) -> list[str]:
    """Every column anywhere that still holds her user name, name or address."""
    found = []
    with ctx.uow.read() as tx:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (JSON, Text)) and not hasattr(column.type, "length"):
                    continue
                as_text = cast(column, Text) if isinstance(column.type, JSON) else column
                for (value,) in tx.session.execute(select(as_text).where(as_text.is_not(None))):
                    text = str(value)
                    if (text == USERNAME or json.dumps(USERNAME) in text or NAME.casefold() in text.casefold()
                            or EMAIL in text.casefold()):
                        found.append(f"{table.name}.{column.name}")
    return sorted(set(found))


def test_the_register_extract_shows_every_place_she_appears(ctx) -> None:
    walk, _open = her_cases(ctx)
    extract = personal_data.register_extract(ctx, USERNAME, ADMIN)
    sections = dict(extract.sections)
    assert (extract.display_name, extract.email) == (NAME, EMAIL)
    assert {i.case_number for i in sections["cases"]} >= {walk.number}
    assert len(sections["cases"]) == 2
    assert any("Beskriv" in i.what or "suggestion" in i.what or "Förslag" in i.what
               for i in sections["decisions_and_forms"]) or sections["decisions_and_forms"]
    assert [i.what for i in sections["attachments"]] == ["karta.pdf (15 bytes)"]
    assert any(i.place == "case_comment.body" and i.case_number == walk.number for i in sections["mentions"])
    assert sections["notifications"], "her receipt is a notification of hers"
    as_json = extract.as_json()
    assert json.loads(json.dumps(as_json))["sections"]["attachments"][0]["case_number"] == walk.number
    with ctx.uow.read() as tx:
        logged = tx.session.scalars(select(AccessLog.event).where(AccessLog.username == USERNAME)).all()
    assert "register_extract" in logged


def test_only_administrators_see_extracts_or_erase(ctx) -> None:
    with pytest.raises(Forbidden):
        personal_data.register_extract(ctx, USERNAME, LEAD)
    with pytest.raises(Forbidden):
        personal_data.erase_person(ctx, USERNAME, LEAD, confirm=USERNAME)


def test_a_correction_is_recorded_with_its_reason(ctx) -> None:
    personal_data.correct_person(ctx, USERNAME, ADMIN, email="ingrid.g@stad.example", reason="Ny adress")
    assert accounts.get_user(ctx, USERNAME).email == "ingrid.g@stad.example"
    with ctx.uow.read() as tx:
        detail = tx.session.scalars(select(AccessLog.detail).where(AccessLog.event == "personal_data_corrected")).one()
    assert detail == {"by": ADMIN.username, "fields": ["email"], "reason": "Ny adress"}
    with pytest.raises(InvalidInput) as refused:
        personal_data.correct_person(ctx, USERNAME, ADMIN, email="inte en adress", reason="")
    assert set(refused.value.fields) == {"email", "reason"}


def test_the_preview_says_what_happens_where_and_changes_nothing(ctx) -> None:
    her_cases(ctx)
    before = traces(ctx)
    plan = personal_data.erasure_preview(ctx, USERNAME, ADMIN)
    actions = {s.place: s.action for s in plan.steps}
    assert actions["case.owner"] == "pseudonymise" and actions["notification"] == "delete"
    assert actions["case_comment.body (text)"] == "pseudonymise"
    assert actions["human_task (öppna)"] == "return to group"
    assert plan.cases == 2
    assert traces(ctx) == before and before


def test_erasure_leaves_no_trace_of_her_and_every_case_still_opens(ctx) -> None:
    walk, still_open = her_cases(ctx)
    with pytest.raises(InvalidInput):
        personal_data.erase_person(ctx, USERNAME, ADMIN, confirm="fel")
    assert traces(ctx), "a wrong confirmation changes nothing"
    personal_data.erase_person(ctx, USERNAME, ADMIN, confirm=USERNAME)
    assert traces(ctx) == []
    for number in (walk.number, still_open.number):
        detail = cases.get_case(ctx, number, ADMIN)
        assert detail.case.owner.startswith("borttagen-")
        assert detail.history[-1].kind == "personal_data_erased"
        page = case_pages.case_page(ctx, detail.case.id, ADMIN)
        assert page.detail.case.number == number
    assert "Borttagen person" in " ".join(c.body for c in comments.list_comments(ctx, walk.number, ADMIN))
    assert accounts.authenticate(ctx, USERNAME, "ett långt lösenord") is None


def test_an_administrator_handles_a_persons_data_from_the_web(db_url) -> None:
    from tests.integration.api_world import actor, build_world, case_at_need
    from tests.integration.web_world import client_for, post_form

    context, app = build_world(db_url)
    try:
        case = case_at_need(context, owner="bertil", title="Bertil Bergs idé om lånecyklar")
        adam = client_for(app, "adam")
        page = adam.get("/admin/personal-data").get_data(as_text=True)
        assert "Bertil Berg (bertil)" in page
        assert adam.get("/admin/personal-data?username=nobody").status_code == 404
        found = adam.get("/admin/personal-data?username=bertil")
        assert found.status_code == 302
        page = adam.get("/admin/personal-data/bertil").get_data(as_text=True)
        assert "Registerutdrag för Bertil Berg" in page and case.number in page
        data = adam.get("/admin/personal-data/bertil?format=json")
        assert data.json["username"] == "bertil" and data.json["sections"]["cases"][0]["case_number"] == case.number
        refused = post_form(adam, "/admin/personal-data/bertil/correct",
                            {"display_name": "", "email": "x", "reason": ""})
        assert refused.status_code == 422 and 'aria-invalid="true"' in refused.get_data(as_text=True)
        preview = adam.get("/admin/personal-data/bertil/erase").get_data(as_text=True)
        assert "Ersätts med pseudonym" in preview and "Ingenting har ändrats" in preview
        wrong = post_form(adam, "/admin/personal-data/bertil/erase", {"confirm": "bert"})
        assert wrong.status_code == 422
        done = post_form(adam, "/admin/personal-data/bertil/erase", {"confirm": "bertil"})
        assert done.status_code == 302
        owner = cases.get_case(context, case.id, actor(context, "adam")).case.owner
        assert owner.startswith("borttagen-")
        assert client_for(app, "lena").get("/admin/personal-data").status_code in (403, 404)
    finally:
        context.close()


def test_the_command_line_previews_and_erases(ctx) -> None:
    from click.testing import CliRunner

    from iphs_flow.cli import cli

    her_cases(ctx)
    runner = CliRunner()
    extract = runner.invoke(cli, ["personal-data", "extract", USERNAME, "--json"], obj=ctx)
    assert extract.exit_code == 0 and json.loads(extract.output)["email"] == EMAIL
    preview = runner.invoke(cli, ["personal-data", "erase", USERNAME, "--preview"], obj=ctx)
    assert preview.exit_code == 0 and "pseudonymise" in preview.output and traces(ctx)
    declined = runner.invoke(cli, ["personal-data", "erase", USERNAME], input="n\n", obj=ctx)
    assert declined.exit_code == 1 and traces(ctx)
    done = runner.invoke(cli, ["personal-data", "erase", USERNAME, "--yes"], obj=ctx)
    assert done.exit_code == 0, done.output
    assert traces(ctx) == []
