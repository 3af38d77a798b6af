"""Read a form as a designer typed it (two JSON texts) and say precisely what is wrong with it.

The form editor sends text, not objects: the JSON may not parse, may not be an object,
may not be a valid JSON Schema, may not describe an object, may use field names that
scripts reserve, or may hold a field the renderer cannot show. Each finding names the
text it is in (schema or ui) and, for JSON syntax, the line and column, so the page can
put the message next to the right box. The same rules as `processes.check_form` (which
`design.save_draft_form` applies again when saving), plus the renderer's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from iphs_flow.engine import sandbox
from iphs_flow.services.form_patterns import pattern_problems
from iphs_flow.services.shareable import shareable_problems

MAX_TEXT_CHARS = 512 * 1024
FORM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,99}$")
RESERVED_FORM_KEYS = frozenset({"new"})  # /design/<key>/forms/new is the page that names a new form
NEW_FORM = {"type": "object", "title": "", "required": [], "properties": {}}


@dataclass(frozen=True)
class FormTextProblem:
    """One finding. `field` is "schema" or "ui"; `code` picks the sentence the page shows.

    Codes: empty, too_large, json (detail, line, column), not_object, schema (detail, path),
    type, reserved (detail: the names), property (detail: the field name), pattern (detail:
    the pattern and why RE2 cannot run it, path).
    """

    field: str
    code: str
    detail: str = ""
    path: str = ""
    line: int | None = None
    column: int | None = None


def valid_form_key(key: str) -> bool:
    """Letters, digits, '-' and '_', not starting with a digit: safe in file names and URLs."""
    return bool(FORM_KEY.match(key or "")) and key not in RESERVED_FORM_KEYS


def _parse(field: str, text: str, empty_ok: bool) -> tuple[Any, list[FormTextProblem]]:
    if len(text) > MAX_TEXT_CHARS:
        return None, [FormTextProblem(field, "too_large", str(MAX_TEXT_CHARS // 1024))]
    if not text.strip():
        return ({} if empty_ok else None), ([] if empty_ok else [FormTextProblem(field, "empty")])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        return None, [FormTextProblem(field, "json", err.msg, line=err.lineno, column=err.colno)]
    if not isinstance(value, dict):
        return None, [FormTextProblem(field, "not_object")]
    return value, []


def read_form_texts(schema_text: str, ui_text: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None,
                                                              list[FormTextProblem]]:
    """(schema, ui, problems): the parsed objects when usable, and everything wrong with them."""
    schema, problems = _parse("schema", schema_text or "", empty_ok=False)
    ui, ui_problems = _parse("ui", ui_text or "", empty_ok=True)
    problems += ui_problems
    if schema is not None:
        schema_problems = _check_schema(schema)
        problems += schema_problems
        if schema_problems:
            schema = None
    return schema, ui, problems


def _check_schema(schema: dict[str, Any]) -> list[FormTextProblem]:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as err:
        path = "/".join(str(p) for p in err.path) or "(root)"
        return [FormTextProblem("schema", "schema", err.message, path=path)]
    if schema.get("type") != "object":
        return [FormTextProblem("schema", "type")]
    problems = []
    properties = schema.get("properties") or {}
    clashes = sorted(name for name in properties if name in sandbox.RESERVED_NAMES or name.startswith("_"))
    if clashes:
        problems.append(FormTextProblem("schema", "reserved", ", ".join(clashes)))
    for name, spec in properties.items():
        if not isinstance(spec, dict):
            problems.append(FormTextProblem("schema", "property", name))
            continue
        items = spec.get("items")
        if spec.get("type") == "array" and isinstance(items, dict) and items.get("type") == "object":
            for sub, sub_spec in (items.get("properties") or {}).items():
                if not isinstance(sub_spec, dict):
                    problems.append(FormTextProblem("schema", "property", f"{name}[].{sub}"))
    for path, message in shareable_problems(schema):
        problems.append(FormTextProblem("schema", "schema", message, path=path))
    for path, pattern, reason in pattern_problems(schema):
        problems.append(FormTextProblem("schema", "pattern", f"{pattern} ({reason})", path=path))
    return problems


def pretty(value: Any) -> str:
    """How a form is shown in the editor: indented, keys in the order the designer wrote them."""
    return json.dumps(value, ensure_ascii=False, indent=2)
