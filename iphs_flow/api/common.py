"""What every /api/v1 resource module shares: signed-in guard, problem responses, ETags, idempotency."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import marshmallow as ma
from flask import Response, current_app, request
from flask_smorest import Blueprint as SmorestBlueprint
from werkzeug.exceptions import HTTPException

from iphs_flow.bootstrap import AppContext
from iphs_flow.http.context import app_context
from iphs_flow.http.errors import service_problem
from iphs_flow.http.identity import current_actor, require_login_actor, unauthenticated
from iphs_flow.http.problems import problem
from iphs_flow.services import idempotency
from iphs_flow.services.errors import Conflict, InvalidInput, ServiceError

PREFIX = "/api/v1"
JSON = "application/json"
MAX_ID = 2**63 - 1
# Ids in paths: positive and within BIGINT, so a huge number is a 404 from routing, not a database overflow.
ID = f"int(min=1, max={MAX_ID})"


def _signed_in_only() -> Any:
    if current_actor() is None:
        return unauthenticated()
    return None


def _too_large(error: HTTPException) -> Response:
    limit = ctx().settings.attachment_max_bytes
    return problem(413, "Content Too Large", f"the request is larger than allowed ({limit // (1024 * 1024)} MB "
                                              "for a file)")


class Blueprint(SmorestBlueprint):
    """flask-smorest's blueprint, except that a schema class given to `arguments` is made once.

    webargs makes a schema class anew for every request it parses (a deep copy of every
    field, each time); one instance, made when the route is declared, parses every request
    the same way (marshmallow 4 schemas keep no state between loads).
    """

    def arguments(self, schema: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)


def make_blueprint(name: str, description: str, url_prefix: str = PREFIX) -> Blueprint:
    """A smorest blueprint whose every request needs a signed-in person and whose refusals are problem+json."""
    blueprint = Blueprint(name, __name__, url_prefix=url_prefix, description=description)
    blueprint.before_request(_signed_in_only)
    blueprint.register_error_handler(ServiceError, service_problem)
    blueprint.register_error_handler(413, _too_large)
    return blueprint


def ctx() -> AppContext:
    return app_context()


# ---------------------------------------------------------------- versions as ETags

_TAG = re.compile(r'^\s*(?:W/)?"v?(\d{1,9})"\s*$')

ETAG_HEADER = {"ETag": {"description": "the case version, quoted (\"v7\"); send it back as If-Match",
                        "schema": {"type": "string"}}}


def etag(version: int) -> str:
    """The case version as an entity tag; it changes whenever the case row changes."""
    return f'"v{version}"'


def with_etag(body: Any, version: int) -> tuple[Any, int, dict[str, str]]:
    return body, 200, {"ETag": etag(version), "Cache-Control": "private, no-cache"}


def expected_version(if_match: str | None, body_version: int | None) -> int | None:
    """The case version a write expects, from If-Match or the body's `version` (both: they must agree)."""
    if if_match is None or if_match.strip() == "*":
        return body_version
    found = _TAG.match(if_match)
    if found is None:
        raise InvalidInput('If-Match must be one ETag from this API, like "v7"', {"If-Match": ["not an ETag"]})
    version = int(found.group(1))
    if body_version is not None and body_version != version:
        raise Conflict("the case changed since you read it (If-Match and version name different versions)")
    return version


# ---------------------------------------------------------------- idempotent writes


def _replay(stored: idempotency.StoredResponse, fingerprint: str) -> Response:
    if stored.fingerprint != fingerprint:
        raise InvalidInput("this Idempotency-Key was used for a different request; use a new key for a new request",
                           {"Idempotency-Key": ["already used for a different request"]})
    response = Response(stored.body, status=stored.status, mimetype=JSON)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def idempotent(key: str | None, status: int, schema: ma.Schema,
               run: Callable[[idempotency.IdempotentRequest | None], Any]) -> Any:
    """Run a write once per Idempotency-Key: the first time for real, every repeat from the record.

    Without a key the use case just runs. With one, the response is rendered inside the
    use case's transaction (so the stored and the sent bytes are the same) and a repeat
    with the same key and body gets it back with `Idempotent-Replayed: true`; the same key
    with another body is refused (422).
    """
    if key is None:
        return run(None)
    actor = require_login_actor()
    idempotency.check_key(key)
    fingerprint = idempotency.fingerprint(request.method, request.path, request.get_data(cache=True))
    stored = idempotency.stored_response(ctx(), actor.username, key)
    if stored is not None:
        return _replay(stored, fingerprint)
    sent: dict[str, tuple[int, str]] = {}

    def respond(result: Any) -> tuple[int, str]:
        sent["response"] = (status, current_app.json.dumps(schema.dump(result)))
        return sent["response"]

    claim = idempotency.IdempotentRequest(actor.username, key, fingerprint, request.method, request.path, respond)
    try:
        run(claim)
    except idempotency.KeyInUse:
        stored = idempotency.stored_response(ctx(), actor.username, key)
        if stored is None:
            raise
        return _replay(stored, fingerprint)
    code, text = sent["response"]
    return Response(text, status=code, mimetype=JSON)


__all__ = ["PREFIX", "ctx", "make_blueprint", "etag", "with_etag", "expected_version", "idempotent", "ETAG_HEADER",
           "require_login_actor", "problem"]
