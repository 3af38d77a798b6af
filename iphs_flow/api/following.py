"""/api/v1: follow a case, stop following it, the cases you follow, updates to a case's followers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from iphs_flow.services import following

from .common import ctx, make_blueprint, require_login_actor

bp = make_blueprint("api_following", "Following cases: stage changes, decisions and updates")


class FollowedCaseSchema(ma.Schema):
    case_id = fields.Integer()
    number = fields.String()
    title = fields.String()
    status = fields.String()
    stage = fields.Integer(allow_none=True)
    since = fields.AwareDateTime()


class UpdateSchema(ma.Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    author = fields.String()
    author_name = fields.String()
    body = fields.String()
    created_at = fields.AwareDateTime()


class NewUpdateSchema(ma.Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=following.MAX_UPDATE))


class FollowSettingsSchema(ma.Schema):
    case_mail = fields.String(required=True, validate=validate.OneOf(following.CASE_MAIL_MODES),
                              metadata={"description": "same (as your other mail), immediate, daily (digest), none"})
    monthly_digest = fields.Boolean(required=True, metadata={"description": "the monthly 'Nytt i portföljen' mail"})


@bp.route("/cases/<path:case_ref>/following", methods=["PUT"])
@bp.response(200, FollowedCaseSchema)
def follow(case_ref: str) -> Any:
    """Follow a case you may see (again: no change). You are told of its stage changes, decisions and updates."""
    return following.follow(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/following", methods=["DELETE"])
@bp.response(204)
def unfollow(case_ref: str) -> Any:
    """Stop following a case (not following it already: no change)."""
    following.unfollow(ctx(), case_ref, require_login_actor())
    return ""


@bp.route("/me/following")
@bp.response(200, FollowedCaseSchema(many=True))
def mine() -> Any:
    """The cases you follow and may still see, most recently followed first."""
    return following.list_following(ctx(), require_login_actor())


@bp.route("/me/follow-settings")
@bp.response(200, FollowSettingsSchema)
def my_settings() -> Any:
    """How you hear of the cases you follow, and whether you get the monthly digest."""
    return following.get_settings(ctx(), require_login_actor())


@bp.route("/me/follow-settings", methods=["PUT"])
@bp.arguments(FollowSettingsSchema)
@bp.response(200, FollowSettingsSchema)
def choose_settings(body: dict[str, Any]) -> Any:
    """Choose how you hear of followed cases (same, immediate, daily, none) and the monthly digest."""
    return following.set_settings(ctx(), require_login_actor(), body["case_mail"], body["monthly_digest"])


@bp.route("/cases/<path:case_ref>/updates")
@bp.response(200, UpdateSchema(many=True))
def updates(case_ref: str) -> Any:
    """The updates sent to the followers of a case, newest first."""
    return following.list_updates(ctx(), case_ref, require_login_actor())


@bp.route("/cases/<path:case_ref>/updates", methods=["POST"])
@bp.arguments(NewUpdateSchema)
@bp.response(201, UpdateSchema)
def send_update(body: dict[str, Any], case_ref: str) -> Any:
    """Write a short plain-text update (at most 1000 characters) to the case's followers (innovation leads)."""
    return following.send_update(ctx(), case_ref, body["body"], require_login_actor())
