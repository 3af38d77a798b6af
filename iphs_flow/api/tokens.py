"""/api/v1/tokens: personal API tokens, listed, created and revoked over the API.

Creating a token needs a signed-in browser session (with its CSRF token), never another
token: a leaked token must not be able to mint successors that outlive its revocation.
Listing works with any credentials; revoking with a session or a token with the write
scope (so an integration can retire its own token).
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g, request
from marshmallow import fields, validate

from iphs_flow.http.context import app_context, remote_addr
from iphs_flow.http.errors import service_problem
from iphs_flow.http.identity import current_actor, require_login_actor, unauthenticated
from iphs_flow.services import api_tokens
from iphs_flow.services.errors import Forbidden, ServiceError

from .common import PREFIX, Blueprint

blueprint = Blueprint("api_tokens", __name__, url_prefix=PREFIX,
                      description="Personal API tokens: `Authorization: Bearer iphs_...`")


class TokenSchema(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    name = fields.String()
    prefix = fields.String(metadata={"description": "the token's public start, to tell tokens apart"})
    scopes = fields.List(fields.String())
    state = fields.String(metadata={"description": "active, expired or revoked"})
    created_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    last_used_at = fields.AwareDateTime(allow_none=True, metadata={"description": "to the minute"})
    revoked_at = fields.AwareDateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(metadata={"description": "the secret token; shown this once, never again"})


class CreateTokenSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=api_tokens.MAX_NAME))
    scopes = fields.List(fields.String(validate=validate.OneOf(api_tokens.SCOPES)), load_default=lambda: ["read"],
                         validate=validate.Length(min=1),
                         metadata={"description": "read, or read and write (write is needed for every non-GET)"})
    expires_in_days = fields.Integer(load_default=None, allow_none=True, strict=True,
                                     validate=validate.Range(min=1, max=api_tokens.MAX_EXPIRY_DAYS))


class TokenListQuery(ma.Schema):
    user = fields.String(load_default=None, metadata={"description": "another person's tokens (administrators)"})


@blueprint.before_request
def _signed_in_only() -> Any:
    if current_actor() is None:
        return unauthenticated()
    return None


blueprint.register_error_handler(ServiceError, service_problem)


def _as_dict(info: api_tokens.TokenInfo) -> dict[str, Any]:
    return {"id": info.id, "username": info.username, "name": info.name, "prefix": info.prefix,
            "scopes": list(info.scopes), "state": info.state, "created_at": info.created_at,
            "expires_at": info.expires_at, "last_used_at": info.last_used_at, "revoked_at": info.revoked_at}


@blueprint.route("/tokens")
@blueprint.arguments(TokenListQuery, location="query")
@blueprint.response(200, TokenSchema(many=True))
def list_tokens(query: dict[str, Any]) -> Any:
    """Your tokens, newest first (never their secrets)."""
    return [_as_dict(t) for t in api_tokens.list_tokens(app_context(), require_login_actor(), query["user"])]


@blueprint.route("/tokens", methods=["POST"])
@blueprint.arguments(CreateTokenSchema)
@blueprint.response(201, NewTokenSchema)
def create_token(body: dict[str, Any]) -> Any:
    """Create a token for yourself; the response is the only time the token is shown. Needs a browser session."""
    actor = require_login_actor()
    if g.get("bearer_actor") is not None or request.headers.get("Authorization"):
        raise Forbidden("API tokens are created in a signed-in session (the page API-nycklar), not with a token")
    made = api_tokens.create_token(app_context(), actor, body["name"], body["scopes"], body["expires_in_days"],
                                   remote_addr=remote_addr())
    return {**_as_dict(made.info), "token": made.secret}


@blueprint.route(f"/tokens/<int(min=1, max={api_tokens.MAX_ID}):token_id>", methods=["DELETE"])
@blueprint.response(200, TokenSchema)
def revoke_token(token_id: int) -> Any:
    """Revoke a token at once (your own; administrators may revoke anyone's)."""
    return _as_dict(api_tokens.revoke_token(app_context(), token_id, require_login_actor(), remote_addr=remote_addr()))
