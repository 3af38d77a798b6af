"""The e-archive keeps secret parts but carries their secrecy: CITS ERMS restrictions on the case file
and on each document a marking touches, with the OSL provision; and the case's registration data."""

from __future__ import annotations

from lxml import etree

from iphs_flow.services import archive_export, attachments, registration
from tests.earchive_check import check_package
from tests.integration.test_archive_export import closed_case, ctx  # noqa: F401 - the fixture
from tests.people import ADMIN, LEAD

NS = {"e": "https://DILCIS.eu/XML/ERMS"}


def test_secrecy_markings_travel_to_the_archive_as_restrictions_and_the_package_stays_valid(ctx, tmp_path) -> None:  # noqa: F811
    walk = closed_case(ctx)
    [file] = attachments.list_attachments(ctx, walk.number, LEAD)
    registration.update_registration(ctx, walk.number, LEAD, version=0, classification="1.4",
                                     description="Förslag om bokning av lokaler", unit="Skärholmen")
    registration.mark_secret(ctx, walk.number, LEAD, kind="field", target="reason", provision="OSL 19 kap. 3 §",
                             reason="Upphandlingen pågår")
    registration.mark_secret(ctx, walk.number, LEAD, kind="attachment", target=str(file.id),
                             provision="OSL 31 kap. 16 §", reason="Leverantörens ritning")
    view = archive_export.export_case(ctx, walk.number, tmp_path, ADMIN)
    assert check_package(view.path) == []
    erms = etree.parse(str(view.path / "metadata/descriptive/erms.xml"))
    aggregation = erms.find(".//e:aggregation", NS)
    assert aggregation.findtext("e:classification", namespaces=NS) == "1.4"
    assert aggregation.findtext("e:description", namespaces=NS) == "Förslag om bokning av lokaler"
    assert sorted(r.findtext("e:regulation", namespaces=NS) for r in aggregation.findall("e:restriction", NS)) == \
        ["OSL 19 kap. 3 §", "OSL 31 kap. 16 §"]
    marked = {r.get("recordType"): [x.findtext("e:regulation", namespaces=NS) for x in r.findall("e:restriction", NS)]
              for r in erms.findall(".//e:record", NS)}
    assert marked == {"form": [], "attachment": ["OSL 31 kap. 16 §"], "comment": [], "decision": ["OSL 19 kap. 3 §"]}
    assert all(r.get("restrictionType") == "confidential" for r in erms.iter(f"{{{NS['e']}}}restriction"))
    # the archive holds the whole record: the secret reason is kept, marked
    assert "Ingår i stadens nya bokningssystem" in erms.findtext(".//e:action/e:actionText", namespaces=NS)
