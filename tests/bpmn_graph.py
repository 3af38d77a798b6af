"""BPMN documents for construct tests, written as elements and flows.

`process("key", [user("a"), ...], ["start>a", "a>end"])` builds an executable process in
one lane; flows are "source>target" or ("source", "target", condition) and get the id
`f_source_target` (inside a subprocess `<sub>_f_source_target`), to name as a default.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape, quoteattr

NS = """xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn\""""
Flow = str | tuple[str, str] | tuple[str, str, str]


def _props(props: dict[str, str]) -> str:
    if not props:
        return ""
    inner = "".join(f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)} />"
                    for k, v in props.items())
    return (f"<bpmn:extensionElements><spiffworkflow:properties>{inner}</spiffworkflow:properties>"
            "</bpmn:extensionElements>")


def user(bpmn_id: str, name: str | None = None, form: str | None = "formula", inner: str = "",
         **props: str) -> str:
    if form:
        props = {"formKey": form, **props}
    return f'<bpmn:userTask id="{bpmn_id}" name={quoteattr(name or bpmn_id)}>{_props(props)}{inner}</bpmn:userTask>'


def script(bpmn_id: str, code: str) -> str:
    return (f'<bpmn:scriptTask id="{bpmn_id}" name="{bpmn_id}"><bpmn:script>{escape(code)}</bpmn:script>'
            "</bpmn:scriptTask>")


def start(bpmn_id: str = "start", definition: str = "", interrupting: bool = True) -> str:
    flag = "" if interrupting else ' isInterrupting="false"'
    return f'<bpmn:startEvent id="{bpmn_id}"{flag}>{definition}</bpmn:startEvent>'


def end(bpmn_id: str = "end", definition: str = "") -> str:
    return f'<bpmn:endEvent id="{bpmn_id}">{definition}</bpmn:endEvent>'


def node(tag: str, bpmn_id: str, inner: str = "", **attrs: str) -> str:
    extra = "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    return f'<bpmn:{tag} id="{bpmn_id}" name="{bpmn_id}"{extra}>{inner}</bpmn:{tag}>'


def boundary(bpmn_id: str, attached: str, definition: str, cancel: bool = True) -> str:
    flag = "" if cancel else ' cancelActivity="false"'
    return f'<bpmn:boundaryEvent id="{bpmn_id}" attachedToRef="{attached}"{flag}>{definition}</bpmn:boundaryEvent>'


def timer(duration: str) -> str:
    return (f"<bpmn:timerEventDefinition><bpmn:timeDuration>{escape(duration)}</bpmn:timeDuration>"
            "</bpmn:timerEventDefinition>")


def message(ref: str) -> str:
    return f'<bpmn:messageEventDefinition messageRef="{ref}" />'


def signal(ref: str) -> str:
    return f'<bpmn:signalEventDefinition signalRef="{ref}" />'


def error(ref: str | None = None) -> str:
    return f'<bpmn:errorEventDefinition errorRef="{ref}" />' if ref else "<bpmn:errorEventDefinition />"


def escalation(ref: str | None = None) -> str:
    return f'<bpmn:escalationEventDefinition escalationRef="{ref}" />' if ref else "<bpmn:escalationEventDefinition />"


def _flow_xml(flows: list[Flow], prefix: str) -> str:
    out = []
    seen: set[str] = set()
    for flow in flows:
        if isinstance(flow, str):
            source, target = flow.split(">")
            condition = None
        else:
            source, target, *rest = flow
            condition = rest[0] if rest else None
        cond = (f'<bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression>'
                if condition else "")
        flow_id = f"{prefix}f_{source}_{target}"
        while flow_id in seen:
            flow_id += "_"
        seen.add(flow_id)
        out.append(f'<bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" '
                   f'targetRef="{target}">{cond}</bpmn:sequenceFlow>')
    return "".join(out)


def sub(bpmn_id: str, elements: list[str], flows: list[Flow], tag: str = "subProcess",
        event: bool = False, attrs: str = "") -> str:
    trigger = ' triggeredByEvent="true"' if event else ""
    return (f'<bpmn:{tag} id="{bpmn_id}" name="{bpmn_id}"{trigger}{attrs}>{"".join(elements)}'
            f'{_flow_xml(flows, bpmn_id + "_")}</bpmn:{tag}>')


def _top_ids(elements: list[str]) -> list[str]:
    ids = []
    for element in elements:
        found = re.match(r'\s*<bpmn:(\w+) id="([^"]+)"', element)
        if found and found.group(1) not in ("message", "signal", "error", "escalation"):
            ids.append(found.group(2))
    return ids


def process(key: str, elements: list[str], flows: list[Flow], lane: str | None = "Idéägare",
            definitions: str = "", extra_processes: str = "") -> bytes:
    """One executable process (and any `extra_processes`) in a definitions element."""
    lanes = ""
    if lane:
        refs = "".join(f"<bpmn:flowNodeRef>{i}</bpmn:flowNodeRef>" for i in _top_ids(elements))
        lanes = (f'<bpmn:laneSet id="{key}_lanes"><bpmn:lane id="{key}_lane" name={quoteattr(lane)}>'
                 f"{refs}</bpmn:lane></bpmn:laneSet>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{key}" '
            f'targetNamespace="http://iphs-flow.se/test">{definitions}'
            f'<bpmn:process id="{key}" name="{key}" isExecutable="true">{lanes}{"".join(elements)}'
            f'{_flow_xml(flows, "")}</bpmn:process>{extra_processes}</bpmn:definitions>').encode()


def called_process(key: str, elements: list[str], flows: list[Flow], lane: str | None = "Idéägare") -> str:
    """A process for a call activity, to pass as `extra_processes`."""
    whole = process(key, elements, flows, lane).decode()
    return whole[whole.index("<bpmn:process"):whole.index("</bpmn:definitions>")]
