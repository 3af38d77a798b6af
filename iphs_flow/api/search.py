"""/api/v1/search, /api/v1/similar and duplicates: the same use cases as the /sok page."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from iphs_flow.services import duplicates
from iphs_flow.services.queries import search as queries
from iphs_flow.services.search_index import FIELDS

from .common import ctx, make_blueprint, require_login_actor
from .lessons import LessonSchema

bp = make_blueprint("api_search", "Search: cases by words, similar cases, duplicates")


class SearchQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    q = fields.String(required=True, validate=validate.Length(min=1, max=queries.MAX_QUERY_CHARS),
                      metadata={"description": "words; every word must match, in any of its Swedish or English forms"})
    status = fields.String(load_default=None, validate=validate.OneOf(queries.CASE_STATUSES))
    stage = fields.Integer(load_default=None, validate=validate.Range(min=0, max=1000))
    field = fields.String(load_default=None, validate=validate.OneOf(FIELDS),
                          metadata={"description": "only matches in this part of the case"})
    process = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=queries.MAX_LIMIT))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000))


class HitSchema(ma.Schema):
    case_id = fields.Integer()
    number = fields.String()
    title = fields.String()
    status = fields.String()
    stage = fields.Integer(allow_none=True)
    process_key = fields.String()
    field = fields.String(metadata={"description": "where the best match is"})
    snippet = fields.String(metadata={"description": "HTML: the case text escaped, the matches in <mark>"})
    score = fields.Float()


class FacetSchema(ma.Schema):
    value = fields.Raw(allow_none=True)
    count = fields.Integer(metadata={"description": "matching cases you may see"})


class SearchResultSchema(ma.Schema):
    query = fields.String()
    total = fields.Integer(metadata={"description": "matching cases you may see"})
    offset = fields.Integer()
    limit = fields.Integer()
    hits = fields.List(fields.Nested(HitSchema))
    facets = fields.Dict(keys=fields.String(), values=fields.List(fields.Nested(FacetSchema)))
    lesson_total = fields.Integer(metadata={"description": "matching lessons you may read (a hit kind of its own)"})
    lessons = fields.List(fields.Nested(LessonSchema), metadata={"description": "the best matching lessons"})


class SimilarQuery(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    text = fields.String(required=True, validate=validate.Length(min=1, max=queries.MAX_QUERY_CHARS),
                         metadata={"description": "a need as it is being described"})
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=queries.MAX_LIMIT))
    exclude = fields.Integer(load_default=None, metadata={"description": "a case id to leave out (the one described)"})


class SimilarSchema(ma.Schema):
    case_id = fields.Integer()
    number = fields.String()
    title = fields.String()
    status = fields.String()
    stage = fields.Integer(allow_none=True)
    outcome = fields.String(allow_none=True, metadata={"description": "the last decision: approved, rejected, ..."})
    lessons = fields.String(allow_none=True)
    snippet = fields.String(metadata={"description": "HTML: the need escaped, the matching words in <mark>"})
    score = fields.Float()


class DuplicateRequest(ma.Schema):
    original = fields.String(required=True, validate=validate.Length(min=1, max=40),
                             metadata={"description": "the earlier case, by id or number"})
    reason = fields.String(load_default="", validate=validate.Length(max=duplicates.MAX_REASON))


class CaseLinkSchema(ma.Schema):
    case_id = fields.Integer()
    number = fields.String()
    title = fields.String()
    status = fields.String()
    at = fields.AwareDateTime()
    by = fields.String()
    reason = fields.String()


class DuplicateLinksSchema(ma.Schema):
    duplicate_of = fields.List(fields.Nested(CaseLinkSchema))
    duplicates = fields.List(fields.Nested(CaseLinkSchema))


@bp.route("/search")
@bp.arguments(SearchQuery, location="query")
@bp.response(200, SearchResultSchema)
def search(query: dict[str, Any]) -> Any:
    """Cases whose title, need, concept, results, decisions or lessons hold every word, best first.

    Only cases you may see are found or counted. Facets count matching cases per status,
    stage and field.
    """
    found = queries.search(ctx(), query["q"], require_login_actor(), status=query["status"], stage=query["stage"],
                           field_=query["field"], process=query["process"], limit=query["limit"],
                           offset=query["offset"])
    return {"query": found.query, "total": found.total, "offset": found.offset, "limit": found.limit,
            "hits": found.hits, "lesson_total": found.lesson_total, "lessons": found.lessons,
            "facets": {name: [{"value": v, "count": n} for v, n in values] for name, values in found.facets.items()}}


@bp.route("/similar")
@bp.arguments(SimilarQuery, location="query")
@bp.response(200, SimilarSchema(many=True))
def similar(query: dict[str, Any]) -> Any:
    """The cases most like a need text, with their status, last decision and lessons (cases you may see)."""
    return queries.similar_cases(ctx(), query["text"], require_login_actor(), query["limit"],
                                 exclude_case_id=query["exclude"])


@bp.route("/cases/<path:case_ref>/duplicates")
@bp.response(200, DuplicateLinksSchema)
def duplicate_links(case_ref: str) -> Any:
    """Which cases this one duplicates, and which duplicate it (only those you may see)."""
    return duplicates.duplicate_links(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/duplicates", methods=["POST"])
@bp.arguments(DuplicateRequest)
@bp.response(201, DuplicateLinksSchema)
def mark_duplicate(body: dict[str, Any], case_ref: str) -> Any:
    """Mark this case a duplicate of an earlier one (the gate's decider, innovation leads, administrators).

    Recorded in both cases' history; 409 if it is already marked a duplicate of that case.
    """
    return duplicates.mark_duplicate(ctx(), case_ref, body["original"], require_login_actor(), body["reason"])
