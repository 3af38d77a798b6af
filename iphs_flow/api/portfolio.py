"""/api/v1/portfolio: the portfolio (what /portfolj shows) as JSON, and each table as CSV or Excel.

The same filters as the page (from, to, period, unit, process, goal, status); a bad one is
a 422 problem with a message per field. Only innovation leads, administrators and managers
may read it (403 otherwise), and it counts only the cases the caller may see. Values are
codes, not words: stages as numbers, outcomes as their keys, amounts in whole kronor.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response
from marshmallow import fields, validate

from iphs_flow.services import portfolio_export as export
from iphs_flow.services.errors import NotFound
from iphs_flow.services.queries import portfolio as pf

from .common import ctx, make_blueprint, require_login_actor

bp = make_blueprint("api_portfolio", "Portfolio analytics: funnel, gates, lead times, outcomes, goals, budget")


class PortfolioQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    date_from = fields.String(data_key="from", load_default=None, validate=validate.Length(max=10),
                              metadata={"description": "ISO date (YYYY-MM-DD), first day of the period"})
    date_to = fields.String(data_key="to", load_default=None, validate=validate.Length(max=10),
                            metadata={"description": "ISO date, last day of the period"})
    period = fields.String(load_default=None, validate=validate.Length(max=20),
                           metadata={"description": "active (any time in the period, the default) or started"})
    unit = fields.String(load_default=None, validate=validate.Length(max=pf.MAX_TEXT))
    process = fields.String(load_default=None, validate=validate.Length(max=100))
    goal = fields.String(load_default=None, validate=validate.Length(max=3),
                         metadata={"description": "an Agenda 2030 goal, 1 to 17"})
    status = fields.String(load_default=None, validate=validate.Length(max=20))


class ColumnSchema(ma.Schema):
    key = fields.String()
    title = fields.String(metadata={"description": "the heading, in Swedish"})
    kind = fields.String(metadata={"description": "text, term, int, days, percent, sek, date, stage, outcome, goal"})


class TableSchema(ma.Schema):
    key = fields.String()
    title = fields.String()
    columns = fields.List(fields.Nested(ColumnSchema))
    rows = fields.List(fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True)))


class PortfolioSchema(ma.Schema):
    filters = fields.Dict(keys=fields.String(), values=fields.String())
    generated_at = fields.AwareDateTime()
    cases = fields.Integer(metadata={"description": "cases in the selection that you may see"})
    sees_all = fields.Boolean()
    units = fields.List(fields.String())
    processes = fields.List(fields.String())
    implemented = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
    tables = fields.Dict(keys=fields.String(), values=fields.Nested(TableSchema))


def _filters(query: dict[str, Any]) -> pf.Filters:
    raw = {"from": query["date_from"], "to": query["date_to"], "period": query["period"], "unit": query["unit"],
           "process": query["process"], "goal": query["goal"], "status": query["status"]}
    return pf.read_filters({k: v for k, v in raw.items() if v is not None})


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


@bp.route("/portfolio")
@bp.arguments(PortfolioQuery, location="query")
@bp.response(200, PortfolioSchema)
def portfolio(query: dict[str, Any]) -> Any:
    """Every table of the portfolio, for the cases in the selection that you may see."""
    p = pf.read_portfolio(ctx(), require_login_actor(), _filters(query))
    return {"filters": p.filters.as_query(), "generated_at": p.generated_at, "cases": p.cases,
            "sees_all": p.sees_all, "units": list(p.units), "processes": list(p.processes),
            "implemented": p.figures["implemented"],
            "tables": {t.key: {"key": t.key, "title": t.title, "columns": t.columns,
                               "rows": [{k: _iso(v) for k, v in r.items()} for r in t.records()]}
                       for t in p.tables}}


@bp.route("/portfolio/<string:table>.csv")
@bp.arguments(PortfolioQuery, location="query")
@bp.response(200, {"type": "string"}, content_type="text/csv", description="the table as CSV, a heading row first")
def table_csv(query: dict[str, Any], table: str) -> Response:
    """One table as CSV: headings are the column keys, values the codes (as in the JSON)."""
    found = _table(query, table)
    body = export.table_csv(pf.Table(found.key, found.title, tuple(
        pf.Column(c.key, c.key, c.kind) for c in found.columns), found.rows))
    return _file(body, "text/csv; charset=utf-8", export.file_name(table, "csv"))


@bp.route("/portfolio/<string:table>.xlsx")
@bp.arguments(PortfolioQuery, location="query")
@bp.response(200, {"type": "string", "format": "binary"}, content_type=export.XLSX_TYPE,
             description="the table as an Excel workbook")
def table_xlsx(query: dict[str, Any], table: str) -> Response:
    """One table as an Excel workbook (headings in Swedish)."""
    return _file(export.tables_xlsx([_table(query, table)]), export.XLSX_TYPE, export.file_name(table, "xlsx"))


def _table(query: dict[str, Any], table: str) -> pf.Table:
    if table not in pf.TABLE_KEYS:
        raise NotFound(f"there is no portfolio table {table}")
    return pf.read_portfolio(ctx(), require_login_actor(), _filters(query)).table(table)


def _file(body: Any, mimetype: str, name: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
