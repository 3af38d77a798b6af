"""The portfolio page /portfolj: funnel, gates, lead times, outcomes, goals, budget and overdue work.

For innovation leads, administrators and managers (services/queries/portfolio.py decides,
and counts only the cases the reader may see). The filters are a plain GET form, each
chart a server-drawn SVG (web/portfolio_charts.py) with its data table beside it, and
every table can be downloaded as CSV or Excel with the same filters; no JavaScript.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, render_template, request
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.numbers import format_number
from iphs_flow.engine.vocabulary import STAGES
from iphs_flow.services import portfolio_export as export
from iphs_flow.services.errors import InvalidInput, NotFound
from iphs_flow.services.queries import portfolio as pf
from iphs_flow.services.queries.search import CASE_STATUSES
from iphs_flow.web.auth import current_actor, login_required, require_login_actor
from iphs_flow.web.portfolio_charts import Chart, bar_chart

bp = Blueprint("portfolio", __name__)

FILTER_MESSAGES = {
    "from": "Skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-12-01.",
    "to": "Skriv datumet som ÅÅÅÅ-MM-DD, och inte före startdatumet.",
    "period": "Välj ett av alternativen.", "status": "Välj ett av alternativen.",
    "goal": "Välj ett mål mellan 1 och 17.", "unit": "Enheten får vara högst 300 tecken.",
    "process": "Det finns ingen sådan process.",
}


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def stage_label(stage: Any) -> str:
    return _(STAGES[stage]) if stage in STAGES else (str(stage) if stage is not None else "–")


def outcome_label(outcome: Any) -> str:
    return _(pf.outcome_word(str(outcome)))


def label(column: pf.Column, value: Any) -> Any:
    """Words for the coded columns of an export, in the reader's language."""
    if column.kind == "stage":
        return stage_label(value)
    if column.kind == "outcome":
        return outcome_label(value)
    if column.kind == "term":
        return _(value) if value else value
    return value


def number(value: Any, kind: str = "int") -> str:
    """A cell as Swedes write it: 1 250 000 kr, 6,5, 33,3 %; a dash for nothing."""
    if value is None or value == "":
        return "–"
    if kind == "sek":
        return _("%(amount)s kr", amount=format_number(value))
    if kind == "percent":
        return format_number(value) + "\u00a0%"
    if kind in ("int", "days"):
        return format_number(value)
    if kind == "stage":
        return stage_label(value)
    if kind == "outcome":
        return outcome_label(value)
    if kind == "date":
        return value.isoformat()
    if kind == "term":
        return _(value)
    return str(value)


def _charts(p: pf.Portfolio) -> dict[str, Chart]:
    funnel = p.table("funnel")
    gates = p.table("gates")
    stage_times = p.table("stage_times")
    gate_times = p.table("gate_times")
    outcomes = p.table("outcomes")
    goals = p.table("goals")
    budget = p.table("budget")
    cases = lambda v: number(v)  # noqa: E731
    days = lambda v: _("%(n)s arbetsdagar", n=number(v, "days")) if v is not None else "–"  # noqa: E731
    kronor = lambda v: number(v, "sek")  # noqa: E731
    percent = lambda v: number(v, "percent")  # noqa: E731
    charts = {
        "funnel": bar_chart("funnel", _("Tratt: ärenden som nått varje steg"),
                            _("Stapeldiagram. Antal ärenden som gått in i varje steg, från behov till avslut."),
                            [stage_label(r[0]) for r in funnel.rows], [(_("Ärenden"), [r[1] for r in funnel.rows])],
                            cases),
        "gates": bar_chart("gates", _("Konvertering vid varje grind"),
                           _("Stapeldiagram. Andel av ärendena med beslut vid grinden som godkändes, i procent."),
                           [r[1] for r in gates.rows], [(_("Konvertering"), [r[8] for r in gates.rows])], percent),
        "stage_times": bar_chart(
            "stage_times", _("Tid i steg"),
            _("Stapeldiagram. Median och 90:e percentilen av arbetsdagar i varje steg; "
              "percentilen är den randiga stapeln."),
            [stage_label(r[0]) for r in stage_times.rows],
            [(_("Median"), [r[2] for r in stage_times.rows]),
             (_("90:e percentilen"), [r[3] for r in stage_times.rows])],
            days),
        "gate_times": bar_chart(
            "gate_times", _("Ledtid vid grindarna"),
            _("Stapeldiagram. Median och 90:e percentilen av arbetsdagar från att grindens uppgift öppnades "
              "till beslut; percentilen är den randiga stapeln."),
            [r[1] for r in gate_times.rows],
            [(_("Median"), [r[4] for r in gate_times.rows]), (_("90:e percentilen"), [r[5] for r in gate_times.rows])],
            days),
        "outcomes": bar_chart("outcomes", _("Utfall för avslutade ärenden"),
                              _("Stapeldiagram. Antal avslutade ärenden per utfall."),
                              [outcome_label(r[0]) for r in outcomes.rows],
                              [(_("Ärenden"), [r[1] for r in outcomes.rows])], cases),
        "goals": bar_chart("goals", _("Täckning av Agenda 2030-målen"),
                           _("Stapeldiagram. Antal ärenden som anger vart och ett av de 17 målen."),
                           [f"{r[0]}. {_(r[1])}" for r in goals.rows if r[0] != ""],
                           [(_("Ärenden"), [r[2] for r in goals.rows if r[0] != ""])], cases),
        "budget": bar_chart("budget", _("Begärd och beviljad budget"),
                            _("Stapeldiagram. Begärt och beviljat belopp i kronor per slag av budget; "
                              "beviljat är den randiga stapeln."),
                            [_(r[0]) for r in budget.rows],
                            [(_("Begärt"), [r[2] for r in budget.rows]), (_("Beviljat"), [r[4] for r in budget.rows])],
                            kronor),
    }
    return charts


