"""The error handlers, once for the whole app: an HTML page for people, problem+json for the API.

What the page says is the web's business (web/error_pages.py, in the reader's language);
which of the two a caller gets, and what a refusal writes to the access log, is decided
here, so a refused use case, a CSRF failure, a rate limit or an unknown address is
answered the same way whichever blueprint the request reached.
"""

from __future__ import annotations

from typing import Any, Protocol

from flask import Flask, Response, current_app, request, session
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from iphs_flow.services import accounts
from iphs_flow.services.errors import ServiceError

from .bearer import too_many
from .context import app_context, is_api_request, remote_addr
from .identity import note_refusal
from .problems import TITLES, field_messages, problem, service_problem_response


class ErrorPages(Protocol):
    """What the web app shows people when something is refused (web/error_pages.py)."""

    def http_error(self, error: HTTPException) -> Response: ...

    def refused(self, status: int, detail: str) -> Response: ...

    def csrf_failed(self) -> Response: ...

    def too_many(self) -> Response: ...


def _pages() -> ErrorPages:
    return current_app.extensions["iphs_error_pages"]


def service_problem(err: ServiceError) -> Response:
    """A refused use case as problem details; refusals (403) go to the access log."""
    note_refusal(err)
    return service_problem_response(err)


def http_problem(error: HTTPException) -> Response:
    """An HTTP error as problem details; a body or parameters that break their schema is a 422."""
    data = getattr(error, "data", None) or {}
    code = error.code or 500
    errors = data.get("errors") or data.get("messages")
    detail = data.get("message") or error.description or error.name
    if errors and code in (400, 422):
        code, detail = 422, "the request body or parameters are not valid"
    return problem(code, TITLES.get(code, error.name), str(detail), field_messages(errors) if errors else None,
                   data.get("headers"))


def http_error(error: HTTPException) -> Any:
    if error.response is not None:
        return error.response
    if is_api_request():
        return http_problem(error)
    return _pages().http_error(error)


def note_rate_limited(err: Any) -> None:
    """A page's rate limit (the login limits) reached: one access-log row with the name tried."""
    accounts.log_access(app_context(), "login_rate_limited", (request.form.get("username") or "")[:200] or None,
                        {"limit": str(getattr(err, "description", ""))}, remote_addr())


def _service_error(err: ServiceError) -> Any:
    if is_api_request():
        return service_problem(err)
    note_refusal(err)
    return _pages().refused(err.status, err.message)


def _csrf_refused(err: CSRFError) -> Any:
    accounts.log_access(app_context(), "csrf_refused", session.get("user"),
                        {"path": request.path[:300], "reason": err.description}, remote_addr())
    if is_api_request():
        return problem(400, None, f"CSRF check failed: {err.description}")
    return _pages().csrf_failed()


def _too_many(err: Any) -> Any:
    if is_api_request():
        return too_many(err)  # the shared API limit: a problem with Retry-After, no access-log row per call
    note_rate_limited(err)
    return _pages().too_many()


def init_errors(app: Flask, pages: ErrorPages) -> None:
    app.extensions["iphs_error_pages"] = pages
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(429, _too_many)
    app.register_error_handler(HTTPException, http_error)
