"""People pickers in task forms: a person field lists real, active users (with its role).

The list is what the browser can choose from; the check that counts is made again when
the form is sent (here, for a message in the reader's language next to the field, and in
services/people_fields.py for every way in, the API included).
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_babel import gettext as _

from iphs_flow.services import people_fields
from iphs_flow.web.forms import Choice, FormSpec


def choices(role: str | None) -> list[Choice]:
    people = people_fields.choices(current_app.extensions["iphs"], role)
    return [Choice(p.username, f"{p.display_name} ({p.username})") for p in people]


def errors(spec: FormSpec | None, values: dict[str, Any]) -> dict[str, list[str]]:
    """A message per person field whose value is not among the people it may name."""
    if spec is None:
        return {}
    found: dict[str, list[str]] = {}
    for name, role in people_fields.person_fields({"schema": spec.schema, "ui": spec.ui}).items():
        value = values.get(name)
        if value in (None, ""):
            continue
        if value not in {c.value for c in choices(role)}:
            found[name] = [_("Välj en person i listan. ”%(name)s” är ingen aktiv användare med rätt roll.",
                             name=value)]
    return found
