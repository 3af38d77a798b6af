"""Preservation metadata (PREMIS 3): the package's files with their fixity, and what happened to them.

Events: each document's creation (when and by whom, as the package names them), the
message digest of every file at packing, the package's creation, and — when people were
replaced by pseudonyms — that modification of the metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from .case_xml import clean_text, xml_datetime

NS = "http://www.loc.gov/premis/v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


@dataclass(frozen=True)
class PackedFile:
    """A file in the package, as the METS file section and PREMIS both describe it."""

    path: str  # relative to the package root
    size: int
    sha256: str
    mimetype: str
    format_name: str
    created: datetime
    original_name: str | None = None
    creator: str | None = None  # the person who made the document, for its creation event


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, _q(name))
    if text is not None:
        element.text = clean_text(text)
    return element


def _identifier(parent: etree._Element, kind: str, value: str) -> None:
    holder = _sub(parent, f"{kind}Identifier")
    _sub(holder, f"{kind}IdentifierType", "local")
    _sub(holder, f"{kind}IdentifierValue", value)


def _link(parent: etree._Element, kind: str, value: str) -> None:
    holder = _sub(parent, f"linking{kind}Identifier")
    _sub(holder, f"linking{kind}IdentifierType", "local")
    _sub(holder, f"linking{kind}IdentifierValue", value)


def premis_xml(files: list[PackedFile], *, software: str, software_version: str, organisation: str,
               created: datetime, pseudonymised: bool) -> bytes:
    root = etree.Element(_q("premis"), nsmap={"premis": NS, "xsi": XSI}, version="3.0")
    for packed in files:
        obj = etree.SubElement(root, _q("object"), {f"{{{XSI}}}type": "premis:file"})
        _identifier(obj, "object", packed.path)
        characteristics = _sub(obj, "objectCharacteristics")
        _sub(characteristics, "compositionLevel", "0")
        fixity = _sub(characteristics, "fixity")
        _sub(fixity, "messageDigestAlgorithm", "SHA-256")
        _sub(fixity, "messageDigest", packed.sha256)
        _sub(characteristics, "size", str(packed.size))
        _sub(_sub(_sub(characteristics, "format"), "formatDesignation"), "formatName", packed.format_name)
        if packed.original_name:
            _sub(obj, "originalName", packed.original_name)

    people: dict[str, str] = {}
    counter = 0

    def event(kind: str, at: datetime, detail: str, agents: list[str], objects: list[str]) -> None:
        nonlocal counter
        counter += 1
        element = _sub(root, "event")
        _identifier(element, "event", f"event-{counter}")
        _sub(element, "eventType", kind)
        _sub(element, "eventDateTime", xml_datetime(at))
        _sub(_sub(element, "eventDetailInformation"), "eventDetail", detail)
        _sub(_sub(element, "eventOutcomeInformation"), "eventOutcome", "success")
        for agent in agents:
            _link(element, "Agent", agent)
        for path in objects:
            _link(element, "Object", path)

    for packed in files:
        if packed.creator:
            agent_id = people.setdefault(packed.creator, f"agent-person-{len(people) + 1}")
            event("creation", packed.created, "handlingen upprättades eller kom in", [agent_id], [packed.path])
    every_path = [packed.path for packed in files]
    event("message digest calculation", created, "SHA-256 beräknad vid paketering", ["agent-software"],
          every_path)
    if pseudonymised:
        event("metadata modification", created, "personers namn ersatta med pseudonymer enligt gallringsbeslut",
              ["agent-software"], [])
    event("information package creation", created, "leveranspaket (E-ARK SIP) skapat",
          ["agent-software", "agent-organisation"], [])

    def agent(identifier: str, name: str, kind: str, version: str | None = None) -> None:
        element = _sub(root, "agent")
        _identifier(element, "agent", identifier)
        _sub(element, "agentName", name)
        _sub(element, "agentType", kind)
        if version:
            _sub(element, "agentVersion", version)

    agent("agent-software", software, "software", software_version)
    agent("agent-organisation", organisation, "organization")
    for name, identifier in people.items():
        agent(identifier, name, "person")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
