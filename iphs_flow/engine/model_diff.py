"""A readable difference between two versions of a process: elements added, removed, changed.

Compared element by element (by BPMN/DMN id), not line by line, so a moved shape in the
diagram is not reported as a change to the process while a changed condition, form or
timer is.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

_DIAGRAM = ("http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DC",
            "http://www.omg.org/spec/DD/20100524/DI", "https://www.omg.org/spec/DMN/20191111/DMNDI/")
_CONTAINERS = {"definitions", "process", "collaboration", "laneSet", "subProcess", "decision",
               "decisionTable", "extensionElements"}
# Attributes at their BPMN default: a modeler may write or omit them without changing the meaning.
_DEFAULTS = {"cancelActivity": "true", "isInterrupting": "true", "isForCompensation": "false",
             "parallelMultiple": "false", "triggeredByEvent": "false"}
_SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=True)


@dataclass(frozen=True)
class ElementChange:
    element_id: str
    kind: str  # e.g. userTask, sequenceFlow
    name: str
    change: str  # added | removed | changed


def _local(tag: str) -> str:
    return tag.split("}", 1)[-1]


def _signature(element: etree._Element) -> str:
    """The element's meaning: its attributes and everything inside it except child elements
    that have ids of their own (they are compared separately) and diagram layout."""
    copy = etree.fromstring(etree.tostring(element), _SAFE)
    for child in list(copy):
        if child.get("id") is not None and _local(child.tag) not in ("conditionExpression",):
            copy.remove(child)
    for name, default in _DEFAULTS.items():
        if copy.get(name) == default:
            del copy.attrib[name]
    return etree.tostring(copy, method="c14n").decode()


def _elements(files: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    found: dict[str, tuple[str, str, str]] = {}
    for text in files.values():
        root = etree.fromstring(text.encode("utf-8"), _SAFE)
        for element in root.iter():
            if not isinstance(element.tag, str):
                continue
            namespace = element.tag[1:].split("}", 1)[0] if element.tag.startswith("{") else ""
            element_id = element.get("id")
            if element_id is None or namespace in _DIAGRAM or _local(element.tag) in _CONTAINERS:
                continue
            found[element_id] = (_local(element.tag), element.get("name") or "", _signature(element))
    return found


def diff_models(old: dict[str, str], new: dict[str, str]) -> list[ElementChange]:
    """Elements added, removed and changed from `old` to `new` (file name -> XML text)."""
    before, after = _elements(old), _elements(new)
    changes = []
    for element_id in sorted(set(before) | set(after)):
        if element_id not in before:
            kind, name, _ = after[element_id]
            changes.append(ElementChange(element_id, kind, name, "added"))
        elif element_id not in after:
            kind, name, _ = before[element_id]
            changes.append(ElementChange(element_id, kind, name, "removed"))
        elif before[element_id][2] != after[element_id][2]:
            kind, name, _ = after[element_id]
            changes.append(ElementChange(element_id, kind, name, "changed"))
    return changes
