"""The package's METS documents, as E-ARK CSIP 2.1 and SIP 2.1 profile them.

The root METS.xml points at the descriptive (ERMS) and preservation (PREMIS) metadata,
the documentation and schema files, and the one representation's own METS.xml, which
lists the case's data files. Every file carries its size, SHA-256 and creation time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from .case_xml import clean_text, xml_datetime
from .premis import PackedFile

METS = "http://www.loc.gov/METS/"
XLINK = "http://www.w3.org/1999/xlink"
CSIP = "https://DILCIS.eu/XML/METS/CSIPExtensionMETS"
SIP = "https://DILCIS.eu/XML/METS/SIPExtensionMETS"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"mets": METS, "xlink": XLINK, "csip": CSIP, "sip": SIP, "xsi": XSI}

PROFILE = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"
CONTENT_TYPE = "citserms_v2_1"
PACKAGE_TYPE = "Other"
OTHER_TYPE = "Ärendeakt (ERMS)"


@dataclass(frozen=True)
class Submitter:
    """Who delivers the package: the organisation, its identification code, and the software."""

    organisation: str
    organisation_code: str | None
    software: str
    software_version: str
    submission_agreement: str | None = None


def _m(name: str) -> str:
    return f"{{{METS}}}{name}"


def _attrs(**values: str) -> dict[str, str]:
    """Attribute names with a namespace prefix written as `csip__NAME` / `xlink__NAME`."""
    spaces = {"csip": CSIP, "xlink": XLINK, "sip": SIP}
    out = {}
    for key, value in values.items():
        prefix, _, local = key.partition("__")
        out[f"{{{spaces[prefix]}}}{local}" if local else key] = value
    return out


def _root(objid: str, label: str) -> etree._Element:
    return etree.Element(_m("mets"), nsmap=NSMAP, **_attrs(
        OBJID=objid, LABEL=clean_text(label), TYPE=PACKAGE_TYPE, csip__OTHERTYPE=OTHER_TYPE,
        csip__CONTENTINFORMATIONTYPE=CONTENT_TYPE, PROFILE=PROFILE))


def _header(root: etree._Element, submitter: Submitter, created: datetime, *, package: bool) -> None:
    header = etree.SubElement(root, _m("metsHdr"), **_attrs(
        CREATEDATE=xml_datetime(created), LASTMODDATE=xml_datetime(created), RECORDSTATUS="NEW",
        csip__OAISPACKAGETYPE="SIP"))
    software = etree.SubElement(header, _m("agent"), ROLE="CREATOR", TYPE="OTHER", OTHERTYPE="SOFTWARE")
    etree.SubElement(software, _m("name")).text = submitter.software
    etree.SubElement(software, _m("note"), **_attrs(csip__NOTETYPE="SOFTWARE VERSION")).text = \
        submitter.software_version
    if package:
        # SIP9 and SIP15: the organisation that created the records (arkivbildare) and the one
        # delivering them; METS has no SUBMITTER role, so SIP writes it as OTHER/SUBMITTER.
        for role in ({"ROLE": "ARCHIVIST"}, {"ROLE": "OTHER", "OTHERROLE": "SUBMITTER"}):
            org = etree.SubElement(header, _m("agent"), TYPE="ORGANIZATION", **role)
            etree.SubElement(org, _m("name")).text = clean_text(submitter.organisation)
            if submitter.organisation_code:
                etree.SubElement(org, _m("note"), **_attrs(csip__NOTETYPE="IDENTIFICATIONCODE")).text = \
                    submitter.organisation_code
        if submitter.submission_agreement:
            etree.SubElement(header, _m("altRecordID"), TYPE="SUBMISSIONAGREEMENT").text = \
                clean_text(submitter.submission_agreement)


def _md_ref(parent: etree._Element, packed: PackedFile, href: str, mdtype: str, other: str | None = None) -> None:
    attrs = _attrs(LOCTYPE="URL", xlink__type="simple", xlink__href=href, MDTYPE=mdtype,
                   MIMETYPE=packed.mimetype, SIZE=str(packed.size), CREATED=xml_datetime(packed.created),
                   CHECKSUM=packed.sha256, CHECKSUMTYPE="SHA-256")
    if other:
        attrs["OTHERMDTYPE"] = other
    etree.SubElement(parent, _m("mdRef"), **attrs)


def _file_group(parent: etree._Element, group_id: str, use: str, files: list[tuple[str, PackedFile, str]],
                **extra: str) -> None:
    group = etree.SubElement(parent, _m("fileGrp"), ID=group_id, USE=use, **_attrs(**extra))
    for file_id, packed, href in files:
        element = etree.SubElement(group, _m("file"), ID=file_id, MIMETYPE=packed.mimetype, SIZE=str(packed.size),
                                   CREATED=xml_datetime(packed.created), CHECKSUM=packed.sha256,
                                   CHECKSUMTYPE="SHA-256")
        etree.SubElement(element, _m("FLocat"), **_attrs(LOCTYPE="URL", xlink__type="simple", xlink__href=href))


def _div(parent: etree._Element, div_id: str, label: str, **attrs: str) -> etree._Element:
    return etree.SubElement(parent, _m("div"), ID=div_id, LABEL=label, **attrs)


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def representation_mets(name: str, label: str, data: list[PackedFile], submitter: Submitter,
                        created: datetime) -> bytes:
    """representations/<name>/METS.xml: the data files, with paths relative to that folder."""
    root = _root(name, label)
    _header(root, submitter, created, package=False)
    file_sec = etree.SubElement(root, _m("fileSec"), ID=f"{name}-filesec")
    prefix = f"representations/{name}/"
    _file_group(file_sec, f"{name}-data", "Data",
                [(f"{name}-file-{i}", packed, packed.path.removeprefix(prefix)) for i, packed in enumerate(data, 1)])
    struct = etree.SubElement(root, _m("structMap"), ID=f"{name}-structmap", TYPE="PHYSICAL", LABEL="CSIP")
    top = _div(struct, f"{name}-div", name)
    data_div = _div(top, f"{name}-div-data", "Data")
    etree.SubElement(data_div, _m("fptr"), FILEID=f"{name}-data")
    return _serialise(root)


def package_mets(objid: str, label: str, *, erms: PackedFile, premis: PackedFile, documentation: list[PackedFile],
                 schemas: list[PackedFile], representation: PackedFile, representation_name: str,
                 submitter: Submitter, created: datetime) -> bytes:
    root = _root(objid, label)
    _header(root, submitter, created, package=True)
    dmd = etree.SubElement(root, _m("dmdSec"), ID="dmd-erms", CREATED=xml_datetime(created), STATUS="CURRENT")
    _md_ref(dmd, erms, erms.path, "OTHER", "ERMS")
    amd = etree.SubElement(root, _m("amdSec"), ID="amd")
    digiprov = etree.SubElement(amd, _m("digiprovMD"), ID="digiprov-premis", CREATED=xml_datetime(created),
                                STATUS="CURRENT")
    _md_ref(digiprov, premis, premis.path, "PREMIS")

    file_sec = etree.SubElement(root, _m("fileSec"), ID="filesec")
    _file_group(file_sec, "filegrp-documentation", "Documentation",
                [(f"file-documentation-{i}", p, p.path) for i, p in enumerate(documentation, 1)])
    _file_group(file_sec, "filegrp-schemas", "Schemas",
                [(f"file-schema-{i}", p, p.path) for i, p in enumerate(schemas, 1)])
    _file_group(file_sec, "filegrp-representations", "Representations",
                [(f"file-{representation_name}-mets", representation, representation.path)],
                csip__CONTENTINFORMATIONTYPE=CONTENT_TYPE)

    struct = etree.SubElement(root, _m("structMap"), ID="structmap-csip", TYPE="PHYSICAL", LABEL="CSIP")
    top = _div(struct, "div-package", objid)
    _div(top, "div-metadata", "Metadata", DMDID="dmd-erms", ADMID="digiprov-premis")
    etree.SubElement(_div(top, "div-documentation", "Documentation"), _m("fptr"), FILEID="filegrp-documentation")
    etree.SubElement(_div(top, "div-schemas", "Schemas"), _m("fptr"), FILEID="filegrp-schemas")
    reps = _div(top, "div-representations", "Representations")
    etree.SubElement(reps, _m("fptr"), FILEID="filegrp-representations")
    rep = _div(reps, f"div-{representation_name}", f"Representations/{representation_name}")
    etree.SubElement(rep, _m("mptr"), **_attrs(LOCTYPE="URL", xlink__type="simple",
                                                xlink__href=representation.path,
                                                xlink__title="filegrp-representations"))
    return _serialise(root)
