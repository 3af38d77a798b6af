"""/api/v1/cases: start, list (filters, cursor pages), read, history, gate decisions, comments, files."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import request, send_file

from iphs_flow.services import attachments, comments
from iphs_flow.services import cases as case_service
from iphs_flow.services.queries import case_lists, case_page

from .common import ETAG_HEADER, ID, ctx, idempotent, make_blueprint, require_login_actor, with_etag
from .schemas import (
    AttachmentSchema,
    CaseDetailSchema,
    CaseListQuery,
    CasePageSchema,
    CaseSchema,
    CommentSchema,
    EventSchema,
    GateDecisionSchema,
    IdempotencyHeaders,
    NewCommentSchema,
    StartCaseSchema,
    UploadSchema,
)

bp = make_blueprint("api_cases", "Cases: start, find, read, discuss, attach files")

LINK_HEADER = {"Link": {"description": '`<url>; rel="next"` while there are more pages',
                        "schema": {"type": "string"}}}

CASE = CaseSchema()  # what an idempotent write stores and replays, made once


@bp.route("/cases", methods=["POST"])
@bp.arguments(StartCaseSchema)
@bp.arguments(IdempotencyHeaders, location="headers")
@bp.response(201, CaseSchema)
def start_case(body: dict[str, Any], headers: dict[str, Any]) -> Any:
    """Start a case of the newest version of a process (any idea owner).

    Send an `Idempotency-Key` to make retries safe: the same key and body never start a
    second case, they replay the first response.
    """
    actor = require_login_actor()
    return idempotent(headers["idempotency_key"], 201, CASE, lambda key: case_service.start_case(
        ctx(), body["process"], body["data"], actor, title=body["title"], idempotency=key))


@bp.route("/cases")
@bp.arguments(CaseListQuery, location="query")
@bp.response(200, CasePageSchema, headers=LINK_HEADER)
def list_cases(query: dict[str, Any]) -> Any:
    """Your own cases, newest first; every case for innovation leads and administrators.

    One page at a time: follow `next_cursor` (or the `Link: rel="next"` header) until it is null.
    """
    page = case_lists.search_cases(ctx(), require_login_actor(), status=query["status"], stage=query["stage"],
                                     process=query["process"], owner=query["owner"], q=query["q"],
                                     updated_since=query["updated_since"], cursor=query["cursor"],
                                     limit=query["limit"])
    headers = {}
    if page.next_cursor:
        args = {k: v for k, v in request.args.items() if k != "cursor"}
        args["cursor"] = page.next_cursor
        headers["Link"] = f'<{request.base_url}?{urlencode(args)}>; rel="next"'
    return {"items": page.items, "next_cursor": page.next_cursor}, 200, headers


@bp.route("/cases/<path:case_ref>")
@bp.response(200, CaseDetailSchema, headers=ETAG_HEADER)
def get_case(case_ref: str) -> Any:
    """One case with its stage, data and history; 404 for a case you may not see, as for one that does not exist.

    The ETag is the case version: send it as If-Match when completing one of its tasks.
    """
    detail = case_service.get_case(ctx(), case_ref, require_login_actor())
    return with_etag(detail, detail.case.version)


@bp.route("/cases/<path:case_ref>/history")
@bp.response(200, EventSchema(many=True))
def history(case_ref: str) -> Any:
    """What happened in the case, oldest first: who did what, when, with which data."""
    return case_page.case_history(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/decisions")
@bp.response(200, GateDecisionSchema(many=True))
def decisions(case_ref: str) -> Any:
    """The case's gate decisions, oldest first: outcome, reason, who decided and when."""
    return case_page.gate_decisions(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/comments")
@bp.response(200, CommentSchema(many=True))
def list_comments(case_ref: str) -> Any:
    """The conversation on a case, oldest first."""
    return comments.list_comments(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/comments", methods=["POST"])
@bp.arguments(NewCommentSchema)
@bp.response(201, CommentSchema)
def add_comment(body: dict[str, Any], case_ref: str) -> Any:
    """Comment on a case you may see."""
    return comments.add_comment(ctx(), case_ref, body["body"], require_login_actor())


@bp.route("/cases/<path:case_ref>/attachments")
@bp.response(200, AttachmentSchema(many=True))
def list_attachments(case_ref: str) -> Any:
    """The files attached to a case."""
    return attachments.list_attachments(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/attachments", methods=["POST"])
@bp.arguments(UploadSchema, location="files")
@bp.response(201, AttachmentSchema)
def add_attachment(files: dict[str, Any], case_ref: str) -> Any:
    """Attach a file (multipart/form-data, field `file`); its content must match its extension."""
    upload = files["file"]
    return attachments.add_attachment(ctx(), case_ref, upload.filename or "", upload.stream, require_login_actor())


@bp.route(f"/attachments/<{ID}:attachment_id>")
@bp.response(200, {"type": "string", "format": "binary"}, content_type="application/octet-stream",
             description="the file, as a download")
def download(attachment_id: int) -> Any:
    """Download an attachment (only for those who may see its case; 404 otherwise)."""
    view, path = attachments.open_attachment(ctx(), attachment_id, require_login_actor())
    # absolute: Flask resolves a relative path against the package, not the working directory
    response = send_file(path.absolute(), mimetype=view.content_type, as_attachment=True, download_name=view.filename,
                         max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
