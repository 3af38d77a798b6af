"""Request bodies are checked before any view reads them (issue 14).

Every write's body is limited to `IPHS_MAX_BODY_BYTES` (uploads, multipart, have the
attachment limit instead), and a JSON body must be safe JSON (services/json_safety):
nesting at most `IPHS_JSON_MAX_DEPTH` deep, integers of at most 30 digits, no NaN or
Infinity, no lone surrogates. Either, like JSON that does not parse, is a 422 that says
why and where, as problem+json for the API and as JSON for the designer's scripts.
Nothing is stored, because no view ran.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from iphs_flow.services import json_safety

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


def _refuse(err: json_safety.UnsafeJson) -> Any:
    status = 422  # the API's contract: a body it cannot take, broken JSON included, is a 422
    if request.path.startswith("/api/"):
        body: dict[str, Any] = {"type": "about:blank", "title": "Unprocessable Content", "status": status,
                                "detail": err.message, "errors": err.fields}
        response = jsonify(body)
        response.mimetype = "application/problem+json"
    else:
        response = jsonify({"status": status, "detail": err.message, "fields": err.fields})
    response.status_code = status
    return response


def guard_body() -> Any:
    if request.method not in WRITES:
        return None
    settings = current_app.extensions["iphs"].settings
    if request.mimetype != "multipart/form-data":
        request.max_content_length = settings.max_body_bytes  # werkzeug answers 413 past it, also when chunked
    if not _is_json(request.mimetype):
        return None
    try:
        body = request.get_data(cache=True)
    except RequestEntityTooLarge:
        if not request.path.startswith("/api/"):
            raise  # the site's own 413 page
        response = jsonify({"type": "about:blank", "title": "Content Too Large", "status": 413,
                            "detail": f"the body is larger than {settings.max_body_bytes // 1024} kB"})
        response.mimetype = "application/problem+json"
        response.status_code = 413
        return response
    if not body.strip():
        return None
    try:
        json_safety.loads(body, max_depth=settings.json_max_depth)
    except json_safety.UnsafeJson as err:
        return _refuse(err)
    return None


def init_body_guard(app: Flask) -> None:
    app.before_request(guard_body)
