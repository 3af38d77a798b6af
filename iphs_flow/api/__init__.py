"""The REST API under /api/v1 (flask-smorest + marshmallow), with RFC 9457 problem details.

The API calls the same use cases as the web pages, so permissions, validation and
conflicts are decided once, in the service layer. Errors are `application/problem+json`:
ServiceError subclasses map to 404/403/409/422 (`errors` carries the field messages of a
422); bad JSON or a body that breaks its schema is a 422 too, never a 500.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from iphs_flow.services.errors import ServiceError

PREFIX = "/api/v1"
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, errors: dict[str, Any] | None = None,
            headers: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = PROBLEM
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
           422: "Unprocessable Content"}


def _flatten(messages: Any) -> dict[str, list[str]]:
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


def service_problem(err: ServiceError) -> Response:
    """A refused use case as problem details; refusals (403) go to the access log."""
    from iphs_flow.web.auth import note_refusal

    note_refusal(err)
    fields = getattr(err, "fields", None)
    return problem(err.status, _TITLES.get(err.status, "Error"), err.message, fields or None)


def html_error(error: HTTPException) -> Any:
    """Pages get the site's own error page in the reader's language, not Werkzeug's English one."""
    from flask import render_template
    from flask_babel import gettext as _

    messages = {
        404: _("Sidan finns inte. Kontrollera adressen eller gå tillbaka till översikten."),
        405: _("Sidan kan inte användas på det sättet."),
        413: _("Det du skickade är för stort."),
        429: _("För många försök på kort tid. Vänta en stund och försök igen."),
    }
    code = error.code or 500
    message = messages.get(code, _("Begäran kunde inte behandlas."))
    response = Response(render_template("error.html", message=message), status=code, mimetype="text/html")
    if code == 429 and error.response is None:
        retry_after = getattr(error, "retry_after", None)
        if retry_after:
            response.headers["Retry-After"] = str(int(retry_after))
    return response


class ProblemApi(Api):
    """flask-smorest with problem+json errors on /api/; other paths keep their HTML errors."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        if error.response is not None:
            return error.response
        if not request.path.startswith("/api/"):
            return html_error(error)
        data = getattr(error, "data", None) or {}
        code = error.code or 500
        errors = data.get("errors") or data.get("messages")
        detail = data.get("message") or error.description or error.name
        if errors and code in (400, 422):
            code, detail = 422, "the request body or parameters are not valid"
        return problem(code, _TITLES.get(code, error.name), str(detail), _flatten(errors) if errors else None,
                       data.get("headers"))


def init_api(app: Flask) -> ProblemApi:
    app.config.setdefault("API_TITLE", "IPHS Flow")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = ProblemApi(app)
    from .resources import blueprints

    for blueprint in blueprints():
        api.register_blueprint(blueprint)
    app.extensions["iphs_api"] = api
    return api
