"""Which form fields a designer marked shareable with research (`"x-shareable": true`).

Free text leaves the city in a research export only from fields whose form says so:
a need summary, a concept, results, lessons — never personal or budget-detail fields.
The mark is a JSON Schema annotation on a property (`"x-shareable": true`); on an array
of objects it shares the text of every sub-field, and a sub-field may carry it alone.
Secret-marked fields (services/secrecy.py) stay out even when shareable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SHAREABLE = "x-shareable"


def shareable_problems(schema: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, message) for every `x-shareable` that is not true or false, or stands where no field is."""
    problems: list[tuple[str, str]] = []
    if SHAREABLE in schema:
        problems.append(("(root)", f"{SHAREABLE} belongs on a field (a property), not on the whole form"))
    for name, spec in (schema.get("properties") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        if SHAREABLE in spec and not isinstance(spec[SHAREABLE], bool):
            problems.append((f"properties/{name}", f"{SHAREABLE} must be true or false"))
        items = spec.get("items")
        if isinstance(items, Mapping):
            for sub, sub_spec in (items.get("properties") or {}).items():
                mark = sub_spec.get(SHAREABLE, False) if isinstance(sub_spec, Mapping) else False
                if not isinstance(mark, bool):
                    problems.append((f"properties/{name}/items/properties/{sub}", f"{SHAREABLE} must be true or false"))
    return problems


def shareable_fields(schema: Mapping[str, Any] | None) -> frozenset[str]:
    """The shareable fields of a form: "need", and "results[].indicator" for an array's sub-field."""
    found: set[str] = set()
    for name, spec in ((schema or {}).get("properties") or {}).items():
        if not isinstance(spec, Mapping):
            continue
        whole = spec.get(SHAREABLE) is True
        if whole:
            found.add(name)
        items = spec.get("items")
        if isinstance(items, Mapping):
            for sub, sub_spec in (items.get("properties") or {}).items():
                if whole or (isinstance(sub_spec, Mapping) and sub_spec.get(SHAREABLE) is True):
                    found.add(f"{name}[].{sub}")
    return frozenset(found)


def shared_texts(data: Mapping[str, Any], fields: frozenset[str]) -> list[tuple[str, str]]:
    """(field, text) for the free text of `data` in shareable `fields`; numbers and choices are not text."""
    texts: list[tuple[str, str]] = []
    for name, value in data.items():
        if name in fields and isinstance(value, str) and value.strip():
            texts.append((name, value))
        elif isinstance(value, list):
            for index, item in enumerate(value, start=1):
                if isinstance(item, str) and name in fields and item.strip():
                    texts.append((f"{name}[{index}]", item))
                elif isinstance(item, Mapping):
                    for sub, sub_value in item.items():
                        if f"{name}[].{sub}" in fields and isinstance(sub_value, str) and sub_value.strip():
                            texts.append((f"{name}[{index}].{sub}", sub_value))
    return texts
