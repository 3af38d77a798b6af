"""The research export pages (issue 18.3): take an export, and the administrators' log of exports.

The export is written to a temporary folder row by row, then sent as a ZIP that is
built while it streams (zipstream-ng), so neither the database rows nor the archive are
ever held in memory; the folder is removed when the download ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import zipstream
from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.services import research_export as research
from iphs_flow.services.errors import InvalidInput
from iphs_flow.services.permissions import Actor
from iphs_flow.web.auth import login_required, require_login_actor

bp = Blueprint("research", __name__)
FILTER_FIELDS = ("period_from", "period_to", "process_key")


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _messages() -> dict[str, str]:
    return {"period_from": _("Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-01-31."),
            "period_to": _("Skriv datumet som ÅÅÅÅ-MM-DD; perioden ska sluta samma dag som den börjar eller senare."),
            "process_key": _("Välj en process i listan.")}


def _page(actor: Actor, *, status: int = 200, errors: dict[str, str] | None = None,
          form: dict[str, str] | None = None) -> tuple[str, int]:
    return render_template("research.html", exports=research.list_exports(_ctx(), actor),
                           processes=research.process_choices(_ctx(), actor), errors=errors or {},
                           form=form or {}, files=research.package.FILES), status


@bp.get("/forskning")
@login_required
def index() -> tuple[str, int]:
    actor = require_login_actor()
    research.require_exporter(actor)
    return _page(actor)


@bp.post("/forskning/export")
@login_required
def export() -> Any:
    actor = require_login_actor()
    research.require_exporter(actor)
    form = {name: (request.form.get(name) or "").strip() for name in FILTER_FIELDS}
    try:
        flt = research.parse_filter(_ctx(), form)
    except InvalidInput as err:
        messages = _messages()
        return _page(actor, status=422, form=form,
                     errors={name: messages.get(name, text[0]) for name, text in err.fields.items()})
    name = f"iphs-forskningsexport-{now().strftime('%Y-%m-%d-%H%M%S')}"
    folder = Path(tempfile.mkdtemp(prefix="iphs-research-"))
    try:  # the archive holds one folder named like the download, as an unzipped export should
        research.export_research(_ctx(), folder / name, flt, actor, channel="web")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    archive = zipstream.ZipStream.from_path(str(folder / name), compress_type=zipstream.ZIP_DEFLATED)

    def chunks() -> Iterator[bytes]:
        try:
            yield from archive
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return Response(stream_with_context(chunks()), mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}.zip"', "Cache-Control": "no-store"})


@bp.get("/admin/research-exports")
@login_required
def admin_list() -> str:
    actor = require_login_actor()
    return render_template("admin_research_exports.html",
                           exports=research.list_exports(_ctx(), actor, everyone=True))
