"""/api/v1/notifications: the signed-in person's own in-app notifications and reminders."""

from __future__ import annotations

from typing import Any

from iphs_flow.services import notifications

from .common import ctx, make_blueprint, require_login_actor
from .schemas import MarkedSchema, MarkReadSchema, NotificationQuery, NotificationSchema

bp = make_blueprint("api_notifications", "Your notifications and reminders")


@bp.route("/notifications")
@bp.arguments(NotificationQuery, location="query")
@bp.response(200, NotificationSchema(many=True))
def mine(query: dict[str, Any]) -> Any:
    """Your notifications (reminders, escalations, decisions), newest first; `unread=true` for the new ones."""
    return notifications.list_notifications(ctx(), require_login_actor(), unread_only=query["unread"],
                                            limit=query["limit"])


@bp.route("/notifications/read", methods=["POST"])
@bp.arguments(MarkReadSchema)
@bp.response(200, MarkedSchema)
def mark_read(body: dict[str, Any]) -> Any:
    """Mark your notifications read: the listed ids, or all without `ids`. Others' are never touched."""
    return {"marked": notifications.mark_read(ctx(), require_login_actor(), body["ids"])}
