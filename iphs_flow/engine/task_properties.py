"""What a user task asks for, read the same way by the deploy checks and the parser.

Our own properties are `spiffworkflow:property` elements (formKey, candidateGroup,
dueDate, stage, assignee). Models from Camunda Modeler (Camunda 7) carry the same
things as attributes; they are read as their equivalents, so such a model deploys:

- `camunda:formKey` "embedded:app:forms/review.html", "camunda-forms:deployment:review.form"
  or "review" → the form `review`;
- `camunda:candidateGroups` "evaluators, leads" → the group `evaluators` (one group gets a
  task here; a warning names the others) and "${group}" → the expression `group`;
- `camunda:assignee` and `camunda:dueDate`: a literal ("bo", "2026-05-01") or "${name}".

A Camunda expression other than "${name}" (JUEL such as "${dateTime().plusDays(3)}")
cannot run here and gives a warning; the attribute is then ignored.
"""

from __future__ import annotations

import json
import re

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}
_JUEL_NAME = re.compile(r"^\$\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}$")
_FORM_PREFIXES = ("embedded:app:", "embedded:deployment:", "camunda-forms:app:", "camunda-forms:deployment:",
                  "app:", "deployment:")


def spiff_properties(element: etree._Element) -> dict[str, str]:
    found = element.xpath("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", namespaces=NS)
    return {p.get("name"): p.get("value") or "" for p in found if p.get("name")}


def _form_name(value: str) -> str:
    text = value.strip()
    for prefix in _FORM_PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix):]
            break
    text = text.rsplit("/", 1)[-1]
    for suffix in (".html", ".form", ".json", ".schema.json"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    return text


def _expression(value: str, what: str, warnings: list[str]) -> str | None:
    """A Camunda attribute as one of our expressions: a quoted literal or a data field's name."""
    text = value.strip()
    if not text:
        return None
    if "${" in text or "#{" in text:
        name = _JUEL_NAME.match(text)
        if name:
            return name.group(1)
        warnings.append(f"the Camunda expression {text!r} for {what} cannot run here and is ignored; "
                        "use a data field (${{field}}) or our property instead")
        return None
    return json.dumps(text, ensure_ascii=False)


def camunda_properties(element: etree._Element) -> tuple[dict[str, str], list[str]]:
    """Camunda 7 user task attributes as our properties, and warnings about what is not read."""
    props: dict[str, str] = {}
    warnings: list[str] = []
    form = element.get(f"{{{CAMUNDA}}}formKey")
    if form and _form_name(form):
        props["formKey"] = _form_name(form)
    groups = element.get(f"{{{CAMUNDA}}}candidateGroups")
    if groups:
        if "${" in groups or "#{" in groups:
            expression = _expression(groups, "candidateGroups", warnings)
        else:
            names = [g.strip() for g in groups.split(",") if g.strip()]
            expression = json.dumps(names[0], ensure_ascii=False) if names else None
            if len(names) > 1:
                warnings.append(f"only the first candidate group '{names[0]}' gets the task "
                                f"(also named: {', '.join(names[1:])})")
        if expression:
            props["candidateGroup"] = expression
    for attribute in ("assignee", "dueDate"):
        value = element.get(f"{{{CAMUNDA}}}{attribute}")
        if value:
            expression = _expression(value, attribute, warnings)
            if expression:
                props[attribute] = expression
    return props, warnings


def user_task_properties(element: etree._Element) -> tuple[dict[str, str], list[str]]:
    """Our properties, with Camunda's attributes filling what ours leave out; and warnings."""
    props = spiff_properties(element)
    camunda, warnings = camunda_properties(element)
    for key, value in camunda.items():
        props.setdefault(key, value)
    return props, warnings
