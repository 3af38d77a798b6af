"""`iphs-flow backup PATH` and `iphs-flow restore PATH`: the database and the attachments
in one tar file, with a manifest of SHA-256 checksums.

SQLite is copied with SQLite's online backup API (`sqlite3.Connection.backup`): a
consistent snapshot taken while the app serves, including what is still only in the
`-wal` file (copying the file itself misses that). PostgreSQL is dumped with `pg_dump
--format=custom` (a consistent snapshot, by its own transaction) and restored with
`pg_restore --clean --if-exists --no-owner`; both programs must be on the PATH, of the
server's major version or newer.

The database is copied first, then the attachments: an attachment's file is written
before its row is committed, so every attachment the copied database names is in the
archive. Restore checks every checksum before it changes anything.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

FORMAT = "iphs-flow-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why, nothing was changed."""


@dataclass(frozen=True)
class BackupSummary:
    path: Path
    database: str
    attachments: int
    bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The SQLAlchemy URL as pg_dump/pg_restore understand it (no `+psycopg`), and the
    environment for them: the password goes in PGPASSWORD, not on a command line others can see."""
    url = make_url(database_url).set(drivername="postgresql")
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
        url = url.set(password=None)
    return url.render_as_string(hide_password=False), env


def _kind(database_url: str) -> str:
    backend = make_url(database_url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"cannot back up a {backend} database")
    return backend


def _sqlite_path(database_url: str) -> Path:
    name = make_url(database_url).database
    if not name or name == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(name)


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    except FileNotFoundError:
        raise BackupError(f"{command[0]} is not installed (needed to {what})") from None
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed ({what}): {done.stderr.strip()[:1000]}")


def _dump_database(database_url: str, folder: Path) -> Path:
    if _kind(database_url) == "sqlite":
        source_path = _sqlite_path(database_url)
        if not source_path.exists():
            raise BackupError(f"there is no database at {source_path}")
        target = folder / SQLITE_MEMBER
        source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
        dest = sqlite3.connect(target)
        try:
            with dest:
                # One step, in one read transaction: a consistent snapshot; in WAL mode writers go on meanwhile
                # (a copy in several steps would restart whenever another connection writes).
                source.backup(dest)
        finally:
            dest.close()
            source.close()
        return target
    target = folder / PG_MEMBER
    url, env = _libpq(database_url)
    _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(target), url], "dump the database", env)
    return target


def backup(database_url: str, attachments_dir: Path, path: Path) -> BackupSummary:
    """Write the database and the attachments to the tar file `path` (created anew)."""
    path = Path(path)
    if path.exists():
        raise BackupError(f"{path} exists already; give a new file name")
    kind = _kind(database_url)
    attachments_dir = Path(attachments_dir)
    with tempfile.TemporaryDirectory(prefix="iphs-backup-", dir=path.parent if path.parent.exists() else None) as tmp:
        folder = Path(tmp)
        dump = _dump_database(database_url, folder)  # first the database, then the files it names
        files: dict[str, dict[str, object]] = {dump.name: {"sha256": _sha256(dump), "bytes": dump.stat().st_size}}
        members: list[tuple[Path, str]] = [(dump, dump.name)]
        if attachments_dir.is_dir():
            for item in sorted(attachments_dir.rglob("*")):
                if item.is_file() and not item.name.startswith("."):  # ".<name>.part": an upload being written
                    name = "attachments/" + item.relative_to(attachments_dir).as_posix()
                    files[name] = {"sha256": _sha256(item), "bytes": item.stat().st_size}
                    members.append((item, name))
        manifest = {"format": FORMAT, "created_at": datetime.now(UTC).isoformat(), "database": kind,
                    "files": files}
        partial = path.with_name(path.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
            for source, name in members:
                archive.add(source, arcname=name, recursive=False)
        os.replace(partial, path)  # a backup file is complete or absent
    return BackupSummary(path, kind, len(members) - 1, path.stat().st_size)


def _read_manifest(archive: tarfile.TarFile) -> dict[str, object]:
    try:
        member = archive.getmember(MANIFEST)
        handle = archive.extractfile(member)
        manifest = json.loads(handle.read()) if handle else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("this is not an IPHS Flow backup (no manifest of format " + FORMAT + ")")
    return manifest


def _unpack_checked(path: Path, folder: Path) -> dict[str, object]:
    """Extract and verify every file of the manifest; anything wrong is refused before a change."""
    try:
        archive = tarfile.open(path, "r")  # noqa: SIM115 - closed by the with below, after the error check
    except (OSError, tarfile.TarError) as err:
        raise BackupError(f"cannot read {path}: {err}") from None
    with archive:
        manifest = _read_manifest(archive)
        files = manifest.get("files")
        if not isinstance(files, dict):
            raise BackupError("the manifest lists no files")
        for name in files:
            if name.startswith("/") or ".." in Path(name).parts:
                raise BackupError(f"the backup names a file outside its folder: {name}")
        archive.extractall(folder, members=[m for m in archive.getmembers() if m.name in files and m.isfile()],
                           filter="data")
    for name, meta in files.items():
        target = folder / name
        if not target.is_file():
            raise BackupError(f"the backup lacks {name}")
        if _sha256(target) != meta.get("sha256"):  # type: ignore[union-attr]
            raise BackupError(f"{name} does not match its checksum: the backup is damaged")
    return manifest


def restore(database_url: str, attachments_dir: Path, path: Path, force: bool = False) -> BackupSummary:
    """Put a backup back: the database (replacing it) and the attachments."""
    path, attachments_dir = Path(path), Path(attachments_dir)
    kind = _kind(database_url)
    with tempfile.TemporaryDirectory(prefix="iphs-restore-") as tmp:
        folder = Path(tmp)
        manifest = _unpack_checked(path, folder)
        if manifest.get("database") != kind:
            raise BackupError(f"the backup holds a {manifest.get('database')} database; the target is {kind}")
        if attachments_dir.is_dir() and any(attachments_dir.iterdir()) and not force:
            raise BackupError(f"{attachments_dir} is not empty; restore with --force to replace it")
        if kind == "sqlite":
            target = _sqlite_path(database_url)
            if target.exists() and not force:
                raise BackupError(f"{target} exists; restore with --force to replace it (stop the app first)")
            target.parent.mkdir(parents=True, exist_ok=True)
            for leftover in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
                leftover.unlink(missing_ok=True)
            source = sqlite3.connect(folder / SQLITE_MEMBER)
            dest = sqlite3.connect(target)
            try:
                source.backup(dest)
            finally:
                dest.close()
                source.close()
        else:
            url, env = _libpq(database_url)
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--exit-on-error", "--single-transaction",
                  "--dbname", url, str(folder / PG_MEMBER)], "restore the database", env)
        restored = folder / "attachments"
        count = 0
        if force and attachments_dir.is_dir():
            shutil.rmtree(attachments_dir)
        attachments_dir.mkdir(parents=True, exist_ok=True)
        if restored.is_dir():
            for item in restored.rglob("*"):
                if item.is_file():
                    destination = attachments_dir / item.relative_to(restored)
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(item, destination)
                    count += 1
    return BackupSummary(path, kind, count, path.stat().st_size)