def _filters() -> tuple[pf.Filters, dict[str, str]]:
    try:
        return pf.read_filters(request.args), {}
    except InvalidInput as err:
        return pf.Filters(), {name: _(FILTER_MESSAGES.get(name, "Kontrollera värdet.")) for name in err.fields}


@bp.get("/portfolj")
@login_required
def page() -> Any:
    actor = require_login_actor()
    filters, problems = _filters()
    try:
        portfolio = pf.read_portfolio(_ctx(), actor, filters, full=False) if not problems else None
    except InvalidInput as err:
        problems = {name: _(FILTER_MESSAGES.get(name, "Kontrollera värdet.")) for name in err.fields}
        portfolio = None
    if portfolio is None:  # show the form with its messages over the unfiltered portfolio
        portfolio = pf.read_portfolio(_ctx(), actor, pf.Filters(), full=False)
    raw = {k: request.args.get(k, "") for k in ("from", "to", "period", "unit", "process", "goal", "status")}
    return render_template("portfolio.html", p=portfolio, charts=_charts(portfolio), problems=problems, raw=raw,
                           query=filters.as_query() if not problems else {}, number=number,
                           stage_label=stage_label, outcome_label=outcome_label, statuses=CASE_STATUSES,
                           goals=pf.GOALS, page_rows=pf.PAGE_ROWS), 422 if problems else 200


def _download(table_key: str | None, extension: str) -> Response:
    actor = require_login_actor()
    filters = pf.read_filters(request.args)  # a bad filter is a 422 problem page
    portfolio = pf.read_portfolio(_ctx(), actor, filters)
    tables = [portfolio.table(table_key)] if table_key else list(portfolio.tables)
    if extension == "csv":
        body: Any = "\ufeff" + export.table_csv(tables[0], _, label)  # the BOM tells Excel it is UTF-8
        mimetype = "text/csv; charset=utf-8"
    else:
        body, mimetype = export.tables_xlsx(tables, _, label), export.XLSX_TYPE
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{export.file_name(table_key, extension)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/portfolj/<table>.<extension>")
@login_required
def download(table: str, extension: str) -> Response:
    if extension not in ("csv", "xlsx") or table not in pf.TABLE_KEYS:
        raise NotFound("there is no such download")
    return _download(table, extension)


@bp.get("/portfolj.xlsx")
@login_required
def download_all() -> Response:
    return _download(None, "xlsx")


def portfolio_allowed() -> bool:
    """For the navigation link: asked once per request."""
    if "iphs_portfolio_allowed" not in g:
        actor = current_actor()
        g.iphs_portfolio_allowed = bool(actor) and pf.may_read_portfolio(_ctx(), actor)
    return g.iphs_portfolio_allowed


def init_portfolio(app: Any) -> None:
    app.register_blueprint(bp)

    @app.context_processor
    def _portfolio_helpers() -> dict[str, Any]:
        return {"portfolio_allowed": portfolio_allowed}
