"""Assign, delegate and reassign a task in the web, with people pickers of real, active users.

Innovation leads and administrators name who does a task (someone in its group from a
list, or, confirmed explicitly, anyone else from a search field with the active people
as suggestions); the assignee hands it to someone in the group. Whatever the browser
sends is checked again in services/assignment.py: an unknown or inactive person is a 422
with the message at the field, and nothing changes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.services import assignment
from iphs_flow.services.errors import Conflict, InvalidInput, NotFound
from iphs_flow.web.auth import current_actor, login_required, require_login_actor

bp = Blueprint("task_people", __name__)


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def task_handover(task_id: int) -> assignment.Handover | None:
    """For the task page's people section: None when the task is closed or not for this reader."""
    actor = current_actor()
    if actor is None:
        return None
    try:
        return assignment.handover(_ctx(), task_id, actor)
    except (NotFound, Conflict):
        return None


def _field_message(message: str, to: str) -> str:
    """The service's reason in the reader's language (the service speaks English to logs and the API)."""
    if message.startswith("no active user"):
        return _("Det finns ingen aktiv användare med användarnamnet ”%(name)s”. Välj någon i listan.", name=to)
    if message.startswith("not a member of"):
        return _("%(name)s är inte med i gruppen %(group)s. Kryssa i rutan om uppgiften ändå ska gå till hen.",
                 name=to, group=message.removeprefix("not a member of").strip())
    if message.startswith("choose someone else"):
        return _("Du har redan uppgiften. Välj någon annan.")
    return message


def _page(task_id: int, status: int = 200, errors: dict[str, str] | None = None,
          values: dict[str, str] | None = None) -> tuple[str, int]:
    found = assignment.handover(_ctx(), task_id, require_login_actor())
    return render_template("task_people.html", handover=found, errors=errors or {},
                           values=values or {}), status


@bp.get("/tasks/<int:task_id>/people")
@login_required
def people(task_id: int) -> tuple[str, int]:
    return _page(task_id)


def _refused(task_id: int, err: InvalidInput, field_id: str, to: str, values: dict[str, str]) -> tuple[str, int]:
    messages = err.fields.get("to") or [err.message]
    return _page(task_id, 422, {field_id: _field_message(messages[0], to)}, values)


@bp.post("/tasks/<int:task_id>/assign")
@login_required
def assign(task_id: int) -> Any:
    actor = require_login_actor()
    outside = request.form.get("outside") == "yes"
    field_id = "people-assign-other" if outside else "people-assign-to"
    to = (request.form.get("to") or "").strip()
    values = {field_id: to, "rescope": request.form.get("rescope", "")}
    if not to:
        return _page(task_id, 422, {field_id: _("Välj vem som ska göra uppgiften.")}, values)
    rescope = outside and request.form.get("rescope") == "yes"
    try:
        view = assignment.assign_task(_ctx(), task_id, to, actor, rescope=rescope)
    except InvalidInput as err:
        return _refused(task_id, err, field_id, to, values)
    flash(_("Uppgiften %(task)s är tilldelad %(name)s.", task=view.name, name=view.assignee))
    return redirect(url_for("pages.task", task_id=task_id))


@bp.post("/tasks/<int:task_id>/delegate")
@login_required
def delegate(task_id: int) -> Any:
    actor = require_login_actor()
    to = (request.form.get("to") or "").strip()
    values = {"people-delegate-to": to}
    if not to:
        return _page(task_id, 422, {"people-delegate-to": _("Välj vem som ska ta över uppgiften.")}, values)
    try:
        view = assignment.delegate_task(_ctx(), task_id, to, actor)
    except InvalidInput as err:
        return _refused(task_id, err, "people-delegate-to", to, values)
    flash(_("Uppgiften %(task)s är lämnad över till %(name)s.", task=view.name, name=view.assignee))
    return redirect(url_for("pages.task", task_id=task_id))


def init_task_assignment(app: Any) -> None:
    app.register_blueprint(bp)
    app.jinja_env.globals["task_handover"] = task_handover
