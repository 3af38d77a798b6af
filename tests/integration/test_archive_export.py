"""Closed cases go to the e-archive as E-ARK SIP packages that an archive's ingest accepts."""

from __future__ import annotations

import io
import os
import zipfile
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from iphs_flow.engine import clock
from iphs_flow.services import accounts, archive_export, attachments, comments, processes
from iphs_flow.services.errors import Conflict, Forbidden
from tests.conftest import ROOT, make_context
from tests.earchive_check import SCHEMAS, check_package
from tests.integration.process_driver import Walk
from tests.people import ADMIN, ANNA, DESIGNER, LEAD, MANAGER

SUGGESTION = {"title": "Digital bokning av lokaler",
              "suggestion": "Anna Andersson föreslår webbokning av skolans lokaler",
              "unit": "Skärholmens stadsdelsförvaltning"}
THURSDAY = datetime(2026, 12, 17, 9, 0, tzinfo=timezone.utc)

if not (SCHEMAS / "mets.xsd").is_file():
    if os.environ.get("IPHS_REQUIRE_SCHEMAS"):
        raise RuntimeError(f"the archive schemas are not at {SCHEMAS}")
    pytest.skip(f"the archive schemas are not at {SCHEMAS}", allow_module_level=True)


@pytest.fixture
def ctx(db_url, tmp_path):
    context = make_context(db_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                           attachments_dir=tmp_path / "attachments")
    processes.deploy_process(context, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    for username, name in (("anna", "Anna Andersson"), ("bo", "Bo Berg"), ("lena", "Lena Lind")):
        accounts.add_user(context, username, name, email=f"{username}@stad.example")
    clock.freeze(THURSDAY)
    yield context
    clock.reset()
    context.close()


def closed_case(ctx) -> Walk:
    walk = Walk.start(ctx, "improvement")
    walk.complete("suggestion", SUGGESTION)
    clock.advance(timedelta(minutes=5))
    attachments.add_attachment(ctx, walk.number, "skiss över lokalerna.pdf",
                               io.BytesIO(b"%PDF-1.4\n% Anna Andersson\n%%EOF\n"), ANNA)
    clock.advance(timedelta(minutes=5))
    comments.add_comment(ctx, walk.number, "Lena Lind har pratat med lokalenheten", LEAD)
    clock.advance(timedelta(minutes=5))
    walk.complete("improvement_decide", {"decision": "not_now", "reason": "Ingår i stadens nya bokningssystem"},
                  MANAGER)
    assert walk.case().case.status == "completed"
    return walk


def package_text(path: Path) -> str:
    """Everything the package says itself; attachments are delivered exactly as they were uploaded."""
    return "\n".join(p.read_text(encoding="utf-8") for p in path.rglob("*")
                     if p.is_file() and "bilagor" not in p.parts)


def test_a_closed_case_becomes_a_package_that_passes_the_archive_checks(ctx, tmp_path) -> None:
    walk = closed_case(ctx)
    view = archive_export.export_case(ctx, walk.number, tmp_path, ADMIN)
    assert check_package(view.path) == []
    erms = etree.parse(str(view.path / "metadata/descriptive/erms.xml"))
    ns = {"e": "https://DILCIS.eu/XML/ERMS"}
    assert erms.findtext(".//e:aggregation/e:objectId", namespaces=ns) == walk.number
    assert erms.find(".//e:aggregation", ns).get("aggregationType") == "caseFile"
    records = erms.findall(".//e:record", ns)
    assert [r.get("recordType") for r in records] == ["form", "attachment", "comment", "decision"]
    action = erms.findtext(".//e:action/e:actionText", namespaces=ns)
    assert action.startswith("Beslut") or "Inte nu" in action
    assert "Ingår i stadens nya bokningssystem" in action
    attachment = next(view.path.glob("representations/rep1/data/bilagor/*"))
    assert attachment.read_bytes() == b"%PDF-1.4\n% Anna Andersson\n%%EOF\n"
    decision = next(p for p in view.path.glob("representations/rep1/data/handlingar/*.xml")
                    if b"not_now" in p.read_bytes() or b"Inte nu" in p.read_bytes())
    assert "Inte nu" in decision.read_text(encoding="utf-8")  # the choice as the decider saw it


def test_every_document_file_follows_the_schema_that_travels_in_the_package(ctx, tmp_path) -> None:
    view = archive_export.export_case(ctx, closed_case(ctx).number, tmp_path, ADMIN)
    own = etree.XMLSchema(etree.parse(str(view.path / "schemas/iphs-arende.xsd")))
    data = view.path / "representations/rep1/data"
    for path in [*data.glob("handlingar/*.xml"), data / "historik.xml"]:
        assert own.validate(etree.parse(str(path))), (path.name, own.error_log)


def test_the_delivery_is_recorded_in_the_case_history(ctx, tmp_path) -> None:
    walk = closed_case(ctx)
    view = archive_export.export_case(ctx, walk.number, tmp_path, ADMIN)
    last = walk.case().history[-1]
    assert (last.kind, last.data["package"], last.data["mets_sha256"]) == ("archived", view.package, view.mets_sha256)


def test_pseudonymised_packages_name_nobody(ctx, tmp_path) -> None:
    view = archive_export.export_case(ctx, closed_case(ctx).number, tmp_path, ADMIN, pseudonymise=True)
    assert check_package(view.path) == []
    text = package_text(view.path)
    for trace in ("anna", "Anna Andersson", "lena", "Lena Lind", "Bo Berg", "@stad.example"):
        assert trace.lower() not in text.lower(), trace
    assert "Person 1" in text and "pseudonym" in text


def test_people_are_pseudonymised_for_the_processes_the_setting_names(db_url, tmp_path) -> None:
    context = make_context(db_url, forms_dir=ROOT / "forms", bpmn_dir=ROOT / "bpmn",
                           archive_pseudonymise=frozenset({"improvement"}))
    processes.deploy_process(context, processes.read_model_files([ROOT / "bpmn"]), DESIGNER)
    try:
        walk = Walk.start(context, "improvement")
        walk.complete("suggestion", SUGGESTION)
        walk.complete("improvement_decide", {"decision": "not_now", "reason": "Senare"}, MANAGER)
        view = archive_export.export_case(context, walk.number, tmp_path, ADMIN)
        assert view.pseudonymised and "anna" not in package_text(view.path)
    finally:
        context.close()


def test_only_closed_cases_and_only_administrators(ctx, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    walk = Walk.start(ctx, "improvement")
    with pytest.raises(Conflict):
        archive_export.export_case(ctx, walk.number, out, ADMIN)
    closed = closed_case(ctx)
    with pytest.raises(Forbidden):
        archive_export.export_case(ctx, closed.number, out, LEAD)
    assert list(out.iterdir()) == []  # nothing half-written


def test_a_missing_attachment_file_refuses_the_delivery_and_leaves_nothing(ctx, tmp_path) -> None:
    walk = closed_case(ctx)
    for stored in (tmp_path / "attachments").rglob("*"):
        if stored.is_file():
            stored.unlink()
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(Conflict, match="missing"):
        archive_export.export_case(ctx, walk.number, out, ADMIN)
    assert list(out.iterdir()) == []
    assert walk.case().history[-1].kind != "archived"


def test_a_period_delivers_every_case_closed_in_it_as_zip_files(ctx, tmp_path) -> None:
    first, second = closed_case(ctx), closed_case(ctx)
    Walk.start(ctx, "improvement")  # still open: not delivered
    out = tmp_path / "out"
    out.mkdir()
    seen = []
    views = archive_export.export_period(ctx, date(2026, 12, 1), date(2026, 12, 31), out, ADMIN, as_zip=True,
                                         progress=seen.append)
    assert sorted(v.case_number for v in views) == sorted([first.number, second.number]) == \
        sorted(v.case_number for v in seen)
    assert archive_export.export_period(ctx, date(2027, 1, 1), date(2027, 1, 31), out, ADMIN) == []
    for view in views:
        with zipfile.ZipFile(view.path) as archive:
            archive.extractall(tmp_path / "unzipped")
        assert check_package(tmp_path / "unzipped" / view.package) == []


def test_the_command_line_exports_with_progress(ctx, tmp_path) -> None:
    from iphs_flow.cli import cli

    walk = closed_case(ctx)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["archive", "export", walk.number, "--out", str(out)], obj=ctx)
    assert result.exit_code == 0, result.output
    package = next(out.iterdir())
    assert check_package(package) == []
    refused = CliRunner().invoke(cli, ["archive", "export", "--out", str(out)], obj=ctx)
    assert refused.exit_code == 2 and "name the cases" in refused.output
    period = CliRunner().invoke(cli, ["archive", "export", "--from", "2026-12-01", "--to", "2026-12-31",
                                      "--out", str(tmp_path / "p"), "--zip"], obj=ctx)
    assert period.exit_code == 0, period.output
    assert len(list((tmp_path / "p").glob("*.zip"))) == 1


def test_an_administrator_downloads_the_package_from_the_case_page(db_url, tmp_path) -> None:
    from iphs_flow.services import case_admin
    from tests.integration.api_world import actor, build_world, case_at_need
    from tests.integration.web_world import client_for, post_form

    context, app = build_world(db_url)
    try:
        running = case_at_need(context)
        closed = case_at_need(context, title="Bättre cykelparkering")
        case_admin.terminate_case(context, closed.id, actor(context, "adam"), "Dubblett av ett annat ärende")
        adam = client_for(app, "adam")
        assert "Leverera till e-arkivet" in adam.get(f"/admin/cases/{closed.id}").get_data(as_text=True)
        assert "Leverera till e-arkivet" not in adam.get(f"/admin/cases/{running.id}").get_data(as_text=True)

        response = post_form(adam, f"/admin/cases/{closed.id}/archive", {"pseudonymise": "1"})
        assert response.status_code == 200 and response.mimetype == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as archive:
            archive.extractall(tmp_path / "download")
        package = next((tmp_path / "download").iterdir())
        assert check_package(package) == []
        assert "Anna Andersson" not in package_text(package)

        refused = post_form(adam, f"/admin/cases/{running.id}/archive", {})
        assert refused.status_code == 409 and "Bara avslutade ärenden" in refused.get_data(as_text=True)
        lena = client_for(app, "lena")
        assert post_form(lena, f"/admin/cases/{closed.id}/archive", {}).status_code in (403, 404)
    finally:
        context.close()
