"""JSON Schema forms rendered on the server, read back from a POST and validated.

The forms in `forms/` are JSON Schema (what the data must be) plus a UI schema (how to
ask for it). Here they become labelled fields for a plain HTML form that works without
JavaScript: repeatable rows are added and removed with submit buttons that re-render the
page, and every check is done on the server with `jsonschema`, so the messages can sit
next to the field they concern and be summarised at the top (GOV.UK error summary).

Field names in the HTML are paths: `conditions.0.text` is the text of the first condition.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from jsonschema import FormatChecker
from werkzeug.datastructures import MultiDict

from iphs_flow.engine.numbers import parse_number
from iphs_flow.services.form_patterns import FormValidator
from iphs_flow.services.json_safety import MAX_INT_DIGITS

MAX_ROWS = 50
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Choice:
    value: str
    label: str


@dataclass
class Field:
    """One thing to ask for; `kind` picks the widget in templates/_form.html."""

    name: str
    label: str
    kind: str  # text textarea number date checkbox yesno radio select checkboxes rows readonly (person → select)
    required: bool = False
    help: str = ""
    value: Any = None
    choices: list[Choice] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    rows: list[list[Field]] = field(default_factory=list)
    step: str = ""
    max_length: int | None = None

    @property
    def id(self) -> str:
        return "f-" + self.name.replace(".", "-")

    @property
    def described_by(self) -> str:
        ids = []
        if self.help:
            ids.append(self.id + "-help")
        if self.errors:
            ids.append(self.id + "-error")
        return " ".join(ids)

    def selected(self, choice: Choice) -> bool:
        if isinstance(self.value, list):
            return choice.value in [_text(v) for v in self.value]
        return self.value is not None and choice.value == _text(self.value)


@dataclass
class Form:
    key: str
    title: str
    description: str
    fields: list[Field]
    errors: list[tuple[str, str]] = field(default_factory=list)  # (field id, message) for the summary


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _choices(spec: dict[str, Any], texts: dict[str, Any]) -> list[Choice] | None:
    names = texts.get("enum") or {}
    if "oneOf" in spec and all(isinstance(o, dict) and "const" in o for o in spec["oneOf"]):
        return [Choice(_text(o["const"]), names.get(_text(o["const"])) or o.get("title") or _text(o["const"]))
                for o in spec["oneOf"]]
    if "enum" in spec:
        return [Choice(_text(v), names.get(_text(v)) or _text(v)) for v in spec["enum"]]
    return None


def _ordered(schema: dict[str, Any], ui: dict[str, Any]) -> list[str]:
    names = list(schema.get("properties", {}))
    order = [n for n in ui.get("ui:order", []) if n in names]
    return order + [n for n in names if n not in order]


def _translations(form_key: str, lang: str, translations: dict[str, Any] | None) -> dict[str, Any]:
    if lang == "sv" or not translations:
        return {}
    found = translations.get(form_key)
    return found if isinstance(found, dict) else {}


class FormSpec:
    """A form (schema + UI schema), in one language, for one task."""

    def __init__(self, key: str, form: dict[str, Any], lang: str = "sv",
                 translations: dict[str, Any] | None = None,
                 people: Callable[[str | None], list[Choice]] | None = None) -> None:
        self.key = key
        # Who a person field (`"ui:widget": "person"`) offers; without it such a field is plain text.
        self.people = people
        self.schema: dict[str, Any] = form.get("schema") or {}
        self.ui: dict[str, Any] = form.get("ui") or {}
        self.texts = _translations(key, lang, translations)

    # ------------------------------------------------------------ labels

    def _field_texts(self, path: str) -> dict[str, Any]:
        found = (self.texts.get("fields") or {}).get(path)
        return found if isinstance(found, dict) else {}

    def label(self, path: str, spec: dict[str, Any]) -> str:
        return self._field_texts(path).get("title") or spec.get("title") or path.split("[].")[-1]

    def help(self, path: str, spec: dict[str, Any], ui: dict[str, Any]) -> str:
        texts = self._field_texts(path)
        parts = [texts.get("description") or spec.get("description") or "",
                 texts.get("help") or ui.get("ui:help") or ""]
        return " ".join(p for p in parts if p)

    # ------------------------------------------------------------ building fields

    def build(self, values: dict[str, Any], errors: dict[str, list[str]] | None = None) -> Form:
        errors = errors or {}
        required = set(self.schema.get("required", []))
        fields = [self._field(name, self.schema["properties"][name], self.ui.get(name) or {}, name, name,
                              name in required, values.get(name), errors)
                  for name in _ordered(self.schema, self.ui)]
        form = Form(self.key, self.texts.get("title") or self.schema.get("title") or self.key,
                    self.texts.get("description") or self.schema.get("description") or "", fields)
        form.errors = _summary(fields)
        return form

    def _field(self, name: str, spec: dict[str, Any], ui: dict[str, Any], path: str, text_path: str,
               required: bool, value: Any, errors: dict[str, list[str]]) -> Field:
        kind = self._kind(spec, ui)
        f = Field(name=name, label=self.label(text_path, spec), kind=kind, required=required,
                  help=self.help(text_path, spec, ui), value=value, errors=list(errors.get(path, [])),
                  max_length=spec.get("maxLength"))
        if kind in ("radio", "select"):
            f.choices = _choices(spec, self._field_texts(text_path)) or []
        elif kind == "checkboxes":
            f.choices = _choices(spec.get("items", {}), self._field_texts(text_path)) or []
        elif kind == "yesno":
            f.choices = [Choice("true", _("Ja")), Choice("false", _("Nej"))]
        elif kind == "number":
            f.step = "1" if spec.get("type") == "integer" else "any"
        elif kind == "person":
            if self.people is not None:
                f.kind = "select"
                f.choices = self.people((ui.get("ui:options") or {}).get("role"))
            else:
                f.kind = "text"
        elif kind == "readonly" and spec.get("type") == "object" and isinstance(value, dict):
            # An object shown, not asked (a condition task's condition): its parts with their own labels.
            item_ui = ui or {}
            f.rows.append([
                self._field(f"{name}.{sub}", sub_spec, item_ui.get(sub) or {}, f"{path}/{sub}", f"{text_path}.{sub}",
                            False, value.get(sub), errors)
                for sub, sub_spec in (spec.get("properties") or {}).items() if isinstance(sub_spec, dict)])
        elif kind == "rows":
            item = spec.get("items") or {}
            item_ui = ui.get("items") or {}
            rows = value if isinstance(value, list) else []
            item_required = set(item.get("required", []))
            for index, row in enumerate(rows[:MAX_ROWS]):
                row = row if isinstance(row, dict) else {}
                f.rows.append([
                    self._field(f"{name}.{index}.{sub}", item["properties"][sub], item_ui.get(sub) or {},
                                f"{path}/{index}/{sub}", f"{text_path}[].{sub}", sub in item_required,
                                row.get(sub), errors)
                    for sub in _ordered(item, item_ui)])
        return f

    @staticmethod
    def _kind(spec: dict[str, Any], ui: dict[str, Any]) -> str:
        widget = ui.get("ui:widget")
        kind = spec.get("type")
        if spec.get("readOnly") or kind == "object":
            return "readonly"
        if kind == "array":
            items = spec.get("items") or {}
            if items.get("type") == "object":
                return "rows"
            return "checkboxes" if _choices(items, {}) is not None else "lines"
        if kind == "boolean":
            return "yesno" if widget == "radio" else "checkbox"
        if _choices(spec, {}) is not None:
            return "select" if widget == "select" else "radio"
        if kind in ("integer", "number"):
            return "number"
        if spec.get("format") == "date" or widget == "date":
            return "date"
        if widget == "person":
            return "person"
        return "textarea" if widget == "textarea" else "text"

    # ------------------------------------------------------------ reading a POST

    def read(self, posted: MultiDict[str, str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The data typed into the form, and the values that could not be read (per path)."""
        problems: dict[str, list[str]] = {}
        data = self._read_object(self.schema, self.ui, "", "", posted, problems)
        return data, problems

    def _read_object(self, schema: dict[str, Any], ui: dict[str, Any], prefix: str, path: str,
                     posted: MultiDict[str, str], problems: dict[str, list[str]]) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, spec in schema.get("properties", {}).items():
            html = f"{prefix}{name}"
            where = f"{path}{name}"
            kind = self._kind(spec, ui.get(name) or {})
            if kind == "readonly":
                continue
            if kind == "rows":
                rows = self._read_rows(spec, ui.get(name) or {}, html, where, posted, problems)
                if rows:
                    data[name] = rows
                continue
            if kind == "checkboxes":
                wanted = posted.getlist(html)
                options = {c.value: c for c in _choices(spec.get("items", {}), {}) or []}
                item_type = (spec.get("items") or {}).get("type")
                data[name] = [_convert(v, item_type) for v in wanted if v in options]
                continue
            if kind == "lines":
                raw = posted.get(html, "")
                item_type = (spec.get("items") or {}).get("type")
                values = [line.strip() for line in raw.splitlines() if line.strip()]
                converted = []
                for v in values:
                    got = _convert(v, item_type)
                    if got is _BAD:
                        problems.setdefault(where, []).append(_("Ange ett tal per rad."))
                        break
                    converted.append(got)
                if values:
                    data[name] = converted
                continue
            if kind == "checkbox":
                data[name] = posted.get(html) == "true"
                continue
            raw = posted.get(html)
            if raw is None or raw.strip() == "":
                continue
            value = _convert(raw if kind == "textarea" else raw.strip(), spec.get("type"))
            if value is _BAD:
                problems.setdefault(where, []).append(
                    _("Ange ett heltal.") if spec.get("type") == "integer" else _("Ange ett tal."))
                data[name] = raw  # kept so the person's text is shown again
                continue
            data[name] = value
        return data

    def _read_rows(self, spec: dict[str, Any], ui: dict[str, Any], html: str, path: str,
                   posted: MultiDict[str, str], problems: dict[str, list[str]]) -> list[dict[str, Any]]:
        pattern = re.compile(re.escape(html) + r"\.(\d+)\.")
        indices = sorted({int(m.group(1)) for key in posted for m in [pattern.match(key)] if m})
        rows = []
        for index in indices[:MAX_ROWS]:
            row = self._read_object(spec.get("items") or {}, ui.get("items") or {}, f"{html}.{index}.",
                                    f"{path}/{len(rows)}/", posted, problems)
            rows.append(row)
        return rows

    # ------------------------------------------------------------ checking

    def validate(self, data: dict[str, Any]) -> dict[str, list[str]]:
        """Messages per path (`conditions/0/text`), in the person's language."""
        validator = FormValidator(self.schema, format_checker=FormatChecker())
        found: dict[str, list[str]] = {}
        for error in validator.iter_errors(data):
            for path, message in self._explain(error):
                messages = found.setdefault(path, [])
                if message not in messages:
                    messages.append(message)
        return found

    def _explain(self, error: Any) -> list[tuple[str, str]]:
        path = "/".join(str(p) for p in error.absolute_path)
        v = error.validator
        if v in ("allOf", "anyOf"):
            out: list[tuple[str, str]] = []
            for sub in error.context or []:
                out.extend(self._explain(sub))
            return out
        if v == "required":
            missing = error.message.split("'")[1] if "'" in error.message else ""
            return [(f"{path}/{missing}".strip("/"), _("Fyll i detta fält."))]
        if v == "minLength" and error.validator_value == 1:
            return [(path, _("Fyll i detta fält."))]
        if v == "minLength":
            return [(path, _("Skriv minst %(n)s tecken.", n=error.validator_value))]
        if v == "maxLength":
            return [(path, _("Skriv högst %(n)s tecken.", n=error.validator_value))]
        if v == "const" and error.validator_value is True:
            return [(path, _("Måste vara uppfyllt för det här beslutet."))]
        if v in ("oneOf", "enum", "const"):
            return [(path, _("Välj ett av alternativen."))]
        if v == "format" and error.validator_value == "date":
            return [(path, _("Ange ett datum som ÅÅÅÅ-MM-DD."))]
        if v == "minimum":
            return [(path, _("Ange minst %(n)s.", n=error.validator_value))]
        if v == "maximum":
            return [(path, _("Ange högst %(n)s.", n=error.validator_value))]
        if v == "minItems":
            return [(path, _("Lägg till minst %(n)s.", n=error.validator_value))]
        if v == "maxItems":
            return [(path, _("Högst %(n)s är tillåtna.", n=error.validator_value))]
        if v == "type":
            return [(path, _("Värdet har fel form."))]
        if v == "additionalProperties":
            return [("", _("Formuläret innehöll okända fält."))]
        return [(path, error.message)]


