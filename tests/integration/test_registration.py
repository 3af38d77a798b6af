"""A case as a registered public record (OSL 5 kap.): registration data, secrecy markings and
who sees what, registered incoming and outgoing documents, the register and records requests."""

from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from iphs_flow.cli import cli
from iphs_flow.engine.calendar import STOCKHOLM
from iphs_flow.services import accounts, attachments, cases, personal_data, registration
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.queries import case_page, decision_brief, register
from iphs_flow.services.queries.case_page import case_history
from iphs_flow.store.tables import CaseEvent, SecrecyMarking
from tests.integration.api_world import Browser, actor, build_api_world, case_at_gate, case_at_need

PROVISION = "OSL 31 kap. 16 §"
LABEL = "Text"  # the label of the field `text` in the fixture forms (tests/fixtures/forms)


@pytest.fixture
def world(db_url, tmp_path):
    ctx, app = build_api_world(db_url, tmp_path / "files")
    accounts.add_user(ctx, "rut", "Rut Registrator", password="correct horse battery", roles={"registrar"})
    yield ctx, app
    ctx.close()


def test_a_case_reads_as_registered_on_its_start_day_until_changed(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    reg = registration.get_registration(ctx, view.id, actor(ctx, "anna"))
    assert (reg.number, reg.classification, reg.description, reg.version) == (view.number, None, view.title, 0)
    assert reg.registered_on == view.created_at.astimezone(STOCKHOLM).date()


def test_a_lead_changes_the_registration_and_the_history_records_each_change(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    lead = actor(ctx, "lena")
    changed = registration.update_registration(ctx, view.id, lead, version=0, classification="1.3.1",
                                               description="Idé om tryggare skolvägar", unit="Skolförvaltningen")
    assert (changed.classification, changed.classification_name, changed.unit, changed.version) == \
        ("1.3.1", "Ta emot och pröva innovationsidéer", "Skolförvaltningen", 1)
    [event] = [e for e in case_history(ctx, view.id, lead) if e.kind == "registration_changed"]
    assert event.actor == "lena"
    assert event.data["changes"]["classification"] == [None, "1.3.1"]
    assert event.data["changes"]["unit"] == [None, "Skolförvaltningen"]
    with pytest.raises(Conflict):  # the form showed version 0: someone changed it since
        registration.update_registration(ctx, view.id, lead, version=0, classification=None, description="x",
                                         unit=None)


def test_only_a_registrar_changes_the_registration_date_and_bad_input_names_its_field(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    with pytest.raises(Forbidden):
        registration.update_registration(ctx, view.id, actor(ctx, "lena"), version=0, classification=None,
                                         description=None, unit=None, registered_on="2020-01-02")
    with pytest.raises(Forbidden):
        registration.update_registration(ctx, view.id, actor(ctx, "anna"), version=0, classification=None,
                                         description="mitt", unit=None)
    with pytest.raises(InvalidInput) as refused:
        registration.update_registration(ctx, view.id, actor(ctx, "rut"), version=0, classification="9.9",
                                         description=None, unit=None, registered_on="2026-13-01")
    assert set(refused.value.fields) == {"classification", "registered_on"}
    changed = registration.update_registration(ctx, view.id, actor(ctx, "rut"), version=0, classification=None,
                                               description=None, unit=None, registered_on="2020-01-02")
    assert changed.registered_on.isoformat() == "2020-01-02"
    [event] = [e for e in case_history(ctx, view.id, actor(ctx, "rut")) if e.kind == "registration_changed"]
    assert event.data["changes"]["registered_on"][1] == "2020-01-02" and event.actor == "rut"


def test_marking_needs_a_lead_or_registrar_a_real_field_a_listed_provision_and_a_reason(world) -> None:
    ctx, _app = world
    view = case_at_gate(ctx)
    lead = actor(ctx, "lena")
    with pytest.raises(Forbidden):
        registration.mark_secret(ctx, view.id, actor(ctx, "anna"), kind="field", target="text",
                                 provision=PROVISION, reason="affärshemlighet")
    with pytest.raises(InvalidInput) as refused:
        registration.mark_secret(ctx, view.id, lead, kind="field", target="no_such_field",
                                 provision="OSL 99 kap.", reason="")
    assert set(refused.value.fields) == {"target", "provision", "reason"}
    marked = registration.mark_secret(ctx, view.id, lead, kind="field", target="text", provision=PROVISION,
                                      reason="Leverantörens affärsförhållanden")
    assert (marked.target, marked.provision, marked.marked_by) == ("text", PROVISION, "lena")
    with pytest.raises(Conflict):
        registration.mark_secret(ctx, view.id, lead, kind="field", target="text", provision=PROVISION,
                                 reason="igen")
    registration.lift_secrecy(ctx, view.id, marked.id, lead, reason="Prövat: uppgiften är offentlig")
    kinds = [e.kind for e in case_history(ctx, view.id, lead)]
    assert kinds.count("secrecy_marked") == 1 and kinds.count("secrecy_lifted") == 1
    with ctx.uow.read() as tx:
        assert tx.session.scalars(select(SecrecyMarking)).all() == []


def test_a_marked_field_is_left_out_for_those_who_do_not_handle_the_case(world) -> None:
    ctx, _app = world
    view = case_at_gate(ctx)  # anna wrote "text" at the need, lena prepared; bo's group decides the gate
    accounts.add_user(ctx, "mona", "Mona Chef", password="correct horse battery")
    with ctx.uow.write() as tx:  # lena's manager: sees the case (as her manager), does not handle it
        tx.users.by_username("lena").manager_username = "mona"
        tx.commit()
    lead = actor(ctx, "lena")
    registration.mark_secret(ctx, view.id, lead, kind="field", target="text", provision=PROVISION,
                             reason="Affärshemlighet")
    mona, anna, bo = actor(ctx, "mona"), actor(ctx, "anna"), actor(ctx, "bo")
    page = case_page.case_page(ctx, view.id, mona)
    assert all("text" not in r.data for r in page.records.stages)
    assert page.withheld.notes() and page.withheld.notes()[0][1] == PROVISION
    shown = json.dumps([e.data for e in page.detail.history], ensure_ascii=False)
    assert "70-väg" not in shown and "Beredd" not in shown and PROVISION in shown
    assert "70-väg" not in json.dumps(cases.get_case(ctx, view.id, mona).data, ensure_ascii=False)
    # the owner sees what she herself wrote, not what the lead wrote in the same field
    owner_page = case_page.case_page(ctx, view.id, anna)
    texts = [r.data.get("text") for r in owner_page.records.stages]
    assert texts == ["Barn går längs en 70-väg", None]
    # the decider of the open gate handles the case: the brief shows everything
    gate = view.open_tasks[0]
    brief = decision_brief.decision_brief(ctx, gate.id, bo)
    assert "Beredd" in json.dumps([f.record.data for f in brief.facts], ensure_ascii=False)
    assert not case_page.task_page(ctx, gate.id, bo).withheld
    assert case_page.task_page(ctx, gate.id, mona).withheld.hides("text")


def test_a_secret_attachment_is_not_found_for_a_non_handler_and_is_registered_incoming(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    lead, anna = actor(ctx, "lena"), actor(ctx, "anna")
    own = attachments.add_attachment(ctx, view.id, "behov.txt", io.BytesIO(b"anna skriver"), anna)
    offer = attachments.add_attachment(ctx, view.id, "anbud.pdf", io.BytesIO(b"%PDF-1.4 anbud"), lead)
    registration.mark_secret(ctx, view.id, lead, kind="attachment", target=str(offer.id),
                             provision="OSL 19 kap. 3 §", reason="Anbud i upphandling")
    registration.mark_secret(ctx, view.id, lead, kind="attachment", target=str(own.id),
                             provision="OSL 19 kap. 3 §", reason="Hennes eget anbud")
    assert [a.filename for a in attachments.list_attachments(ctx, view.id, anna)] == ["behov.txt"]
    with pytest.raises(NotFound):
        attachments.open_attachment(ctx, offer.id, anna)
    assert attachments.open_attachment(ctx, own.id, anna)[0].filename == "behov.txt"  # she brought it in
    assert attachments.open_attachment(ctx, offer.id, lead)[0].filename == "anbud.pdf"
    panel = registration.registration_panel(ctx, view.id, lead)
    assert [(d.full_number, d.direction, d.counterpart, d.description, d.secret) for d in panel.documents] == [
        (f"{view.number}:1", "incoming", "anna", "behov.txt", "OSL 19 kap. 3 §"),
        (f"{view.number}:2", "incoming", "lena", "anbud.pdf", "OSL 19 kap. 3 §")]
    assert [d.full_number for d in registration.registration_panel(ctx, view.id, anna).documents] == \
        [f"{view.number}:1"]


def test_the_register_is_searchable_by_every_filter_and_paged_for_registrars(world) -> None:
    ctx, _app = world
    rut, lead = actor(ctx, "rut"), actor(ctx, "lena")
    first = case_at_need(ctx, title="Tryggare skolvägar")
    second = case_at_need(ctx, owner="bertil", title="Grönare parker")
    registration.update_registration(ctx, first.id, lead, version=0, classification="1.3.1",
                                     description="Skolvägar i Skärholmen", unit="Skolförvaltningen")
    registration.update_registration(ctx, second.id, lead, version=0, classification="1.4",
                                     description="Parkerna i Kista", unit="Stadsmiljö")
    attachments.add_attachment(ctx, second.id, "karta.png", io.BytesIO(b"\x89PNG\r\n\x1a\nxx"), actor(ctx, "bertil"))

    def numbers(**args: str) -> list[str]:
        found = register.search_register(ctx, register.parse_query(args), rut)
        return [row.registration.number for row in found.rows]

    assert numbers() == [second.number, first.number]
    assert numbers(number=first.number) == [first.number]
    assert numbers(classification="1.3") == [first.number]
    assert numbers(unit="stadsmiljö") == [second.number]
    assert numbers(q="skärholmen") == [first.number]
    assert numbers(q="karta") == [second.number]  # a document's description
    assert numbers(party="bertil") == [second.number]
    assert numbers(**{"from": "2000-01-01", "to": "2000-12-31"}) == []
    with pytest.raises(InvalidInput) as refused:
        register.parse_query({"from": "igår", "page": "0"})
    assert set(refused.value.fields) == {"from", "page"}
    with pytest.raises(Forbidden):
        register.search_register(ctx, register.RegisterQuery(), lead)


def test_a_records_request_says_what_exists_what_is_secret_and_what_may_be_released(world) -> None:
    ctx, app = world
    view = case_at_gate(ctx)
    lead = actor(ctx, "lena")
    offer = attachments.add_attachment(ctx, view.id, "anbud.pdf", io.BytesIO(b"%PDF-1.4 anbud"), lead)
    registration.mark_secret(ctx, view.id, lead, kind="attachment", target=str(offer.id),
                             provision="OSL 19 kap. 3 §", reason="Anbud")
    registration.mark_secret(ctx, view.id, lead, kind="field", target="text", provision=PROVISION,
                             reason="Affärshemlighet")
    answer = register.records_request(ctx, view.number, actor(ctx, "rut")).as_json()
    assert answer["case_number"] == view.number
    [secret] = answer["secret_fields"]
    assert secret["provision"] == PROVISION and secret["field"] == LABEL
    by_kind = {(d["kind"], d["description"]): d for d in answer["documents"]}
    assert by_kind[("attachment", "anbud.pdf")]["release"] == "withhold"
    forms = [d for d in answer["documents"] if d["kind"] == "form"]
    assert forms and all(d["release"] == "release_masked" for d in forms)
    browser = Browser(app, "rut")
    page = browser.get(f"/diarium/{view.id}")
    assert page.status_code == 200 and "Kan lämnas ut med maskering" in page.get_data(as_text=True)
    assert browser.get(f"/diarium/{view.id}?format=json").json == answer
    assert browser.get(f"/api/v1/register/{view.number}").json == answer
    assert Browser(app, "anna").get(f"/api/v1/register/{view.number}").status_code == 403


def test_the_case_page_edits_registration_and_marks_secrecy_through_its_forms(world) -> None:
    ctx, app = world
    view = case_at_gate(ctx)
    lena = Browser(app, "lena")
    page = lena.get(f"/cases/{view.id}").get_data(as_text=True)
    assert 'id="registration-form"' in page and 'value="field:text"' in page
    refused = lena.client.post(f"/cases/{view.id}/registration", data={
        "csrf_token": lena.token, "version": "0", "classification": "nope", "description": "", "unit": ""})
    assert refused.status_code == 422
    done = lena.client.post(f"/cases/{view.id}/registration", data={
        "csrf_token": lena.token, "version": "0", "classification": "1.3.1", "description": "Skolvägar",
        "unit": "Skolförvaltningen"})
    assert done.status_code == 303
    stale = lena.client.post(f"/cases/{view.id}/registration", data={
        "csrf_token": lena.token, "version": "0", "classification": "", "description": "", "unit": ""})
    assert stale.status_code == 409
    marked = lena.client.post(f"/cases/{view.id}/secrecy", data={
        "csrf_token": lena.token, "target": "field:text", "provision": PROVISION, "reason": "Affärshemlighet"})
    assert marked.status_code == 303
    anna_page = Browser(app, "anna").get(f"/cases/{view.id}").get_data(as_text=True)
    assert "Sekretess enligt OSL 31 kap. 16 §" in anna_page and "Beredd" not in anna_page
    assert 'id="registration-form"' not in anna_page


def test_the_api_changes_registration_and_marks_and_lifts_secrecy(world) -> None:
    ctx, app = world
    view = case_at_gate(ctx)
    lena = Browser(app, "lena")
    got = lena.get(f"/api/v1/cases/{view.number}/registration").json
    assert got["version"] == 0 and got["number"] == view.number
    changed = lena.client.put(f"/api/v1/cases/{view.number}/registration", json={
        "version": 0, "classification": "1.3.2", "unit": "Skolförvaltningen"}, headers={"X-CSRFToken": lena.token})
    assert changed.status_code == 200 and changed.json["classification"] == "1.3.2"
    marked = lena.post(f"/api/v1/cases/{view.number}/secrecy", json={
        "kind": "field", "target": "text", "provision": PROVISION, "reason": "Affärshemlighet"})
    assert marked.status_code == 201
    again = lena.post(f"/api/v1/cases/{view.number}/secrecy", json={
        "kind": "field", "target": "text", "provision": PROVISION, "reason": "Affärshemlighet"})
    assert again.status_code == 409
    bad = lena.post(f"/api/v1/cases/{view.number}/secrecy", json={
        "kind": "field", "target": "text", "provision": "OSL 0", "reason": "x"})
    assert bad.status_code == 422
    lifted = lena.post(f"/api/v1/cases/{view.number}/secrecy/{marked.json['id']}/lift", json={"reason": "Prövat"})
    assert lifted.status_code == 204
    assert Browser(app, "rut").get("/api/v1/register?classification=1.3.2").json["total"] == 1


def test_the_console_loads_the_lists_and_searches_the_register(world, tmp_path) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    classes = tmp_path / "klassificering.csv"
    classes.write_text("code;name\n2;Stödja verksamheten\n2.1;Hantera innovationer\n", encoding="utf-8")
    runner = CliRunner()
    loaded = runner.invoke(cli, ["register", "load", "classes", str(classes)], obj=ctx)
    assert loaded.exit_code == 0, loaded.output
    assert [c.code for c in registration.list_classes(ctx) if c.active] == ["2", "2.1"]
    assert "1.3.1" in [c.code for c in registration.list_classes(ctx) if not c.active]  # kept for old cases
    provisions = tmp_path / "osl.json"
    provisions.write_text(json.dumps([{"code": "OSL 31 kap. 16 §", "name": "Affärsförhållanden"}]), encoding="utf-8")
    assert runner.invoke(cli, ["register", "load", "provisions", str(provisions)], obj=ctx).exit_code == 0
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps([{"code": "", "name": ""}]), encoding="utf-8")
    refused = runner.invoke(cli, ["register", "load", "provisions", str(broken)], obj=ctx)
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    listed = runner.invoke(cli, ["register", "list", "--number", view.number], obj=ctx)
    assert listed.exit_code == 0 and view.number in listed.output
    answer = runner.invoke(cli, ["register", "request", view.number], obj=ctx)
    assert json.loads(answer.output)["case_number"] == view.number


def test_the_register_extract_and_the_erasure_cover_markings_and_registered_documents(world) -> None:
    ctx, _app = world
    view = case_at_gate(ctx)
    accounts.add_user(ctx, "lisa", "Lisa Ledare", roles={"innovation_lead"}, groups={"innovation-leads"})
    lisa = actor(ctx, "lisa")
    registration.mark_secret(ctx, view.id, lisa, kind="field", target="text", provision=PROVISION, reason="x")
    admin = actor(ctx, "adam")
    extract = personal_data.register_extract(ctx, "lisa", admin)
    [marking] = dict(extract.sections)["secrecy_markings"]
    assert marking.case_number == view.number and PROVISION in marking.what
    plan = personal_data.erasure_preview(ctx, "lisa", admin)
    assert any(step.place == "secrecy_marking.marked_by" for step in plan.steps)
    personal_data.erase_person(ctx, "lisa", admin, confirm="lisa")
    with ctx.uow.read() as tx:
        assert tx.session.scalar(select(SecrecyMarking.marked_by)) != "lisa"
        assert "lisa" not in {e.actor for e in tx.session.scalars(select(CaseEvent))}


def test_text_that_is_not_text_is_refused_at_its_field_never_a_server_error(world) -> None:
    ctx, app = world
    view = case_at_gate(ctx)
    lena, rut = Browser(app, "lena"), Browser(app, "rut")
    refused = lena.client.post(f"/cases/{view.id}/registration", data={
        "csrf_token": lena.token, "version": "²", "description": "noll\x00tecken", "unit": ""})
    assert refused.status_code in (409, 422)
    refused = lena.client.post(f"/cases/{view.id}/registration", data={
        "csrf_token": lena.token, "version": "0", "description": "noll\x00tecken", "unit": ""})
    assert refused.status_code == 422
    marked = lena.client.post(f"/cases/{view.id}/secrecy", data={
        "csrf_token": lena.token, "target": "attachment:²", "provision": PROVISION, "reason": "x\x00"})
    assert marked.status_code == 422
    assert rut.get("/diarium?q=a%00b").status_code == 422
    assert rut.get("/api/v1/register?q=a%00b").status_code == 422
    assert rut.get("/api/v1/register?page=0").status_code == 422
