"""Form fields that name a person (`"ui:widget": "person"`): only real, active users are accepted.

A form's UI schema marks such a field with `"ui:widget": "person"` and, optionally, the
role the person must have: `"ui:options": {"role": "innovation_lead"}`. The web renders
it as a list of those people; whatever arrives (from the web or the API) is checked here
against the accounts, so a name nobody has, or someone without the role, is refused with
the field's name and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iphs_flow.bootstrap import AppContext
from iphs_flow.store.unit_of_work import Transaction

from .errors import InvalidInput
from .permissions import ROLES

PERSON_WIDGET = "person"
MAX_CHOICES = 2000


@dataclass(frozen=True)
class Person:
    username: str
    display_name: str


def person_fields(form: dict[str, Any] | None) -> dict[str, str | None]:
    """Field name -> the role its person must have (None: anyone active), for the form's top-level fields."""
    if not form:
        return {}
    ui = form.get("ui") or {}
    found: dict[str, str | None] = {}
    for name in (form.get("schema") or {}).get("properties", {}):
        options = ui.get(name) if isinstance(ui.get(name), dict) else {}
        if options.get("ui:widget") == PERSON_WIDGET:
            role = (options.get("ui:options") or {}).get("role")
            found[name] = role if role in ROLES else None
    return found


def check_people(tx: Transaction, form: dict[str, Any] | None, data: dict[str, Any]) -> None:
    """Refuse a person field whose value is not an active user (with the field's role)."""
    fields: dict[str, list[str]] = {}
    for name, role in person_fields(form).items():
        value = data.get(name)
        if value is None or value == "":
            continue  # required or not is the schema's business
        user = tx.users.by_username(value) if isinstance(value, str) else None
        if user is None or not user.is_active or (role and role not in tx.users.roles(user.id)):
            who = f"an active user with the role {role}" if role else "an active user"
            fields[name] = [f"'{value}' is not {who}"]
    if fields:
        raise InvalidInput("some fields name people who cannot be chosen", fields)


def choices(ctx: AppContext, role: str | None) -> list[Person]:
    """The people a person field offers: active users, with the role when one is asked for."""
    with ctx.uow.read() as tx:
        return [Person(u.username, u.display_name) for u in tx.users.active(role=role, limit=MAX_CHOICES)]
