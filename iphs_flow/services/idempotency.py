"""Idempotency keys for API writes: a retried request never starts two cases or completes twice.

A client that sends `Idempotency-Key` on POST /cases or POST /tasks/{id}/complete may
repeat the request as often as it likes (after a timeout, a dropped connection, a crash):
the first run is recorded, and every repeat gets the recorded response back instead of
running again. The key row is written in the *same* transaction as the case start or the
completion, as its first write, so:

* a crash can never leave a case started without its key (or a key without its case);
* two requests with the same key at the same moment cannot both run: the second one's
  INSERT waits on the unique index (PostgreSQL) or its whole write transaction waits
  (SQLite, BEGIN IMMEDIATE) and then fails, and it is answered from the first one's record.

Refusals (403/404/409/422) roll back with their transaction, so they are not recorded: a
retry after fixing the cause runs the request. Keys live 24 hours; the scheduler purges
expired ones, and an expired key is treated as new even before it is purged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import IdempotencyKey
from iphs_flow.store.unit_of_work import Transaction

from .errors import Conflict, InvalidInput

KEY_LIFETIME = timedelta(hours=24)
MAX_KEY_LENGTH = 200


class KeyInUse(Conflict):
    """Another request with the same key ran (or is running) in a concurrent transaction."""


@dataclass(frozen=True)
class IdempotentRequest:
    """Who sent which key for which request, and how the use case's result becomes the stored response.

    `respond` is given the use case's result inside its transaction and returns the
    response as it will be sent (status, JSON text), so the stored and the sent response
    are the same bytes.
    """

    username: str
    key: str
    fingerprint: str
    method: str
    path: str
    respond: Callable[[Any], tuple[int, str]]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: str
    fingerprint: str


def check_key(key: str) -> str:
    """A key is 1-200 visible ASCII characters (a UUID is the usual choice)."""
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(ch) <= 126 for ch in key):
        raise InvalidInput("the Idempotency-Key must be 1 to 200 visible ASCII characters, e.g. a UUID",
                           {"Idempotency-Key": ["1 to 200 visible ASCII characters"]})
    return key


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 of method, path and body; JSON bodies are compared by content, not by key order or spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), canonical):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def stored_response(ctx: AppContext, username: str, key: str) -> StoredResponse | None:
    """The recorded response for this person's key, if it has one and has not expired."""
    with ctx.uow.read() as tx:
        row = tx.idempotency.get(username, key)
        if row is None or row.status is None or row.body is None or row.expires_at <= now():
            return None
        return StoredResponse(row.status, row.body, row.fingerprint)


def claim(tx: Transaction, request: IdempotentRequest) -> IdempotencyKey:
    """Record the key as the transaction's first write; KeyInUse when a concurrent request has it."""
    at = now()
    try:
        return tx.idempotency.claim(request.username, request.key, request.fingerprint, request.method,
                                    request.path, at, at + KEY_LIFETIME)
    except IntegrityError:
        raise KeyInUse("a request with this Idempotency-Key was processed at the same time; "
                       "repeat it to get its response") from None


def settle(row: IdempotencyKey, request: IdempotentRequest, result: Any) -> None:
    """Store the response for `result` on the claimed key, in the same transaction."""
    row.status, row.body = request.respond(result)


def purge_expired(ctx: AppContext) -> int:
    """Delete keys older than their 24 hours (the scheduler calls this now and then)."""
    with ctx.uow.write() as tx:
        count = tx.idempotency.purge_expired(now())
        tx.commit()
    return count
