"""Numbers as Swedes write them: `250 000`, `1,5`, `−3` (issue 16 point 5).

Thousands are grouped with a space (people type a plain space, a no-break space or a
thin space; all are read), the decimal sign is a comma (a point is read too). Shown with
a no-break space so a number never breaks across lines.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

NBSP = "\u00a0"
# spaces people and word processors put between digit groups: space, no-break, thin, narrow no-break, figure
_GROUP_SPACES = re.compile(r"[ \u00a0\u2009\u202f\u2007]")
_SHAPE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def parse_number(text: str, integer: bool = False) -> int | float | None:
    """The number in `text`, or None when it is not one (or not a whole number where one is asked)."""
    raw = _GROUP_SPACES.sub("", text.strip()).replace("\u2212", "-")  # U+2212 is the typographic minus
    if raw.count(",") == 1 and "." not in raw:
        raw = raw.replace(",", ".")
    if not _SHAPE.match(raw):
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if value == value.to_integral_value():
        return int(value)
    if integer:
        return None
    return float(value)


def coerce_numbers(schema: dict[str, Any], data: Any) -> Any:
    """`data` with strings parsed where `schema` asks for a number or integer; other values left as they are.

    For clients that send what a person typed ("250 000"); jsonschema then checks the result.
    """
    if not isinstance(schema, dict):
        return data
    kind = schema.get("type")
    if kind in ("number", "integer") and isinstance(data, str):
        parsed = parse_number(data, integer=kind == "integer")
        return data if parsed is None else parsed
    if kind == "object" and isinstance(data, dict):
        properties = schema.get("properties") or {}
        return {k: coerce_numbers(properties.get(k, {}), v) for k, v in data.items()}
    if kind == "array" and isinstance(data, list):
        return [coerce_numbers(schema.get("items") or {}, v) for v in data]
    return data


def format_number(value: int | float) -> str:
    """250000 → '250 000', 1.5 → '1,5' (no-break spaces between groups)."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}".replace(",", NBSP)
    text = f"{value:,.10f}".rstrip("0").rstrip(".")
    whole, _, fraction = text.partition(".")
    return whole.replace(",", NBSP) + ("," + fraction if fraction else "")
