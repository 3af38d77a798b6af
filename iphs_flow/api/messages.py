"""/api/v1/messages and /api/v1/signals: BPMN messages and signals from other systems."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from iphs_flow.services import messages as message_service

from .common import ctx, idempotent, make_blueprint, require_login_actor
from .schemas import IdempotencyHeaders

bp = make_blueprint("api_messages", "Messages and signals: deliver BPMN events to waiting cases")


class MessageSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"description": "the BPMN message's name"})
    correlation = fields.Dict(keys=fields.String(), load_default=dict, metadata={
        "description": "keys the receiving case must match: `case_number` or top-level fields of its data"})
    payload = fields.Dict(load_default=dict, metadata={"description": "data the case receives"})


class MessageOutcomeSchema(ma.Schema):
    case_id = fields.Integer()
    case_number = fields.String()
    started = fields.Boolean(metadata={"description": "true: the message started a new case"})
    status = fields.String()


OUTCOME = MessageOutcomeSchema()  # what an idempotent delivery stores and replays


class SignalSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    payload = fields.Dict(load_default=dict)


class SignalOutcomeSchema(ma.Schema):
    name = fields.String()
    delivered = fields.Integer(metadata={"description": "how many waiting cases received it"})


@bp.route("/messages", methods=["POST"])
@bp.arguments(MessageSchema)
@bp.arguments(IdempotencyHeaders, location="headers")
@bp.response(200, MessageOutcomeSchema)
def deliver_message(body: dict[str, Any], headers: dict[str, Any]) -> Any:
    """Deliver a message to the one case waiting for it, or start a case at a message start event.

    404 when no case waits for it (and no process starts with it), 409 when several cases
    match the correlation keys. Innovation leads and administrators (an integration's API
    token) may send messages. Send an `Idempotency-Key` to make retries safe.
    """
    actor = require_login_actor()
    return idempotent(headers["idempotency_key"], 200, OUTCOME, lambda key:
                      message_service.deliver_message(ctx(), body["name"], body["correlation"], body["payload"],
                                                      actor, idempotency=key))


@bp.route("/signals", methods=["POST"])
@bp.arguments(SignalSchema)
@bp.response(200, SignalOutcomeSchema)
def send_signal(body: dict[str, Any]) -> Any:
    """Send a signal to every case waiting for it (each in its own transaction)."""
    return message_service.send_signal(ctx(), body["name"], body["payload"], require_login_actor())
