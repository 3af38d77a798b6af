"""Administrators' page for one case: where it stands, and suspend, resume, terminate, retry.

The page is the instance viewer (the diagram with completed, active and failed steps
marked, and the same as a table: step, state, when, who) plus the operations of
`services.case_admin` and `services.cases.retry_incident`. Every operation is a plain
POST form with a CSRF token, so it works without JavaScript; a refusal (wrong state,
missing reason, someone else changed the case) re-renders the page with the message
and the status that fits it, and changes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.services import archive_export, case_admin
from iphs_flow.services import cases as case_service
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.lessons import LESSON_KEYS
from iphs_flow.services.permissions import ADMINISTRATOR, Actor, require_role
from iphs_flow.services.queries import case_page
from iphs_flow.web.auth import login_required, require_login_actor
from iphs_flow.web.pages import vendor_available
from iphs_flow.web.stage_names import stage_name

bp = Blueprint("case_admin", __name__)

MAX_REASON = 2000


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def _admin() -> Actor:
    actor = require_login_actor()
    require_role(actor, ADMINISTRATOR, "administer cases")
    return actor


def _page(case_id: int, actor: Actor, *, status: int = 200, problem: str | None = None,
          field_errors: dict[str, str] | None = None, reasons: dict[str, str] | None = None) -> tuple[str, int]:
    page = case_page.case_page(_ctx(), case_id, actor)
    picture = case_page.diagram(_ctx(), case_id, actor)
    return render_template("case_admin.html", page=page, c=page.detail.case, diagram=picture,
                           viewer=vendor_available() and bool(picture.xml), problem=problem,
                           field_errors=field_errors or {}, reasons=reasons or {}, stage_name=stage_name,
                           at=now(),
                           archive_pseudonymise=page.detail.case.process_key in _ctx().settings.archive_pseudonymise
                           ), status


@bp.get("/admin/cases/<int:case_id>")
@login_required
def case(case_id: int) -> tuple[str, int]:
    return _page(case_id, _admin())


def _reason(name: str = "reason") -> str:
    return (request.form.get(name) or "").strip()


def _operate(case_id: int, action: str, run: Any, done: str) -> Any:
    """Run one operation; on refusal show the page again with why, keeping what was typed."""
    actor = _admin()
    reason = _reason()
    reasons = {action: reason}
    if len(reason) > MAX_REASON:
        message = _("Skriv högst %(n)s tecken.", n=MAX_REASON)
        return _page(case_id, actor, status=422, problem=message, field_errors={action: message}, reasons=reasons)
    try:
        view = run(actor, reason)
    except InvalidInput:
        message = _("Ange ett skäl.")
        return _page(case_id, actor, status=422, problem=message, field_errors={action: message}, reasons=reasons)
    except Conflict as err:
        return _page(case_id, actor, status=409, problem=_conflict_message(action, err), reasons=reasons)
    flash(done % {"number": view.number})
    return redirect(url_for("case_admin.case", case_id=case_id))


def _conflict_message(action: str, err: Conflict) -> str:
    if "at the same time" in err.message:
        return _("Ärendet ändrades av någon annan samtidigt. Ladda om sidan och försök igen.")
    return {
        "suspend": _("Ärendet kan bara pausas medan det pågår."),
        "resume": _("Ärendet kan bara återupptas när det är pausat."),
        "terminate": _("Ärendet är redan avslutat."),
        "retry": _("Ärendet har inget fel att försöka igen med."),
    }[action]


@bp.post("/admin/cases/<int:case_id>/suspend")
@login_required
def suspend(case_id: int) -> Any:
    return _operate(case_id, "suspend",
                    lambda actor, reason: case_admin.suspend_case(_ctx(), case_id, actor, reason),
                    _("Ärendet %(number)s är pausat."))


@bp.post("/admin/cases/<int:case_id>/resume")
@login_required
def resume(case_id: int) -> Any:
    return _operate(case_id, "resume", lambda actor, _reason: case_admin.resume_case(_ctx(), case_id, actor),
                    _("Ärendet %(number)s är återupptaget."))


@bp.post("/admin/cases/<int:case_id>/terminate")
@login_required
def terminate(case_id: int) -> Any:
    return _operate(case_id, "terminate",
                    lambda actor, reason: case_admin.terminate_case(
                        _ctx(), case_id, actor, reason,
                        {key: _reason(key) for key in LESSON_KEYS if _reason(key)} or None),
                    _("Ärendet %(number)s är avslutat i förtid."))


@bp.post("/admin/cases/<int:case_id>/retry")
@login_required
def retry(case_id: int) -> Any:
    def run(actor: Actor, _reason: str) -> Any:
        view = case_service.retry_incident(_ctx(), case_id, actor)
        if view.status == "incident":
            flash(_("Steget misslyckades igen: %(why)s", why=view.incident or ""), "error")
        return view

    return _operate(case_id, "retry", run, _("Nytt försök gjort för %(number)s."))


@bp.post("/admin/cases/<int:case_id>/archive")
@login_required
def archive(case_id: int) -> Any:
    """The case's e-archive package as a ZIP download, built in a folder of its own and removed after."""
    actor = _admin()
    work = Path(tempfile.mkdtemp(prefix="iphs-archive-"))
    try:
        view = archive_export.export_case(_ctx(), case_id, work, actor,
                                          pseudonymise=request.form.get("pseudonymise") == "1", as_zip=True)
    except Conflict as err:
        shutil.rmtree(work, ignore_errors=True)
        message = (_("Bara avslutade ärenden kan levereras till e-arkivet.") if "not closed" in err.message
                   else _("Leveranspaketet kunde inte skapas: %(why)s", why=err.message))
        return _page(case_id, actor, status=409, problem=message)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    response = send_file(view.path, mimetype="application/zip", as_attachment=True,
                         download_name=view.path.name, max_age=0)
    response.call_on_close(lambda: shutil.rmtree(work, ignore_errors=True))
    return response
