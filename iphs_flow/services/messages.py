"""Messages and signals from outside and between cases.

A message goes to exactly one case: the one waiting for a message of that name whose
values (its case number and top-level data, kept in the subscription index on every
save) equal the message's correlation keys. None waiting: a process that starts with
that message starts a case; neither: NotFound. Several matching: Conflict (add a
correlation key). A signal goes to every case waiting for it.

Each delivery is one engine step (in a worker, no transaction open) stored in one
transaction with the case, its inbox, history and the client's Idempotency-Key.

A message or signal one case throws for others is an outbox job, and a job can run twice
(its scheduler crashed after the delivery committed but before the job was marked done).
So each delivery of a thrown event records a receipt (an idempotency key of the engine,
one per job and receiving case) in the same transaction as the receiving case's step: a
second run finds the receipt and delivers nothing. Exactly once, as far as cases can tell.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.engine.errors import ScriptError, TaskNotReady
from iphs_flow.engine.models import start_events
from iphs_flow.store.tables import Case, MessageWait, Outbox

from .case_sync import ENGINE, STEP_ATTEMPTS, apply_step, engine_ref
from .cases import case_number
from .errors import Conflict, InvalidInput, NotFound
from .idempotency import IdempotentRequest
from .idempotency import claim as idempotency_claim
from .idempotency import settle as idempotency_settle
from .permissions import ADMINISTRATOR, INNOVATION_LEAD, Actor, require_role

MAX_PAYLOAD_BYTES = 256 * 1024
RECEIPT_LIFETIME = timedelta(days=400)  # longer than any job waits or retries


class _AlreadyDelivered(Exception):
    """The receipt of this thrown event is recorded: an earlier run of the job delivered it."""


def receipt_key(job_key: str, case_id: int | None = None) -> str:
    """The receipt of one thrown event (an outbox job) at one case (None: wherever it went)."""
    return hashlib.sha256(f"{job_key}\0{'' if case_id is None else case_id}".encode()).hexdigest()


def _received(ctx: AppContext, key: str) -> bool:
    with ctx.uow.read() as tx:
        row = tx.idempotency.get(ENGINE, key)
        return row is not None and row.expires_at > now()


def _record_receipt(tx: Any, key: str | None) -> None:
    """The receipt as the transaction's first write; a concurrent run of the same job loses here."""
    if key is None:
        return
    at = now()
    try:
        row = tx.idempotency.claim(ENGINE, key, key, "EVENT", "bpmn_event", at, at + RECEIPT_LIFETIME)
    except IntegrityError:
        tx.session.rollback()
        raise _AlreadyDelivered from None
    row.status, row.body = 200, "{}"


@dataclass(frozen=True)
class MessageOutcome:
    case_id: int
    case_number: str
    started: bool  # True: a case was started at a message start event
    status: str


@dataclass(frozen=True)
class SignalOutcome:
    name: str
    delivered: int
    started: int


