"""One pooled database connection per request.

A request checks who is asking (a token or a session), reads, maybe runs an engine step
and writes: without this, each of those transactions checks out a connection of its own
(and, after a pause, the pool's ping round trip each time). Here the whole request runs inside
`UnitOfWork.one_connection()`, so they share one connection, taken when first needed and
given back when the request is answered. Transactions stay as separate as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask


def init_one_connection(app: Flask) -> None:
    """Wrap the WSGI app so every request holds at most one pooled connection."""
    uow = app.extensions["iphs"].uow
    inner = app.wsgi_app

    def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with uow.one_connection():
            return inner(environ, start_response)

    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
