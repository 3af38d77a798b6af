"""flask-smorest as this API uses it: errors documented and sent as problem+json, ids within
BIGINT, NUL characters refused before they reach the database."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from iphs_flow.http.errors import http_error
from iphs_flow.http.problems import PROBLEM, TITLES, problem

from .common import PREFIX
from .schemas import ProblemSchema


class ProblemApi(Api):
    """flask-smorest with problem+json errors on /api/; other paths keep their HTML errors."""

    def _register_responses(self) -> None:
        """Document every error response as what it is: problem+json (the OpenAPI default is plain JSON)."""
        for status in HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 200 and status not in (204, 304):
                response["schema"] = ProblemSchema
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A refusal or an error, as RFC 9457 problem details", "schema": ProblemSchema}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)

    def handle_http_exception(self, error: HTTPException) -> Any:
        """flask-smorest registers this for every HTTP error of the app: answer as the HTTP layer does."""
        return http_error(error)


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
    return problem(422, TITLES[422], "text must not contain NUL characters (\\u0000)",
                   {where: ["contains a NUL character"]})


class BoundedIntegerConverter(IntegerConverter):
    """Werkzeug's int converter with a default maximum of the largest BIGINT id."""

    def __init__(self, map: Any, fixed_digits: int = 0, min: int | None = None,  # noqa: A002 - werkzeug's names
                 max: int | None = 2**63 - 1, signed: bool = False) -> None:  # noqa: A002
        super().__init__(map, fixed_digits, min, max, signed)


