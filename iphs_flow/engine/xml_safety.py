"""Refuse XML that could attack the parser before SpiffWorkflow sees it.

SpiffWorkflow parses with lxml's defaults, which resolve internal entities. Models are
uploaded by designers through the browser, so they are untrusted: any DOCTYPE or entity
declaration is refused outright (a BPMN or DMN file never needs one). So are the other
ways an XML file can ask a processor to fetch or run something: XInclude elements,
schema locations outside the standard OMG schemas (xsi:schemaLocation,
xsi:noNamespaceSchemaLocation, bpmn:import/dmn:import locations) and processing
instructions (`<?xml-stylesheet ...?>` and the like; the XML declaration is not one).
"""

from __future__ import annotations

from urllib.parse import urlparse

from lxml import etree

from .errors import UnsafeXML

MAX_MODEL_BYTES = 5 * 1024 * 1024
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
XSI = "http://www.w3.org/2001/XMLSchema-instance"
# Schema locations modellers write that point at the published standards; never fetched.
STANDARD_SCHEMA_HOSTS = frozenset({"www.omg.org", "omg.org"})


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
    _refuse_fetching_and_instructions(root, file_name)


def _standard_location(location: str) -> bool:
    parsed = urlparse(location)
    return parsed.scheme in ("http", "https") and parsed.hostname in STANDARD_SCHEMA_HOSTS


def _refuse_fetching_and_instructions(root: etree._Element, file_name: str) -> None:
    tree = root.getroottree()
    instructions = [*root.itersiblings(preceding=True), *root.itersiblings(), *root.iter()]
    for node in instructions:
        if isinstance(node, etree._ProcessingInstruction):
            raise UnsafeXML(f"{file_name}: processing instructions (<?{node.target} ...?>) are not allowed "
                            f"in process models (line {node.sourceline})")
    for element in tree.iter(etree.Element):
        namespace = etree.QName(element).namespace
        if namespace in XINCLUDE_NAMESPACES:
            raise UnsafeXML(f"{file_name}: XInclude is not allowed in process models (line {element.sourceline})")
        pairs = (element.get(f"{{{XSI}}}schemaLocation") or "").split()
        locations = pairs[1::2]
        single = element.get(f"{{{XSI}}}noNamespaceSchemaLocation")
        if single:
            locations.append(single)
        if etree.QName(element).localname == "import":
            locations += [v for k, v in element.attrib.items() if k in ("location", "locationURI") and v]
        for location in locations:
            if not _standard_location(location):
                raise UnsafeXML(f"{file_name}: the schema or import location {location!r} points outside the "
                                "standard BPMN/DMN schemas; remove it (line "
                                f"{element.sourceline})")
