"""The case's documents and history in IPHS Flow's own XML (schema: iphs-arende.xsd).

XML rather than the database's JSON: the archive keeps documents in formats that can be
read without IPHS Flow, and the schema travels in the package.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from lxml import etree

from .model import ArchiveCase, Document

NS = "urn:iphs-flow:arende:1"
SCHEMA_FILE = "iphs-arende.xsd"


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def xml_datetime(moment: datetime) -> str:
    """xs:dateTime in UTC; the database keeps UTC, naive or aware."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def clean_text(value: str) -> str:
    """XML 1.0 cannot hold control characters; a form answer may (pasted text)."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20 and ch not in "\ufffe\uffff"
                   and not 0xD800 <= ord(ch) <= 0xDFFF)


def _value(parent: etree._Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            child = etree.SubElement(parent, _q("falt"), namn=clean_text(str(key)))
            _value(child, inner)
    elif isinstance(value, list):
        for item in value:
            _value(etree.SubElement(parent, _q("post")), item)
    elif isinstance(value, bool):
        parent.text = "ja" if value else "nej"
    elif value is not None:
        parent.text = clean_text(str(value))


def document_xml(case: ArchiveCase, document: Document) -> bytes:
    root = etree.Element(_q("handling"), nsmap={None: NS}, id=document.key, typ=document.kind,
                         riktning=document.direction)
    etree.SubElement(root, _q("arende")).text = case.number
    etree.SubElement(root, _q("titel")).text = clean_text(document.title)
    etree.SubElement(root, _q("skapad")).text = xml_datetime(document.created_at)
    if document.agent:
        etree.SubElement(root, _q("upprattadAv")).text = clean_text(document.agent)
    for answer in document.fields:
        element = etree.SubElement(root, _q("falt"), namn=clean_text(answer.name),
                                   etikett=clean_text(answer.label))
        _value(element, answer.value)
    if document.text:
        etree.SubElement(root, _q("text")).text = clean_text(document.text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def history_xml(case: ArchiveCase) -> bytes:
    root = etree.Element(_q("historik"), nsmap={None: NS}, arende=case.number)
    for entry in case.history:
        etree.SubElement(root, _q("handelse"), tid=xml_datetime(entry.at), aktor=clean_text(entry.actor),
                         typ=entry.kind).text = clean_text(entry.text)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
