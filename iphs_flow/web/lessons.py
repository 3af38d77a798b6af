"""The lessons library at /lardomar: every lesson of the city, listed and searched with facets.

Every signed-in person reads it (that is its point). A lesson links to its case only for
those who may see the case. Innovation leads keep a lesson internal (with a reason) or
share it again from the lesson's page, with a plain POST form.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.vocabulary import OUTCOMES as DECISIONS
from iphs_flow.services import lessons as lesson_service
from iphs_flow.services.errors import Conflict, InvalidInput
from iphs_flow.services.permissions import ADMINISTRATOR, INNOVATION_LEAD
from iphs_flow.services.queries import lessons as queries
from iphs_flow.web.auth import login_required, require_login_actor
from iphs_flow.web.stage_names import stage_name

bp = Blueprint("lessons", __name__)

PAGE_SIZE = 20
GOALS = {
    1: "1. Ingen fattigdom", 2: "2. Ingen hunger", 3: "3. Hälsa och välbefinnande", 4: "4. God utbildning för alla",
    5: "5. Jämställdhet", 6: "6. Rent vatten och sanitet för alla", 7: "7. Hållbar energi för alla",
    8: "8. Anständiga arbetsvillkor och ekonomisk tillväxt", 9: "9. Hållbar industri, innovationer och infrastruktur",
    10: "10. Minskad ojämlikhet", 11: "11. Hållbara städer och samhällen", 12: "12. Hållbar konsumtion och produktion",
    13: "13. Bekämpa klimatförändringarna", 14: "14. Hav och marina resurser",
    15: "15. Ekosystem och biologisk mångfald", 16: "16. Fredliga och inkluderande samhällen",
    17: "17. Genomförande och globalt partnerskap",
}
SOURCES = {"evaluation": "Utvärdering", "closure": "Avslut", "rejection": "Avslag eller hänvisning",
           "stop": "Avslutat i förtid"}
OUTCOMES = {"implement": "Rekommendation: implementera", "iterate": "Rekommendation: testa vidare",
            "stop": "Rekommendation: avsluta", "evaluated": "Utvärderat", "completed": "Avslutat",
            "terminated": "Avslutat i förtid"}
FACET_TITLES = {"goal": "Agenda 2030-mål", "unit": "Enhet", "stage": "Steg som nåddes", "outcome": "Utfall",
                "year": "År", "source": "När lärdomen skrevs"}


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def goal_name(goal: int) -> str:
    return _(GOALS[goal]) if goal in GOALS else str(goal)


def source_name(source: str) -> str:
    return _(SOURCES[source]) if source in SOURCES else source


def outcome_name(outcome: str) -> str:
    if outcome in OUTCOMES:
        return _(OUTCOMES[outcome])

    return _(DECISIONS[outcome]) if outcome in DECISIONS else outcome


def _int(name: str, low: int, high: int) -> int | None:
    value = request.args.get(name, "").strip()
    return int(value) if value.isdigit() and len(value) < 6 and low <= int(value) <= high else None


def _text(name: str) -> str | None:
    value = request.args.get(name, "").strip()
    return value[:300] if value else None


@bp.get("/lardomar")
@login_required
def library() -> Any:
    actor = require_login_actor()
    q = request.args.get("q", "").strip()
    source = request.args.get("source") or None
    filters = queries.LessonFilters(goal=_int("goal", 1, 17), unit=_text("unit"), stage=_int("stage", 0, 1000),
                                    outcome=_text("outcome"), year=_int("year", 1900, 9999),
                                    source=source if source in SOURCES else None)
    page_no = max(1, _int("page", 1, 500) or 1)
    problem, code, found = None, 200, None
    try:
        found = queries.list_lessons(_ctx(), actor, q=q or None, filters=filters, limit=PAGE_SIZE,
                                     offset=(page_no - 1) * PAGE_SIZE)
    except InvalidInput as err:
        if "q" in err.fields and any("at most" in m for m in err.fields["q"]):
            problem, code = _("Sökningen är för lång (högst %(n)s tecken).", n=queries.MAX_QUERY_CHARS), 422
        else:
            problem = _("Skriv minst ett ord att söka efter.")
    base = {"q": q, "goal": filters.goal or "", "unit": filters.unit or "",
            "stage": filters.stage if filters.stage is not None else "", "outcome": filters.outcome or "",
            "year": filters.year or "", "source": filters.source or ""}
    chosen = {name: value for name, value in base.items() if name != "q" and value != ""}
    return render_template("lessons.html", q=q, found=found, problem=problem, base=base, chosen=chosen,
                           page=page_no, page_size=PAGE_SIZE, facet_titles=FACET_TITLES, **_helpers()), code


@bp.get("/lardomar/<int:lesson_id>")
@login_required
def lesson(lesson_id: int) -> Any:
    actor = require_login_actor()
    found = queries.get_lesson(_ctx(), lesson_id, actor)
    may_change = actor.has(INNOVATION_LEAD) or actor.has(ADMINISTRATOR)
    return render_template("lesson.html", lesson=found, may_change=may_change, problem=None, reason="",
                           **_helpers())


@bp.post("/lardomar/<int:lesson_id>/intern")
@login_required
def make_internal(lesson_id: int) -> Any:
    actor = require_login_actor()
    internal = request.form.get("internal") == "1"
    reason = (request.form.get("reason") or "").strip()
    try:
        lesson_service.set_internal(_ctx(), lesson_id, internal, reason, actor)
    except InvalidInput as err:
        found = queries.get_lesson(_ctx(), lesson_id, actor)
        message = _("Ange ett skäl.") if "required" in str(err.fields.get("reason")) \
            else _("Skriv högst %(n)s tecken.", n=lesson_service.MAX_REASON)
        return render_template("lesson.html", lesson=found, may_change=True, problem=message,
                               reason=reason[:lesson_service.MAX_REASON], **_helpers()), 422
    except Conflict:
        flash(_("Lärdomen var redan ändrad. Sidan visar hur den är nu."), "error")
        return redirect(url_for("lessons.lesson", lesson_id=lesson_id))
    flash(_("Lärdomen är nu intern: bara de som får se ärendet läser den.") if internal
          else _("Lärdomen läses nu av alla i staden."))
    return redirect(url_for("lessons.lesson", lesson_id=lesson_id))


def _helpers() -> dict[str, Any]:
    return {"goal_name": goal_name, "source_name": source_name, "outcome_name": outcome_name,
            "stage_name": stage_name}


def init_lessons(app: Any) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _lesson_helpers() -> dict[str, Any]:
        return {"goal_name": goal_name, "source_name": source_name, "outcome_name": outcome_name}
