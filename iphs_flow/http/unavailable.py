"""When the database cannot be reached: 503 with Retry-After, logged once per outage.

Any request that meets a dropped or refused database connection gets a 503 — a
problem+json for `/api/`, a page for people — with `Retry-After`, so well-behaved
clients retry instead of giving up. The first such failure is logged as an error; the
rest of the outage is quiet until a request succeeds again, which is logged once too.
`/healthz` says the process lives; `/readyz` says whether it can do its work.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask, Response, current_app, g, jsonify, render_template, request
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from iphs_flow.services.errors import Unavailable
from iphs_flow.services.readiness import readiness

log = logging.getLogger("iphs_flow.database")

DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)


class OutageLog:
    """One log line when an outage starts and one when it ends, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.down = False

    def failed(self, err: BaseException) -> None:
        with self._lock:
            if self.down:
                return
            self.down = True
        log.error("database unavailable, answering 503 until it is back: %s", str(err).splitlines()[0][:300])

    def succeeded(self) -> None:
        if not self.down:
            return
        with self._lock:
            if not self.down:
                return
            self.down = False
        log.warning("database reachable again")


def _outages() -> OutageLog:
    return current_app.extensions["iphs_outage"]


def note_outage(err: BaseException) -> None:
    """For code that catches a database failure itself (the bearer check) before answering 503."""
    _outages().failed(err)


def _retry_after() -> str:
    return str(current_app.extensions["iphs"].settings.retry_after_seconds)


def unavailable_response(detail: str) -> Response:
    if request.path.startswith("/api/"):
        response = jsonify({"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": detail})
        response.mimetype = "application/problem+json"
    else:
        g.iphs_signed_in = None  # the page header must not ask the database who this is
        response = Response(render_template("unavailable.html", current_user=lambda: None), mimetype="text/html")
    response.status_code = 503
    response.headers["Retry-After"] = _retry_after()
    response.headers["Cache-Control"] = "no-store"
    return response


def _database_down(err: BaseException) -> Response:
    note_outage(err)
    return unavailable_response("the database is unavailable; try again in a moment")


def _service_unavailable(err: Unavailable) -> Response:
    return unavailable_response(err.message)


def init_unavailable(app: Flask) -> None:
    app.extensions["iphs_outage"] = OutageLog()
    for error in DATABASE_DOWN:
        app.register_error_handler(error, _database_down)
    app.register_error_handler(Unavailable, _service_unavailable)

    @app.after_request
    def _back(response: Response) -> Response:
        if response.status_code < 500:
            _outages().succeeded()
        return response

    @app.get("/readyz")
    def ready() -> Any:
        result = readiness(app.extensions["iphs"])
        body = {"status": "ready" if result.ready else "not ready",
                "checks": {c.name: {"ok": c.ok, "detail": c.detail} for c in result.checks}}
        response = jsonify(body)
        response.status_code = 200 if result.ready else 503
        if not result.ready:
            response.headers["Retry-After"] = _retry_after()
        response.headers["Cache-Control"] = "no-store"
        return response
