"""What models drawn in Camunda Modeler (and other BPMN tools) hold that runs differently here.

Two kinds of thing:

- Timer values written as plain ISO 8601, as Camunda Modeler writes them: `PT1H`,
  `R3/PT1H`, `2026-12-01T10:00:00+01:00`. Here a timer is an expression, so `PT1H` would
  be read as a data field of that name (accepted, then an incident when the timer starts)
  and `R3/PT1H` as a division. A bare ISO 8601 value is read as the text it is
  (`timer_source`), at deploy and when the engine parses the model.
- Constructs this engine cannot run (`unsupported`): ad-hoc subprocesses, complex
  gateways, compensation, Camunda input/output mappings, listeners and Java or external
  service implementations. Accepting them would mean a case that silently does something
  else than the diagram says, so deploy refuses them, naming the element and what to draw
  instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
TIMER_TAGS = ("timeDuration", "timeDate", "timeCycle")

_DURATION = r"P(?=\d|T\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:[.,]\d+)?S)?)?"
_DATE = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?"
_ISO_TIMER = re.compile(rf"^(?:{_DURATION}|{_DATE}|R\d*/(?:{_DATE}/)?{_DURATION}(?:/{_DATE})?)$")


def is_iso_literal(text: str) -> bool:
    """A timer value written as plain ISO 8601 (a duration, a date-time, a repeating interval)."""
    return bool(_ISO_TIMER.match(text.strip()))


def timer_source(text: str) -> str:
    """The timer expression to evaluate: a bare ISO 8601 value becomes a quoted string."""
    stripped = text.strip()
    return f'"{stripped}"' if is_iso_literal(stripped) else text


def quote_iso_timers(root: etree._Element) -> etree._Element:
    """Quote the bare ISO 8601 timer values in a parsed BPMN tree, for SpiffWorkflow's parser."""
    for tag in TIMER_TAGS:
        for element in root.iter(f"{{{BPMN}}}{tag}"):
            if element.text and is_iso_literal(element.text):
                element.text = timer_source(element.text)
    return root


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


def _label(element: etree._Element) -> str:
    name = element.get("name")
    return f"'{name}' ({element.get('id')})" if name else f"'{element.get('id')}'"


def _owner(element: etree._Element) -> etree._Element:
    """The flow element an extension or event definition belongs to."""
    node = element
    while node is not None and not (node.get("id") and _local(node) not in ("extensionElements",)):
        node = node.getparent()
    return node if node is not None else element


def unsupported(root: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """(element, why) for every construct in a BPMN tree that this engine cannot run."""
    for element in root.iter(f"{{{BPMN}}}adHocSubProcess"):
        yield element, (f"the ad-hoc subprocess {_label(element)} cannot run here (its activities would have no "
                        "order at all); draw the activities after a parallel or inclusive gateway instead")
    for element in root.iter(f"{{{BPMN}}}complexGateway"):
        yield element, (f"the complex gateway {_label(element)} cannot run here; use an inclusive gateway with a "
                        "condition on each flow, or a parallel gateway")
    seen: set[str] = set()
    for definition in root.iter(f"{{{BPMN}}}compensateEventDefinition"):
        owner = _owner(definition.getparent())
        seen.add(owner.get("id") or "")
        yield owner, (f"compensation ({_label(owner)}) is not supported: undo work is not run by the engine; "
                      "model it as a path after an error boundary event or an error event subprocess")
    for element in root.iter():
        if not seen and isinstance(element.tag, str) and element.get("isForCompensation") == "true":
            yield element, (f"{_label(element)} is marked for compensation, which is not supported; connect it "
                            "with sequence flows after an error boundary event instead")
    for element in root.iter(f"{{{CAMUNDA}}}inputOutput"):
        owner = _owner(element)
        yield owner, (f"the Camunda input/output mapping (camunda:inputOutput) of {_label(owner)} is not run "
                      "here; set the values in a script task before it or through the task's form")
    for tag in ("executionListener", "taskListener"):
        for element in root.iter(f"{{{CAMUNDA}}}{tag}"):
            owner = _owner(element)
            yield owner, (f"the Camunda {tag} of {_label(owner)} is not run here; use a script task, or a "
                          "service task with the operator notify for messages")
    for tag in ("serviceTask", "sendTask", "businessRuleTask"):
        for element in root.iter(f"{{{BPMN}}}{tag}"):
            for attribute in ("class", "delegateExpression", "expression", "type"):
                value = element.get(f"{{{CAMUNDA}}}{attribute}")
                if value is None or (tag == "businessRuleTask" and attribute != "class"):
                    continue
                what = "an external task" if attribute == "type" else f"camunda:{attribute} {value!r}"
                yield element, (f"{_label(element)} is implemented as {what}, which cannot run here; the one "
                                "service is notify (spiffworkflow:serviceTaskOperator), and decisions are DMN "
                                "tables (spiffworkflow:calledDecisionId)")
                break
    for element in root.iter(f"{{{BPMN}}}businessRuleTask"):
        ref = element.get(f"{{{CAMUNDA}}}decisionRef")
        if ref and element.find(f".//{{{SPIFF}}}calledDecisionId") is None:
            yield element, (f"{_label(element)} names its decision as camunda:decisionRef {ref!r}; name it with "
                            "spiffworkflow:calledDecisionId (the DMN decision's id) instead")


def juel_hint(source: str) -> str | None:
    """A hint for a Camunda (JUEL) expression such as `${amount > 5}`, which is not Python."""
    text = source.strip()
    if text.startswith(("${", "#{")) and text.endswith("}"):
        inner = text[2:-1].strip()
        return (f"this is a Camunda (JUEL) expression; write it in Python, e.g. {inner!r} "
                "(and, or, not instead of &&, ||, !)")
    return None
