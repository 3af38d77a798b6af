"""Checks an E-ARK SIP the way an archive's ingest would: XML against the official schemas,
the CSIP/SIP structure rules, and every file's size and checksum.

The schemas are read where the project keeps them, `../shared/schemas` beside the
checkout (never copied into this repository); METS imports xlink from the web, so that
import is pointed at the local copy and nothing is fetched.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(os.environ.get("IPHS_SCHEMAS_DIR") or ROOT.parent / "shared" / "schemas")
NS = {"mets": "http://www.loc.gov/METS/", "xlink": "http://www.w3.org/1999/xlink",
      "csip": "https://DILCIS.eu/XML/METS/CSIPExtensionMETS", "premis": "http://www.loc.gov/premis/v3",
      "erms": "https://DILCIS.eu/XML/ERMS"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"


class _LocalOnly(etree.Resolver):
    def resolve(self, url, pubid, context):  # noqa: ANN001, ANN201 - lxml's signature
        if url.endswith("xlink.xsd"):
            return self.resolve_filename(str(SCHEMAS / "xlink.xsd"), context)
        if url.startswith(("http:", "https:")):
            raise OSError(f"refusing to fetch {url}")
        return None


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    parser.resolvers.add(_LocalOnly())
    return parser


@cache
def mets_schema() -> etree.XMLSchema:
    """METS 1.12 with xlink and the CSIP and SIP extension attributes."""
    wrapper = f"""<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">
      <xs:import namespace="http://www.w3.org/1999/xlink" schemaLocation="{(SCHEMAS / 'xlink.xsd').as_uri()}"/>
      <xs:import namespace="http://www.loc.gov/METS/" schemaLocation="{(SCHEMAS / 'mets.xsd').as_uri()}"/>
      <xs:import namespace="https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
                 schemaLocation="{(SCHEMAS / 'DILCISExtensionMETS.xsd').as_uri()}"/>
      <xs:import namespace="https://DILCIS.eu/XML/METS/SIPExtensionMETS"
                 schemaLocation="{(SCHEMAS / 'DILCISExtensionSIPMETS.xsd').as_uri()}"/>
    </xs:schema>"""
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), _parser()))


@cache
def schema(name: str) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name), _parser()))


def _validate(xml_schema: etree.XMLSchema, path: Path, problems: list[str]) -> etree._ElementTree | None:
    try:
        tree = etree.parse(str(path), _parser())
    except (OSError, etree.XMLSyntaxError) as err:
        problems.append(f"{path.name}: not readable XML: {err}")
        return None
    if not xml_schema.validate(tree):
        problems.extend(f"{path}: line {e.line}: {e.message}" for e in xml_schema.error_log)
    return tree


def _files_match(base: Path, tree: etree._ElementTree, problems: list[str]) -> set[Path]:
    """Every file and mdRef in a METS document: it exists and its size and SHA-256 are right."""
    seen: set[Path] = set()
    for element in tree.iter("{http://www.loc.gov/METS/}file", "{http://www.loc.gov/METS/}mdRef"):
        href = element.get(XLINK_HREF) or element.find("mets:FLocat", NS).get(XLINK_HREF)
        target = (base / unquote(href)).resolve()
        if not target.is_relative_to(base.resolve()):
            problems.append(f"{href} points outside the package")
            continue
        seen.add(target)
        if not target.is_file():
            problems.append(f"{href} is listed but missing")
            continue
        content = target.read_bytes()
        if element.get("CHECKSUMTYPE") != "SHA-256" or hashlib.sha256(content).hexdigest() != element.get("CHECKSUM"):
            problems.append(f"{href}: checksum does not match")
        if element.get("SIZE") != str(len(content)):
            problems.append(f"{href}: size {element.get('SIZE')} but the file has {len(content)} bytes")
        for attribute in ("ID", "MIMETYPE", "CREATED") if element.tag.endswith("file") else ("MDTYPE", "CREATED"):
            if not element.get(attribute):
                problems.append(f"{href}: no {attribute}")
    return seen


def _csip_rules(tree: etree._ElementTree, *, package: bool, problems: list[str]) -> None:
    root = tree.getroot()
    c = f"{{{NS['csip']}}}"
    if not root.get("OBJID"):
        problems.append("CSIP1: mets/@OBJID is empty")
    if not root.get("TYPE") or (root.get("TYPE") == "Other" and not root.get(c + "OTHERTYPE")):
        problems.append("CSIP2/3: mets/@TYPE (and csip:OTHERTYPE for Other) missing")
    if root.get(c + "CONTENTINFORMATIONTYPE") != "citserms_v2_1":
        problems.append("CSIP4: csip:CONTENTINFORMATIONTYPE is not citserms_v2_1")
    if not (root.get("PROFILE") or "").startswith("https://"):
        problems.append("CSIP6: mets/@PROFILE is not a URL")
    header = root.find("mets:metsHdr", NS)
    if header is None or not header.get("CREATEDATE") or header.get(c + "OAISPACKAGETYPE") != "SIP":
        problems.append("CSIP7/9, SIP4: metsHdr with CREATEDATE and csip:OAISPACKAGETYPE=SIP")
    else:
        creators = header.findall("mets:agent[@ROLE='CREATOR'][@TYPE='OTHER'][@OTHERTYPE='SOFTWARE']", NS)
        if len(creators) != 1 or creators[0].find("mets:note", NS).get(c + "NOTETYPE") != "SOFTWARE VERSION":
            problems.append("CSIP10-16: one creating software agent with its version")
        if package and len(header.findall("mets:agent[@ROLE='OTHER'][@OTHERROLE='SUBMITTER']", NS)) != 1:
            problems.append("SIP15: exactly one submitting agent")
    struct = root.findall("mets:structMap[@LABEL='CSIP']", NS)
    if len(struct) != 1 or struct[0].get("TYPE") != "PHYSICAL" or not struct[0].get("ID"):
        problems.append("CSIP80-83: one PHYSICAL structMap labelled CSIP with an ID")
        return
    groups = {g.get("ID"): g.get("USE") for g in root.iterfind("mets:fileSec/mets:fileGrp", NS)}
    for div in struct[0].iter("{http://www.loc.gov/METS/}div"):
        if not div.get("ID") or not div.get("LABEL"):
            problems.append("CSIP85: every div has an ID and a LABEL")
        for fptr in div.findall("mets:fptr", NS):
            if fptr.get("FILEID") not in groups:
                problems.append(f"div {div.get('LABEL')}: fptr to unknown file group {fptr.get('FILEID')}")
    if package:
        top = struct[0].find("mets:div", NS)
        labels = [d.get("LABEL") for d in top.findall("mets:div", NS)]
        for needed in ("Metadata", "Documentation", "Schemas", "Representations"):
            if labels.count(needed) != 1:
                problems.append(f"CSIP88-103: one {needed} division")
        for use in ("Documentation", "Schemas", "Representations"):
            if use not in groups.values():
                problems.append(f"CSIP60/113/114: a file group used for {use}")
        reps = root.find("mets:fileSec/mets:fileGrp[@USE='Representations']", NS)
        if reps is not None and reps.get(c + "CONTENTINFORMATIONTYPE") is None:
            problems.append("CSIP62: the Representations file group names its content information type")
        meta = top.find("mets:div[@LABEL='Metadata']", NS)
        if meta is not None and (not meta.get("DMDID") or not meta.get("ADMID")):
            problems.append("CSIP91/92: the Metadata division references the dmdSec and amdSec")


def check_package(package: Path) -> list[str]:
    """Every problem found, as a sentence; an empty list means the package passes."""
    problems: list[str] = []
    if not (package / "METS.xml").is_file():
        return ["there is no METS.xml at the package root"]
    listed: set[Path] = {(package / "METS.xml").resolve()}
    root_mets = _validate(mets_schema(), package / "METS.xml", problems)
    if root_mets is None:
        return problems
    if root_mets.getroot().get("OBJID") != package.name:
        problems.append("the package folder is not named after mets/@OBJID")
    _csip_rules(root_mets, package=True, problems=problems)
    listed |= _files_match(package, root_mets, problems)
    for mptr in root_mets.iter("{http://www.loc.gov/METS/}mptr"):
        rep_path = package / unquote(mptr.get(XLINK_HREF))
        rep = _validate(mets_schema(), rep_path, problems)
        if rep is not None:
            _csip_rules(rep, package=False, problems=problems)
            listed |= _files_match(rep_path.parent, rep, problems)
    for md in root_mets.iter("{http://www.loc.gov/METS/}mdRef"):
        path = package / unquote(md.get(XLINK_HREF))
        if md.get("MDTYPE") == "PREMIS":
            _validate(schema("premis-v3-0.xsd"), path, problems)
        elif md.get("OTHERMDTYPE") == "ERMS":
            erms = _validate(schema("ERMS.xsd"), path, problems)
            if erms is not None:
                for appendix in erms.iter("{https://DILCIS.eu/XML/ERMS}appendix"):
                    if not (package / appendix.get("path")).is_file():
                        problems.append(f"ERMS appendix {appendix.get('path')} is not in the package")
    unlisted = {p.resolve() for p in package.rglob("*") if p.is_file()} - listed
    problems.extend(f"{p.relative_to(package.resolve())} is in the package but in no METS file" for p in unlisted)
    return problems
