"""RFC 9457 problem details: the one place an `application/problem+json` body is written."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from iphs_flow.services.errors import ServiceError

PROBLEM = "application/problem+json"

TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          409: "Conflict", 413: "Content Too Large", 422: "Unprocessable Content", 429: "Too Many Requests",
          503: "Service Unavailable"}


def problem(status: int, title: str | None, detail: str, errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """A problem response; `errors` maps a field path to its messages (a 422's field errors)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title or TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def service_problem_response(err: ServiceError) -> Response:
    """A refused use case as problem details (a 422 carries its field messages)."""
    fields = getattr(err, "fields", None)
    return problem(err.status, None, err.message, fields or None)


def field_messages(messages: Any) -> dict[str, list[str]]:
    """webargs nests messages by location ({"json": {"data": [...]}}); clients want field -> messages."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}/{key}".strip("/") if prefix else str(key), inner)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out.setdefault(prefix or "(body)", []).extend(value)
        else:
            out.setdefault(prefix or "(body)", []).append(str(value))

    if isinstance(messages, dict) and set(messages) <= {"json", "form", "files", "query", "headers", "view_args"}:
        for inner in messages.values():
            walk("", inner)
    else:
        walk("", messages)
    return out
