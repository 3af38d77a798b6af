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
