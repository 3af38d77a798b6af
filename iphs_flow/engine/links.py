"""Link events: a throw and a catch with the same name in one process are a sequence flow.

SpiffWorkflow 3.2 does not know link events (it would run the throw as a none event and
never reach the catch). BPMN defines them as an off-page connector inside one process
level, so before parsing each link throw gets a sequence flow to its catch and both
become plain intermediate events.
"""

from __future__ import annotations

from copy import deepcopy

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_SCOPES = ("process", "subProcess", "transaction", "adHocSubProcess")


def _q(name: str) -> str:
    return f"{{{BPMN}}}{name}"


def _link_name(event: etree._Element) -> tuple[etree._Element, str] | None:
    definition = event.find(_q("linkEventDefinition"))
    if definition is None:
        return None
    return definition, (definition.get("name") or event.get("name") or "").strip()


class LinkProblem(ValueError):
    def __init__(self, message: str, element: etree._Element) -> None:
        super().__init__(message)
        self.element = element


def connect_links(root: etree._Element) -> etree._Element:
    """A copy of `root` where every link throw flows to its catch; raises LinkProblem."""
    tree = root if not _has_links(root) else _copy(root)
    for scope in [e for e in tree.iter() if isinstance(e.tag, str) and etree.QName(e).localname in _SCOPES
                  and etree.QName(e).namespace == BPMN]:
        throws, catches = [], {}
        for child in scope:
            if not isinstance(child.tag, str):
                continue
            local = etree.QName(child).localname
            found = _link_name(child)
            if found is None:
                continue
            definition, name = found
            if local == "intermediateThrowEvent":
                throws.append((child, definition, name))
            elif local == "intermediateCatchEvent":
                if name in catches:
                    raise LinkProblem(f"two link catch events are named '{name}'", child)
                catches[name] = (child, definition)
        for throw, definition, name in throws:
            if name not in catches:
                raise LinkProblem(f"the link event '{name}' has no catching link event of the same name "
                                  "in this process level", throw)
            catch, _ = catches[name]
            throw.remove(definition)
            flow = etree.SubElement(scope, _q("sequenceFlow"))
            flow.set("id", f"link_{throw.get('id')}_{catch.get('id')}")
            flow.set("sourceRef", throw.get("id"))
            flow.set("targetRef", catch.get("id"))
        for catch, definition in catches.values():
            if definition.getparent() is catch:
                catch.remove(definition)
    return tree


def _has_links(root: etree._Element) -> bool:
    return root.find(f".//{_q('linkEventDefinition')}") is not None


def _copy(root: etree._Element) -> etree._Element:
    return deepcopy(root)
