"""`iphs-flow backup` while writes run, `iphs-flow restore` into a fresh place: every write
acknowledged before the backup began is there, attachments included (SQLite and PostgreSQL)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import uuid

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from iphs_flow.services import accounts, attachments, cases, processes
from iphs_flow.services.permissions import Actor
from iphs_flow.store.tables import Case, CaseAttachment
from tests.conftest import DESIGNER, ROOT, fixture_files, make_context

ANNA = Actor("anna", frozenset({"idea_owner"}))


def cli(*args: str, url: str, files) -> subprocess.CompletedProcess:
    env = dict(os.environ, IPHS_DATABASE_URL=url, IPHS_ATTACHMENTS_DIR=str(files), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "iphs_flow", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def fresh_target(db_url, tmp_path, request):
    """Where to restore: a new SQLite file, or a new empty PostgreSQL database."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored' / 'iphs.db'}"
        return
    admin_url = request.getfixturevalue("postgres_admin")
    name = f"iphs_restore_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def test_a_backup_taken_while_writes_run_restores_every_acknowledged_write(db_url, tmp_path, fresh_target):
    files = tmp_path / "files"
    ctx = make_context(db_url, attachments_dir=files)
    processes.deploy_process(ctx, fixture_files("gate_decision.bpmn"), DESIGNER)
    accounts.add_user(ctx, "anna", "Anna")
    first = cases.start_case(ctx, "gate_decision", {"title": "Med bilaga"}, ANNA)
    attachments.add_attachment(ctx, first.id, "trafik.csv", io.BytesIO("Mätpunkt;Bilar\n1;20\n".encode()), ANNA)

    acknowledged: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        n = 0
        while not stop.is_set():
            try:
                view = cases.start_case(ctx, "gate_decision", {"title": f"Skrivning {n}"}, ANNA)
            except BaseException as err:  # the test fails on any, after joining
                errors.append(err)
                return
            acknowledged.append(view.id)
            n += 1

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acknowledged) < 20:
        stop.wait(0.05)
    before_backup = list(acknowledged)
    archive = tmp_path / "backup.tar"
    done = cli("backup", str(archive), url=db_url, files=files)
    while len(acknowledged) < len(before_backup) + 5:  # writes went on during the backup, and after it
        stop.wait(0.05)
    stop.set()
    thread.join()
    assert not errors and done.returncode == 0, (errors, done.stderr)
    ctx.close()

    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert "manifest.json" in names and any(n.startswith("attachments/") for n in names)

    restored_files = tmp_path / "restored-files"
    result = cli("restore", str(archive), url=fresh_target, files=restored_files)
    assert result.returncode == 0, result.stderr
    restored = make_context(fresh_target, attachments_dir=restored_files)  # also: the schema is current
    with restored.uow.read() as tx:
        ids = set(tx.session.execute(select(Case.id)).scalars())
        stored = tx.session.execute(select(CaseAttachment.stored_name)).scalars().all()
    assert {first.id, *before_backup} <= ids  # every write acknowledged before the backup began
    assert len(stored) == 1 and (restored_files / stored[0]).read_bytes() == "Mätpunkt;Bilar\n1;20\n".encode()
    restored.close()


def test_a_damaged_backup_is_refused_before_anything_changes(sqlite_url, tmp_path):
    files = tmp_path / "files"
    ctx = make_context(sqlite_url, attachments_dir=files)
    ctx.close()
    archive = tmp_path / "backup.tar"
    assert cli("backup", str(archive), url=sqlite_url, files=files).returncode == 0
    with tarfile.open(archive) as tar:
        member = tar.getmember("database.sqlite")
    data = bytearray(archive.read_bytes())
    data[member.offset_data + member.size // 2] ^= 0xFF  # flip a byte inside the database copy
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    target = tmp_path / "target" / "iphs.db"
    result = cli("restore", str(damaged), url=f"sqlite:///{target}", files=tmp_path / "target-files")
    assert result.returncode == 1 and ("checksum" in result.stderr or "cannot read" in result.stderr)
    assert not target.exists()
    existing = cli("restore", str(archive), url=sqlite_url, files=files)
    assert existing.returncode == 1 and "--force" in existing.stderr  # never over a live database by accident
