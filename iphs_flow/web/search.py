"""Search pages: /sok across cases, similar cases beside a need or a G1 decision, duplicates.

All of it works without JavaScript: the search page is a GET form, the need form has a
"Sök liknande ärenden" button that re-renders the form with the list and keeps what was
typed, and marking a duplicate is a POST form. static/similar.js only refreshes the list
while someone types (progressive enhancement, no inline script).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import duplicates
from iphs_flow.services.errors import Conflict, InvalidInput, NotFound
from iphs_flow.services.permissions import Actor
from iphs_flow.services.queries import search as queries
from iphs_flow.services.search_index import FIELDS
from iphs_flow.web.auth import current_actor, login_required, require_login_actor
from iphs_flow.web.stage_names import stage_name

bp = Blueprint("search", __name__)

PAGE_SIZE = 20
NEED_FORMS = ("need", "improvement_suggestion")  # forms where a need is described
NEED_FIELDS = ("title", "need", "problem", "suggestion", "current_situation", "target_group")
FIELD_NAMES = {"title": "Rubrik", "need": "Behov", "understand": "Förstå behovet", "concept": "Idé och koncept",
               "pilot": "Pilot", "results": "Resultat", "decisions": "Beslut", "lessons": "Lärdomar",
               "other": "Övrigt"}


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def field_name(field: str) -> str:
    return _(FIELD_NAMES[field]) if field in FIELD_NAMES else field


def _int(name: str) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() and len(value) < 6 else None


@bp.get("/sok")
@login_required
def search_page() -> Any:
    actor = require_login_actor()
    q = request.args.get("q", "").strip()
    status = request.args.get("status") or None
    field = request.args.get("field") or None
    stage = _int("stage")
    page = max(1, _int("page") or 1)
    results, problem, code = None, None, 200
    if q:
        try:
            results = queries.search(_ctx(), q, actor, status=status, stage=stage, field_=field, limit=PAGE_SIZE,
                                     offset=(page - 1) * PAGE_SIZE)
        except InvalidInput as err:
            problem = _search_problem(err)
            code = 422 if len(q) > queries.MAX_QUERY_CHARS or status or field else 200

    return render_template("search.html", q=q, stage_name=stage_name, results=results, problem=problem,
                           status=status, stage=stage, field=field, page=page, page_size=PAGE_SIZE, fields=FIELDS,
                           field_name=field_name, statuses=queries.CASE_STATUSES), code


def _search_problem(err: InvalidInput) -> str:
    if "q" in err.fields:
        if any("at most" in m for m in err.fields["q"]):
            return _("Sökningen är för lång (högst %(n)s tecken).", n=queries.MAX_QUERY_CHARS)
        return _("Skriv minst ett ord att söka efter.")
    return _("Filtret känns inte igen. Välj ett av alternativen.")


# ------------------------------------------------------------------ similar cases


def similar_panel(page: Any, values: dict[str, Any], asked: bool) -> dict[str, Any] | None:
    """What the task page shows about similar cases, or None for tasks where it does not belong.

    The need form: after "Sök liknande ärenden" (or with text already typed), cases like
    the text. The G1 decision: cases like this case's need, with a button per case to mark
    this one its duplicate.
    """
    actor = current_actor()
    if actor is None or page.task.form_key is None:
        return None
    key = page.task.form_key
    if key in NEED_FORMS:
        text = _need_text(values)
        items = queries.similar_cases(_ctx(), text, actor, 5, exclude_case_id=page.case.id) if text else []
        return {"kind": "need", "items": items, "asked": asked or bool(text), "case_id": page.case.id,
                "text": text}
    if key == "gate_g1":
        items = queries.similar_to_case(_ctx(), page.case.id, actor, 5)
        links = duplicates.duplicate_links(_ctx(), page.case.id, actor)
        return {"kind": "gate", "items": items, "asked": True, "case_id": page.case.id, "links": links,
                "may_mark": page.may_work}
    return None


def _need_text(values: dict[str, Any]) -> str:
    parts = [str(values.get(name) or "") for name in NEED_FIELDS]
    return " ".join(p for p in parts if p.strip())[:queries.MAX_QUERY_CHARS]


@bp.get("/sok/liknande")
@login_required
def similar_fragment() -> Any:
    """The similar-cases list alone, for static/similar.js to refresh while a need is typed."""
    actor: Actor = require_login_actor()
    text = request.args.get("text", "")[:queries.MAX_QUERY_CHARS]
    case_id = _int("case")
    items = queries.similar_cases(_ctx(), text, actor, 5, exclude_case_id=case_id) if text.strip() else []
    return render_template("_similar_list.html", similar={"kind": "need", "items": items, "asked": True,
                                                          "case_id": case_id, "text": text})


# ------------------------------------------------------------------ duplicates


@bp.post("/cases/<int:case_id>/duplicate")
@login_required
def mark_duplicate(case_id: int) -> Any:
    actor = require_login_actor()
    original = request.form.get("original", "").strip()
    back = request.form.get("next", "")
    if not back.startswith("/") or back.startswith("//") or "\\" in back:
        back = url_for("pages.case", case_id=case_id)
    try:
        links = duplicates.mark_duplicate(_ctx(), case_id, original, actor, request.form.get("reason", ""))
    except InvalidInput:
        flash(_("Ärendet kunde inte markeras som dubblett: välj ett annat ärende som du har behörighet till."),
              "error")
        return redirect(back)
    except Conflict:
        flash(_("Ärendet är redan markerat som dubblett av det ärendet."), "error")
        return redirect(back)
    number = links.duplicate_of[-1].number if links.duplicate_of else original
    flash(_("Ärendet är markerat som dubblett av %(number)s. Båda ärendena länkar nu till varandra.", number=number))
    return redirect(back)


def duplicate_links_for(case_id: int) -> duplicates.DuplicateLinks | None:
    """For case.html: the duplicate links the signed-in person may see."""
    actor = current_actor()
    if actor is None:
        return None
    try:
        return duplicates.duplicate_links(_ctx(), case_id, actor)
    except NotFound:
        return None


def init_search(app: Any) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _search_helpers() -> dict[str, Any]:
        return {"duplicate_links_for": duplicate_links_for, "search_field_name": field_name}
