"""Files attached to a case: checked by their content, stored under random names, shown to those who see the case.

The uploaded name is only a label. What the file *is* is decided by its first bytes (and,
for office documents, by what the zip contains), and it must agree with the extension, so
a script renamed to .pdf is refused. Files are written under `IPHS_ATTACHMENTS_DIR` with a
random name and served only as downloads (Content-Disposition: attachment).
"""

from __future__ import annotations

import io
import os
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import CaseAttachment

from .errors import InvalidInput, NotFound
from .permissions import Actor
from .read_log import record_read
from .registration import register_attachment, withheld_from
from .visibility import require_visible, visible_case

TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "odt": "application/vnd.oasis.opendocument.text",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "png": "image/png",
    "jpg": "image/jpeg",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
ALIASES = {"jpeg": "jpg"}
_ZIP_MARKERS = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml", "pptx": "ppt/presentation.xml"}
_ODF = {"odt": b"application/vnd.oasis.opendocument.text", "ods": b"application/vnd.oasis.opendocument.spreadsheet"}


@dataclass(frozen=True)
class AttachmentView:
    id: int
    case_id: int
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    created_at: datetime


def _view(row: CaseAttachment) -> AttachmentView:
    return AttachmentView(row.id, row.case_id, row.filename, row.content_type, row.size, row.uploaded_by,
                          row.created_at)


def sniff(content: bytes) -> str | None:
    """The allowed type the bytes really are, or None."""
    if content.startswith(b"%PDF-"):
        return "pdf"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if content.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if content.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = set(archive.namelist())
                for kind, marker in _ZIP_MARKERS.items():
                    if marker in names:
                        return kind
                if "mimetype" in names:
                    mimetype = archive.read("mimetype").strip()
                    for kind, expected in _ODF.items():
                        if mimetype == expected:
                            return kind
        except (zipfile.BadZipFile, KeyError, OSError):
            return None
        return None
    if b"\x00" in content:
        return None
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text"


def clean_filename(name: str) -> str:
    """A display name without paths or control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().strip(".")
    return base[:200] or "fil"


def add_attachment(ctx: AppContext, case_ref: str | int, filename: str, stream: BinaryIO,
                   actor: Actor) -> AttachmentView:
    limit = ctx.settings.attachment_max_bytes
    content = stream.read(limit + 1)
    name = clean_filename(filename)
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    extension = ALIASES.get(extension, extension)
    if not content:
        raise InvalidInput("choose a file to attach", {"file": ["empty"]})
    if len(content) > limit:
        raise InvalidInput(f"the file is larger than {limit // (1024 * 1024)} MB", {"file": ["too large"]})
    if extension not in TYPES:
        raise InvalidInput(f"files of type '.{extension}' cannot be attached; allowed: "
                           + ", ".join(sorted(TYPES)), {"file": ["type not allowed"]})
    kind = sniff(content)
    if kind is None or (kind == "text" and extension not in ("txt", "csv")) or (kind != "text" and kind != extension):
        raise InvalidInput(f"the file's content is not a .{extension} file", {"file": ["content does not match"]})
    with ctx.uow.write() as tx:
        case = visible_case(tx, case_ref, actor)
        stored = secrets.token_hex(20)
        folder = Path(ctx.settings.attachments_dir)
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{stored}.part"
        with open(temporary, "xb") as out:
            out.write(content)
        os.replace(temporary, folder / stored)
        row = CaseAttachment(case_id=case.id, uploaded_by=actor.username, filename=name, stored_name=stored,
                             content_type=TYPES[extension], size=len(content), created_at=now())
        tx.attachments.add(row)
        tx.events.add(case.id, actor.username, "attachment_added", data={"filename": name, "size": len(content)})
        try:
            tx.flush()
            register_attachment(tx, case, row, actor.username)  # an incoming document of the case (OSL 5 kap.)
            view = _view(row)
            tx.commit()
        except Exception:
            (folder / stored).unlink(missing_ok=True)
            raise
    return view


def list_attachments(ctx: AppContext, case_ref: str | int, actor: Actor) -> list[AttachmentView]:
    with ctx.uow.read() as tx:
        case = visible_case(tx, case_ref, actor)
        rows = tx.attachments.for_case(case.id)
        withheld = withheld_from(tx, actor, case)
        return [_view(r) for r in rows if not withheld.hides_attachment(r.id)]


def open_attachment(ctx: AppContext, attachment_id: int, actor: Actor) -> tuple[AttachmentView, Path]:
    """The attachment and where its bytes are, for someone who may see its case (else NotFound)."""
    with ctx.uow.read() as tx:
        row = tx.attachments.get(attachment_id)
        if row is None:
            raise NotFound(f"there is no attachment {attachment_id}")
        case = tx.cases.get(row.case_id)
        require_visible(tx, actor, case, f"for attachment {attachment_id}")
        if withheld_from(tx, actor, case).hides_attachment(row.id):  # secret (OSL): not there for non-handlers
            raise NotFound(f"there is no attachment {attachment_id}")
        path = Path(ctx.settings.attachments_dir) / row.stored_name
        if not path.is_file():
            raise NotFound(f"the file of attachment {attachment_id} is missing")
        view = _view(row)
    record_read(ctx, view.case_id, actor, f"attachment:{attachment_id}")
    return view, path
