"""Uploaded models are untrusted XML: DTDs and entities are refused before parsing."""

from __future__ import annotations

import pytest

from iphs_flow.engine.errors import UnsafeXML
from iphs_flow.engine.xml_safety import check_untrusted_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&lol2;</bpmn:definitions>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&xxe;</bpmn:definitions>"""


@pytest.mark.parametrize("content", [BILLION_LAUGHS, EXTERNAL_ENTITY,
                                     b'<!DOCTYPE html SYSTEM "http://example.invalid/x.dtd"><a/>',
                                     BILLION_LAUGHS.decode().replace('<?xml version="1.0"?>', "")
                                     .encode("utf-16")])
def test_doctype_and_entity_declarations_are_refused(content: bytes) -> None:
    with pytest.raises(UnsafeXML, match="DOCTYPE|entity|not well-formed"):
        check_untrusted_xml(content, "evil.bpmn")


def test_plain_xml_is_accepted() -> None:
    check_untrusted_xml(b'<?xml version="1.0"?><a xmlns="urn:x"><b/></a>', "ok.bpmn")


def test_broken_xml_is_refused_with_the_file_name() -> None:
    with pytest.raises(UnsafeXML, match="broken.bpmn: not well-formed"):
        check_untrusted_xml(b"<a><b></a>", "broken.bpmn")


BPMN = 'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


@pytest.mark.parametrize(("content", "says"), [
    (f'<bpmn:definitions {BPMN} xmlns:xi="http://www.w3.org/2001/XInclude">'
     '<xi:include href="file:///etc/passwd" parse="text"/></bpmn:definitions>', "XInclude"),
    (f'<bpmn:definitions {BPMN} {XSI} xsi:schemaLocation="http://www.omg.org/spec/BPMN/20100524/MODEL '
     'http://attacker.invalid/BPMN20.xsd"/>', "points outside"),
    (f'<bpmn:definitions {BPMN} {XSI} xsi:noNamespaceSchemaLocation="file:///etc/schema.xsd"/>', "points outside"),
    (f'<bpmn:definitions {BPMN}><bpmn:import importType="http://www.w3.org/2001/XMLSchema" '
     'location="../../secrets.xsd" namespace="urn:x"/></bpmn:definitions>', "points outside"),
    (f'<?xml version="1.0"?><?xml-stylesheet href="http://attacker.invalid/x.xsl"?><bpmn:definitions {BPMN}/>',
     "processing instructions"),
    (f'<bpmn:definitions {BPMN}><bpmn:process id="p"><?php system("id"); ?></bpmn:process></bpmn:definitions>',
     "processing instructions"),
])
def test_xinclude_outside_schema_locations_and_processing_instructions_are_refused(content: str, says: str) -> None:
    with pytest.raises(UnsafeXML, match=says):
        check_untrusted_xml(content.encode(), "evil.bpmn")


def test_the_standard_omg_schema_location_of_other_modellers_is_accepted() -> None:
    check_untrusted_xml(f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions {BPMN} {XSI} '
                        'xsi:schemaLocation="http://www.omg.org/spec/BPMN/20100524/MODEL '
                        'http://www.omg.org/spec/BPMN/2.0/20100501/BPMN20.xsd"/>'.encode(), "signavio.bpmn")
