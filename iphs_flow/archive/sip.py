"""Write one case as an E-ARK SIP folder (and, on request, a ZIP of it).

    <OBJID>/
      METS.xml                               the package METS (CSIP/SIP)
      metadata/descriptive/erms.xml          CITS ERMS: the case file and its documents
      metadata/preservation/premis.xml       PREMIS: files, fixity, events
      documentation/om-paketet.txt           what the package holds, for a person
      schemas/iphs-arende.xsd                the schema of the case's own XML files
      representations/rep1/METS.xml          the representation's METS
      representations/rep1/data/handlingar/  one XML file per document (form, decision, comment)
      representations/rep1/data/bilagor/     attachments as they were uploaded
      representations/rep1/data/historik.xml the case's history

Files are written first, then the metadata that describes them, so every checksum is of
the bytes on disk. The folder is built under a temporary name and renamed when complete:
a failed export never leaves half a package behind.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .case_xml import SCHEMA_FILE, document_xml, history_xml
from .erms import erms_xml
from .mets import Submitter, package_mets, representation_mets
from .model import ArchiveCase, Document
from .premis import PackedFile, premis_xml

REPRESENTATION = "rep1"
_SCHEMA_SOURCE = Path(__file__).with_name(SCHEMA_FILE)

# Format names for PREMIS, by MIME type; anything else is named by its type.
_FORMAT_NAMES = {"application/xml": "XML", "text/plain": "Plain text", "application/pdf": "PDF",
                 "image/png": "PNG", "image/jpeg": "JPEG", "text/csv": "CSV"}


@dataclass(frozen=True)
class WrittenPackage:
    objid: str
    path: Path
    files: int
    bytes: int
    mets_sha256: str


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text.translate(str.maketrans("åäöÅÄÖéÉüÜ", "aaoAAOeEuU")))
    return slug.strip("-.")[:limit] or "fil"


def package_id(case: ArchiveCase) -> str:
    """Names the package and its folder: the diarienummer, readable, plus a unique part."""
    return f"{_slug(case.number)}-{uuid.uuid4().hex[:12]}"


class _Writer:
    def __init__(self, root: Path, created: datetime) -> None:
        self.root = root
        self.created = created

    def write(self, relative: str, content: bytes, mimetype: str, *, created: datetime | None = None,
              original_name: str | None = None, creator: str | None = None) -> PackedFile:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        return self._packed(relative, len(content), hashlib.sha256(content).hexdigest(), mimetype,
                            created, original_name, creator)

    def copy(self, relative: str, source: Path, mimetype: str, *, created: datetime,
             original_name: str | None, creator: str | None) -> PackedFile:
        target = self.root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        with source.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
                size += len(chunk)
        return self._packed(relative, size, digest.hexdigest(), mimetype, created, original_name, creator)

    def _packed(self, relative: str, size: int, sha256: str, mimetype: str, created: datetime | None,
                original_name: str | None, creator: str | None) -> PackedFile:
        return PackedFile(path=relative, size=size, sha256=sha256, mimetype=mimetype,
                          format_name=_FORMAT_NAMES.get(mimetype, mimetype), created=created or self.created,
                          original_name=original_name, creator=creator)


def _document_path(position: int, document: Document) -> str:
    data = f"representations/{REPRESENTATION}/data"
    if document.kind == "attachment":
        return f"{data}/bilagor/{position:04d}-{_slug(document.filename or document.title, 80)}"
    return f"{data}/handlingar/{position:04d}-{_slug(document.title)}.xml"


def _documentation(case: ArchiveCase, objid: str) -> bytes:
    lines = [
        f"Leveranspaket {objid}",
        "",
        f"Ärende: {case.number} – {case.title}",
        f"Process: {case.process_name} ({case.process_key}, version {case.process_version})",
        f"Avslutat: {case.closed_at.date().isoformat()}",
        f"Arkivbildare: {case.organisation}",
        "",
        "Paketet följer E-ARK SIP 2.1 med metadata enligt CITS ERMS 2.1 (som Riksarkivets",
        "FGS Ärendehantering anpassar den) och PREMIS 3.0.",
        "",
        "  METS.xml                                paketets struktur och kontrollsummor (SHA-256)",
        "  metadata/descriptive/erms.xml           ärendet, dess handlingar och beslut",
        "  metadata/preservation/premis.xml        filer, kontrollsummor och händelser",
        "  schemas/iphs-arende.xsd                 schema för ärendets egna XML-filer",
        f"  representations/{REPRESENTATION}/data/handlingar/  en XML-fil per handling",
        f"  representations/{REPRESENTATION}/data/bilagor/     bilagor i sina ursprungliga format",
        f"  representations/{REPRESENTATION}/data/historik.xml ärendets historik",
        "",
    ]
    if case.people_pseudonymised:
        lines.append("Personers namn är ersatta med pseudonymer (Person 1, Person 2 …) enligt gallringsbeslut.")
    return "\n".join(lines).encode("utf-8")


def write_package(case: ArchiveCase, out_dir: Path, submitter: Submitter, created: datetime, *,
                  objid: str | None = None) -> WrittenPackage:
    objid = objid or package_id(case)
    final = out_dir / objid
    if final.exists():
        raise FileExistsError(f"{final} already exists")
    staging = out_dir / f".{objid}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        writer = _Writer(staging, created)
        data: list[PackedFile] = []
        paths: dict[str, str] = {}
        for position, document in enumerate(case.documents, start=1):
            path = _document_path(position, document)
            paths[document.key] = path
            if document.kind == "attachment":
                if document.source is None or not document.source.is_file():
                    raise FileNotFoundError(f"the file of attachment {document.filename!r} is missing")
                data.append(writer.copy(path, document.source, document.mimetype or "application/octet-stream",
                                        created=document.created_at, original_name=document.filename,
                                        creator=document.agent))
            else:
                data.append(writer.write(path, document_xml(case, document), "application/xml",
                                         created=document.created_at, creator=document.agent))
        data.append(writer.write(f"representations/{REPRESENTATION}/data/historik.xml", history_xml(case),
                                 "application/xml"))
        schema = writer.write(f"schemas/{SCHEMA_FILE}", _SCHEMA_SOURCE.read_bytes(), "application/xml")
        documentation = writer.write("documentation/om-paketet.txt", _documentation(case, objid), "text/plain")
        software = f"{submitter.software} {submitter.software_version}"
        erms = writer.write("metadata/descriptive/erms.xml",
                            erms_xml(case, paths, software=software, created=created), "application/xml")
        label = f"{case.number} {case.title}"
        rep = writer.write(f"representations/{REPRESENTATION}/METS.xml",
                           representation_mets(REPRESENTATION, label, data, submitter, created), "application/xml")
        premis = writer.write("metadata/preservation/premis.xml",
                              premis_xml([*data, schema, documentation, erms, rep], software=submitter.software,
                                         software_version=submitter.software_version,
                                         organisation=submitter.organisation, created=created,
                                         pseudonymised=case.people_pseudonymised),
                              "application/xml")
        mets = writer.write("METS.xml", package_mets(
            objid, label, erms=erms, premis=premis, documentation=[documentation], schemas=[schema],
            representation=rep, representation_name=REPRESENTATION, submitter=submitter, created=created),
            "application/xml")
        every = [*data, schema, documentation, erms, rep, premis, mets]
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return WrittenPackage(objid=objid, path=final, files=len(every), bytes=sum(p.size for p in every),
                          mets_sha256=mets.sha256)


def zip_package(package: Path, target: Path) -> Path:
    """The package folder as a ZIP whose single top folder is the package (as E-ARK delivers it)."""
    tmp = target.with_name(f".{target.name}.partial")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package.rglob("*")):
            if path.is_file():
                archive.write(path, f"{package.name}/{path.relative_to(package).as_posix()}")
    tmp.rename(target)
    return target