class _Bad:
    pass


_BAD: Any = _Bad()


def _convert(raw: str, kind: str | None) -> Any:
    if kind in ("integer", "number"):
        digits = raw.strip().lstrip("+-")
        if len(digits) > MAX_INT_DIGITS + 20:
            return _BAD  # a number no form needs, and one Python would refuse to print past 4,300 digits
        number = parse_number(raw, integer=kind == "integer")  # "250 000", "1,5" as Swedes write them
        if number is None or (isinstance(number, float) and not math.isfinite(number)):
            return _BAD
        if isinstance(number, int) and len(str(abs(number))) > MAX_INT_DIGITS:
            return _BAD
        return number
    if kind == "boolean":
        return raw == "true"
    return raw


def _summary(fields: list[Field]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for f in fields:
        for message in f.errors:
            out.append((f.id, f"{f.label}: {message}"))
        for row in f.rows:
            out.extend(_summary(row))
    return out


def add_row(data: dict[str, Any], name: str, spec: FormSpec) -> None:
    """The "Lägg till rad" button: one empty row more in the repeatable field `name`."""
    prop = spec.schema.get("properties", {}).get(name)
    if not isinstance(prop, dict) or prop.get("type") != "array":
        return
    rows = data.setdefault(name, [])
    if isinstance(rows, list) and len(rows) < MAX_ROWS:
        rows.append({})


def remove_row(data: dict[str, Any], name: str, index: int) -> None:
    rows = data.get(name)
    if isinstance(rows, list) and 0 <= index < len(rows):
        rows.pop(index)


def read_only_values(schema: dict[str, Any], case_data: dict[str, Any]) -> dict[str, Any]:
    """Values for readOnly fields come from the case, so the task shows what it is about."""
    return {name: case_data[name] for name, spec in schema.get("properties", {}).items()
            if isinstance(spec, dict) and spec.get("readOnly") and name in case_data}
