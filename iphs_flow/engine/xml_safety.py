"""Refuse XML that could attack the parser before SpiffWorkflow sees it.

SpiffWorkflow parses with lxml's defaults, which resolve internal entities. Models are
uploaded by designers through the browser, so they are untrusted: any DOCTYPE or entity
declaration is refused outright (a BPMN or DMN file never needs one).
"""

from __future__ import annotations

from lxml import etree

from .errors import UnsafeXML

MAX_MODEL_BYTES = 5 * 1024 * 1024


def check_untrusted_xml(content: bytes, file_name: str) -> None:
    """Raise UnsafeXML unless `content` is plain XML without DTDs or entities."""
    if len(content) > MAX_MODEL_BYTES:
        raise UnsafeXML(f"{file_name}: the file is larger than {MAX_MODEL_BYTES // 1024 // 1024} MB")
    # A cheap textual check first; it catches declarations in any encoding lxml knows.
    head = content.lstrip()[:4].lower()
    if head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff"):
        text = content.decode("utf-16", errors="replace").encode("utf-8")
    else:
        text = content
    upper = text.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise UnsafeXML(
            f"{file_name}: DOCTYPE and entity declarations are not allowed in process models"
        )
    # Then a parse that cannot resolve anything, to be sure no DTD slipped through.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False)
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as err:
        raise UnsafeXML(f"{file_name}: not well-formed XML: {err}") from err
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or (docinfo.internalDTD is not None) or (docinfo.externalDTD is not None):
        raise UnsafeXML(
            f"{file_name}: DOCTYPE and entity declarations are not allowed in process models"
        )