def _check(name: Any, correlation: Any, payload: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    fields: dict[str, list[str]] = {}
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        fields["name"] = ["a message name of 1–200 characters"]
    if not isinstance(correlation, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in correlation.values()):
        fields["correlation"] = ["an object of keys to plain values (text, number, true/false)"]
    if not isinstance(payload, dict):
        fields["payload"] = ["must be a JSON object"]
    elif len(json.dumps(payload, ensure_ascii=False, default=str).encode()) > MAX_PAYLOAD_BYTES:
        fields["payload"] = ["too large"]
    if fields:
        raise InvalidInput("the message needs attention", fields)
    return name.strip(), correlation, payload


def _matches(row: MessageWait, correlation: dict[str, Any]) -> bool:
    values = row.correlation or {}
    return all(key in values and values[key] == value for key, value in correlation.items())


def _may_send(actor: Actor) -> None:
    if not actor.has(INNOVATION_LEAD):
        require_role(actor, ADMINISTRATOR, "send messages to cases")


def deliver_message(ctx: AppContext, name: Any, correlation: Any, payload: Any, actor: Actor,
                    idempotency: IdempotentRequest | None = None, *, check_actor: bool = True,
                    receipt: str | None = None) -> MessageOutcome:
    """Deliver a message to the one case waiting for it, or start a case with it.

    `receipt` (a thrown event's `receipt_key`) is recorded with the delivery; raises
    _AlreadyDelivered when it was recorded before.
    """
    if check_actor:
        _may_send(actor)
    name, correlation, payload = _check(name, correlation or {}, payload or {})
    for _attempt in range(STEP_ATTEMPTS):
        with ctx.uow.read() as tx:
            rows = tx.session.scalars(select(MessageWait).where(
                MessageWait.kind == "message", MessageWait.name == name)).all()
            matching = sorted({r.case_id for r in rows if _matches(r, correlation)})
            if len(matching) > 1:
                raise Conflict(f"{len(matching)} cases wait for the message '{name}' with these correlation keys; "
                               "add a key that tells them apart (case_number, or a field of the case)")
            if matching:
                case = tx.cases.get(matching[0])
                case_id, seen_version = case.id, case.version
                ref, state = engine_ref(case.process_version), case.state
            else:
                starters = [v for v in tx.processes.latest_versions()
                            if ("message", name) in start_events(v.files, v.process_key)]
                if not starters or correlation:
                    raise NotFound(f"no case waits for the message '{name}'"
                                   + (" with these correlation keys" if correlation else "")
                                   + ("" if starters or correlation else ", and no process starts with it"))
                if len(starters) > 1:
                    raise Conflict(f"{len(starters)} processes start with the message '{name}'")
                version_id, ref = starters[0].id, engine_ref(starters[0])
        if matching:
            try:
                result = ctx.engine.deliver(ref, state, "message", name, payload, ctx.settings.script_time_limit)
            except TaskNotReady:
                continue  # it stopped waiting meanwhile: look again
            outcome = _store_delivery(ctx, case_id, seen_version, result, name, payload, actor, idempotency,
                                      receipt)
            if outcome is not None:
                return outcome
            continue
        try:
            result = ctx.engine.start_by(ref, "message", name, payload, ctx.settings.script_time_limit)
        except (TaskNotReady, ScriptError) as err:
            raise InvalidInput(str(err), {"payload": [str(err)]}) from None
        return _store_start(ctx, version_id, result, name, payload, actor, idempotency, receipt)
    raise Conflict("the case kept changing while the message was delivered; send it again")


def _store_delivery(ctx: AppContext, case_id: int, seen_version: int, result: Any, name: str,
                    payload: dict[str, Any], actor: Actor, idempotency: IdempotentRequest | None,
                    receipt: str | None = None) -> MessageOutcome | None:
    try:
        with ctx.uow.write() as tx:
            _record_receipt(tx, receipt)
            key_row = idempotency_claim(tx, idempotency) if idempotency else None
            case = tx.cases.get(case_id)
            if case is None or case.version != seen_version:
                tx.session.rollback()
                return None
            tx.events.add(case.id, actor.username, "message_received", data={"name": name, "payload": payload})
            apply_step(tx, case, result, ctx.settings.lane_groups, actor.username)
            tx.flush()
            outcome = MessageOutcome(case.id, case.number, False, case.status)
            if key_row is not None and idempotency is not None:
                idempotency_settle(key_row, idempotency, outcome)
            tx.commit()
            return outcome
    except StaleDataError:
        return None


def _store_start(ctx: AppContext, version_id: int, result: Any, name: str, payload: dict[str, Any],
                 actor: Actor, idempotency: IdempotentRequest | None, receipt: str | None = None) -> MessageOutcome:
    with ctx.uow.write() as tx:
        _record_receipt(tx, receipt)
        key_row = idempotency_claim(tx, idempotency) if idempotency else None
        version = tx.processes.get(version_id)
        year = now().year
        seq = tx.cases.next_number(ctx.settings.case_number_format, year)
        title = (str(payload.get("title") or "") or version.name).strip()[:300]
        case = tx.cases.add(Case(
            number=case_number(ctx.settings.case_number_format, year, seq), title=title,
            process_version_id=version.id, process_key=version.process_key, status="running",
            owner=actor.username, state="{}", stage=None, created_at=now(), updated_at=now(),
        ))
        tx.events.add(case.id, actor.username, "case_started",
                      data={"process": version.process_key, "version": version.version, "message": name,
                            "data": payload})
        apply_step(tx, case, result, ctx.settings.lane_groups, actor.username)
        tx.flush()
        outcome = MessageOutcome(case.id, case.number, True, case.status)
        if key_row is not None and idempotency is not None:
            idempotency_settle(key_row, idempotency, outcome)
        tx.commit()
    return outcome


def send_signal(ctx: AppContext, name: Any, payload: Any, actor: Actor, *, check_actor: bool = True,
                job_key: str | None = None) -> SignalOutcome:
    """Deliver a signal to every case waiting for it, each in its own transaction.

    `job_key` (a thrown signal's outbox job): each receiving case's receipt is recorded
    with its step, and a case whose receipt exists is skipped (it was delivered before).
    """
    if check_actor:
        _may_send(actor)
    name, _, payload = _check(name, {}, payload or {})
    with ctx.uow.read() as tx:
        case_ids = sorted(set(tx.session.scalars(select(MessageWait.case_id).where(
            MessageWait.kind == "signal", MessageWait.name == name)).all()))
    delivered = 0
    for case_id in case_ids:
        receipt = receipt_key(job_key, case_id) if job_key is not None else None
        if receipt is not None and _received(ctx, receipt):
            continue
        for _attempt in range(STEP_ATTEMPTS):
            with ctx.uow.read() as tx:
                case = tx.cases.get(case_id)
                if case is None or case.status != "running":
                    break
                seen_version, ref, state = case.version, engine_ref(case.process_version), case.state
            try:
                result = ctx.engine.deliver(ref, state, "signal", name, payload, ctx.settings.script_time_limit)
            except TaskNotReady:
                break
            try:
                stored = _store_delivery(ctx, case_id, seen_version, result, name, payload, actor, None, receipt)
            except _AlreadyDelivered:
                break
            if stored is not None:
                delivered += 1
                break
    return SignalOutcome(name, delivered, 0)


def run_thrown_event(ctx: AppContext, job: Outbox) -> str:
    """A message or signal thrown by a case (an outbox job): deliver it as if it came from outside.

    The thrown payload (the throw event's spiffworkflow:messagePayload) correlates on its
    `case_number` and on the keys of its `correlation` object, if it has them. A message
    nobody waits for fails the job, which is retried and then shown to administrators.
    """
    payload = job.payload or {}
    actor = Actor(ENGINE, frozenset())
    kind, name, data = payload.get("kind"), payload.get("name"), dict(payload.get("payload") or {})
    if kind == "signal":
        send_signal(ctx, name, data, actor, check_actor=False, job_key=job.idempotency_key)
        return "done"
    receipt = receipt_key(job.idempotency_key)
    if _received(ctx, receipt):
        return "done"  # an earlier run delivered it and stopped before the job was marked done
    correlation = dict(data.pop("correlation", None) or {})
    if "case_number" in data:
        correlation["case_number"] = data.pop("case_number")
    with contextlib.suppress(_AlreadyDelivered):  # a concurrent run of the same job delivered it
        deliver_message(ctx, name, correlation, data, actor, check_actor=False, receipt=receipt)
    return "done"
