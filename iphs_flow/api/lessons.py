"""/api/v1/lessons: the lessons library (what /lardomar shows), for every signed-in caller."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from iphs_flow.services import lessons as lesson_service
from iphs_flow.services.queries import lessons as queries

from .common import ctx, make_blueprint, require_login_actor

bp = make_blueprint("api_lessons", "Lessons learned: the city's lessons library")


class LessonsQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    q = fields.String(load_default=None, validate=validate.Length(min=1, max=queries.MAX_QUERY_CHARS),
                      metadata={"description": "words; every word must match, in any of its Swedish or English forms"})
    goal = fields.Integer(load_default=None, validate=validate.Range(min=1, max=17),
                          metadata={"description": "an Agenda 2030 goal, 1-17"})
    unit = fields.String(load_default=None, validate=validate.Length(min=1, max=300))
    stage = fields.Integer(load_default=None, validate=validate.Range(min=0, max=1000),
                           metadata={"description": "the stage the case had reached"})
    outcome = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    year = fields.Integer(load_default=None, validate=validate.Range(min=1900, max=9999))
    source = fields.String(load_default=None, validate=validate.OneOf(lesson_service.SOURCES))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=queries.MAX_LIMIT))
    cursor = fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                           metadata={"description": "the next_cursor of the page before"})


class LessonSchema(ma.Schema):
    id = fields.Integer()
    source = fields.String(metadata={"description": "evaluation, closure, rejection or stop"})
    round = fields.Integer()
    stage = fields.Integer(allow_none=True, metadata={"description": "the stage the case had reached"})
    outcome = fields.String()
    unit = fields.String(allow_none=True)
    goals = fields.List(fields.Integer(), metadata={"description": "Agenda 2030 goals"})
    year = fields.Integer()
    worked = fields.String(allow_none=True, metadata={"description": "what worked"})
    not_worked = fields.String(allow_none=True, metadata={"description": "what did not work"})
    reusable = fields.String(allow_none=True, metadata={"description": "what others can reuse"})
    at = fields.AwareDateTime()
    internal = fields.Boolean()
    internal_reason = fields.String(allow_none=True)
    case_id = fields.Integer(allow_none=True, metadata={"description": "null when you may not see the case"})
    case_number = fields.String(allow_none=True)
    case_title = fields.String(allow_none=True)
    withheld = fields.Boolean(metadata={"description": "a part is marked secret and left out"})
    snippet = fields.String(allow_none=True, metadata={"description": "HTML: the text escaped, matches in <mark>"})
    score = fields.Float(allow_none=True)


class LessonFacetSchema(ma.Schema):
    value = fields.Raw(allow_none=True)
    count = fields.Integer()


class LessonPageSchema(ma.Schema):
    query = fields.String(allow_none=True)
    total = fields.Integer(metadata={"description": "lessons you may read that match"})
    items = fields.List(fields.Nested(LessonSchema))
    next_cursor = fields.String(allow_none=True)
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(LessonFacetSchema)))


class InternalRequest(ma.Schema):
    internal = fields.Boolean(required=True)
    reason = fields.String(load_default="", validate=validate.Length(max=lesson_service.MAX_REASON))


class InternalSchema(ma.Schema):
    internal = fields.Boolean()


@bp.route("/lessons")
@bp.arguments(LessonsQuery, location="query")
@bp.response(200, LessonPageSchema)
def list_lessons(query: dict[str, Any]) -> Any:
    """Lessons you may read, newest first (or best first for `q`), with facet counts.

    City-wide lessons are read by every signed-in caller; internal ones only by those who
    may see the case. The case's id, number and title are given only to those who may see it.
    """
    filters = queries.LessonFilters(goal=query["goal"], unit=query["unit"], stage=query["stage"],
                                    outcome=query["outcome"], year=query["year"], source=query["source"])
    page = queries.list_lessons(ctx(), require_login_actor(), q=query["q"], filters=filters,
                                limit=query["limit"], cursor=query["cursor"])
    return {"query": page.query, "total": page.total, "items": page.items, "next_cursor": page.next_cursor,
            "facets": {name: [{"value": v, "count": n} for v, n in values] for name, values in page.facets.items()}}


@bp.route("/lessons/<int:lesson_id>")
@bp.response(200, LessonSchema)
def get_lesson(lesson_id: int) -> Any:
    """One lesson (404 if it does not exist or is internal to a case you may not see)."""
    return queries.get_lesson(ctx(), lesson_id, require_login_actor())


@bp.route("/lessons/<int:lesson_id>/internal", methods=["POST"])
@bp.arguments(InternalRequest)
@bp.response(200, InternalSchema)
def set_internal(body: dict[str, Any], lesson_id: int) -> Any:
    """Keep a lesson internal (a reason is required) or share it city-wide again (innovation leads).

    Recorded in the case's history; 409 if the lesson already is so.
    """
    return {"internal": lesson_service.set_internal(ctx(), lesson_id, body["internal"], body["reason"],
                                                    require_login_actor())}
