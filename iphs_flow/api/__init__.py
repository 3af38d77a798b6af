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
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from iphs_flow.services.errors import ServiceError
from iphs_flow.web.error_pages import html_error

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


class ProblemApi(Api):
    """flask-smorest with problem+json errors on /api/; other paths keep their HTML errors."""

    def _register_responses(self) -> None:
        """Document every error response as what it is: problem+json (the OpenAPI default is plain JSON)."""
        import http

        from flask_smorest.utils import prepare_response

        from .schemas import ProblemSchema

        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 200 and status not in (204, 304):
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A refusal or an error, as RFC 9457 problem details", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

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


def _nul_in(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) holding a NUL character, if any."""
    if isinstance(value, str):
        return (path or "(body)") if "\x00" in value else None
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}/{key}".strip("/")
            if isinstance(key, str) and "\x00" in key:
                return where
            found = _nul_in(inner, where)
            if found:
                return found
    if isinstance(value, list):
        for index, inner in enumerate(value):
            found = _nul_in(inner, f"{path}/{index}".strip("/"))
            if found:
                return found
    return None


def refuse_nul_characters() -> Response | None:
    """A NUL character in a path, query or JSON string is refused up front (422).

    PostgreSQL cannot store or even compare text containing NUL, so such input would
    otherwise fail deep inside a query as a 500; no real text needs it.
    """
    if not request.path.startswith(f"{PREFIX}/"):
        return None
    where = None
    if "\x00" in request.path:
        where = "(path)"
    else:
        for name, value in request.args.items(multi=True):
            if "\x00" in name or "\x00" in value:
                where = name.replace("\x00", "") or "(query)"
                break
    if where is None and request.is_json:
        where = _nul_in(request.get_json(silent=True))
    if where is None:
        return None
    return problem(422, _TITLES[422], "text must not contain NUL characters (\\u0000)",
                   {where: ["contains a NUL character"]})


class BoundedIntegerConverter(IntegerConverter):
    """Werkzeug's int converter with a default maximum of the largest BIGINT id."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = 2**63 - 1, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


def init_api(app: Flask) -> ProblemApi:
    app.config.setdefault("API_TITLE", "IPHS Flow")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", PREFIX)
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    # `<int:...>` in every route registered from here on stays within BIGINT: a huge number
    # in a path is an unknown id (404), never a database overflow (500).
    app.url_map.converters["int"] = BoundedIntegerConverter
    api = ProblemApi(app)
    api.register_converter(BoundedIntegerConverter, integerconverter2paramschema)
    app.before_request(refuse_nul_characters)
    from .resources import blueprints

    for blueprint in blueprints():
        api.register_blueprint(blueprint)
    from .docs import bp as docs_blueprint

    app.register_blueprint(docs_blueprint)
    from iphs_flow.web.bearer import limit_api

    from .tokens import blueprint as tokens_blueprint

    api.register_blueprint(tokens_blueprint)
    api.spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer",
        "description": "a personal API token (iphs_…) or a JWT from the city's identity provider; "
                       "a browser session cookie works too, with X-CSRFToken on writes"})
    limit_api(app)  # every /api/ blueprint above (and the OpenAPI document) shares IPHS_API_RATE
    app.extensions["iphs_api"] = api
    return api
