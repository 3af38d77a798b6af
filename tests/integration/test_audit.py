"""The audit view: who read or changed which case, searchable, paged and exportable."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest

from iphs_flow.engine import clock
from iphs_flow.services import attachments, audit, cases
from iphs_flow.services.errors import Forbidden, NotFound
from iphs_flow.services.queries import case_page as case_pages
from iphs_flow.services.queries import case_page as case_records
from tests.conftest import T0
from tests.integration.api_world import actor, build_world, case_at_need
from tests.people import ADMIN, ANNA, BERTIL, LEAD


@pytest.fixture
def world(db_url, tmp_path):
    context, app = build_world(db_url)
    clock.freeze(T0)
    yield context, app
    clock.reset()
    context.close()


def test_reads_and_changes_are_listed_newest_first_with_who_and_what(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    lena = actor(ctx, "lena")
    clock.advance(timedelta(minutes=1))
    case_pages.case_page(ctx, view.id, lena)
    clock.advance(timedelta(minutes=1))
    cases.get_case(ctx, view.number, actor(ctx, "anna"))
    clock.advance(timedelta(minutes=1))
    case_records.case_history(ctx, view.id, lena)
    page = audit.audit_trail(ctx, ADMIN, case_ref=view.number)
    assert [(r.username, r.kind, r.what) for r in page.rows][:3] == [
        ("lena", "read", "history"), ("anna", "read", "case"), ("lena", "read", "case")]
    assert page.rows[-1].kind == "change" and page.rows[-1].what == "case_started"
    assert [r.kind for r in audit.audit_trail(ctx, ADMIN, username="lena").rows] == ["read", "read"]
    assert {r.kind for r in audit.audit_trail(ctx, ADMIN, kind="change").rows} == {"change"}


def test_refused_reads_are_not_counted_as_reads(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    with pytest.raises(NotFound):
        cases.get_case(ctx, view.id, actor(ctx, "bertil"))
    assert audit.audit_trail(ctx, ADMIN, username="bertil").rows == []


def test_a_downloaded_file_is_a_read_of_its_case(world, tmp_path) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    made = attachments.add_attachment(ctx, view.number, "plan.txt", io.BytesIO(b"plan"), actor(ctx, "anna"))
    attachments.open_attachment(ctx, made.id, actor(ctx, "lena"))
    assert audit.audit_trail(ctx, ADMIN, username="lena").rows[0].what == f"attachment:{made.id}"


def test_pages_follow_each_other_without_gaps_or_repeats(world) -> None:
    ctx, _app = world
    view = case_at_need(ctx)
    lena = actor(ctx, "lena")
    for _ in range(7):
        case_pages.case_page(ctx, view.id, lena)  # same moment: the cursor breaks the ties
    everything = audit.audit_trail(ctx, ADMIN, limit=1000).rows
    seen, cursor = [], None
    while True:
        page = audit.audit_trail(ctx, ADMIN, limit=3, cursor=cursor)
        seen += page.rows
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert [(r.kind, r.row_id) for r in seen] == [(r.kind, r.row_id) for r in everything]


def test_the_period_filter_and_the_permissions(world) -> None:
    ctx, _app = world
    case_at_need(ctx)
    assert audit.audit_trail(ctx, ADMIN, start=date(2026, 3, 12), end=date(2026, 3, 12)).rows
    assert audit.audit_trail(ctx, ADMIN, start=date(2026, 3, 13)).rows == []
    for who in (ANNA, BERTIL, LEAD):
        with pytest.raises(Forbidden):
            audit.audit_trail(ctx, who)


def test_administrators_search_and_export_the_trail_in_the_web(world) -> None:
    from tests.integration.web_world import client_for

    ctx, app = world
    view = case_at_need(ctx)
    adam = client_for(app, "adam")
    page = adam.get(f"/admin/audit?case={view.number}").get_data(as_text=True)
    assert "case_started" in page and view.number in page
    assert adam.get("/admin/audit?from=igår").status_code == 422
    assert adam.get("/admin/audit?case=IPHS 1999/9999").status_code == 404
    exported = adam.get(f"/admin/audit.csv?case={view.number}")
    text = exported.get_data(as_text=True)
    assert exported.mimetype == "text/csv" and text.startswith("\ufefftid;person;typ;ärende;vad")
    assert "ändrat" in text and view.number in text
    assert client_for(app, "lena").get("/admin/audit").status_code in (403, 404)


def test_the_command_line_prints_and_exports(world) -> None:
    from click.testing import CliRunner

    from iphs_flow.cli import cli

    ctx, _app = world
    view = case_at_need(ctx)
    printed = CliRunner().invoke(cli, ["audit", "--case", view.number], obj=ctx)
    assert printed.exit_code == 0 and "case_started" in printed.output
    exported = CliRunner().invoke(cli, ["audit", "--csv"], obj=ctx)
    assert exported.exit_code == 0 and exported.output.startswith("tid;person")
    assert CliRunner().invoke(cli, ["audit", "--case", "nope"], obj=ctx).exit_code == 1
