"""Shared fixtures: real SQLite files and throwaway PostgreSQL databases, a movable clock.

The migrations run once per test session, not once per test: a SQLite template file is
migrated the first time a test needs a database and copied for every test after that;
on PostgreSQL one template database is migrated per session and each test gets
`CREATE DATABASE ... TEMPLATE` of it (a file copy inside the server). Both are exactly
what `iphs-flow db upgrade` makes (tests/integration/test_migrations.py compares them
with the models, and migrates an empty database from scratch).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from iphs_flow.bootstrap import AppContext, build
from iphs_flow.config import Settings
from iphs_flow.engine import clock
from iphs_flow.services import accounts
from iphs_flow.store.database import make_engine
from iphs_flow.store.migrate import upgrade
from tests.smtp_server import MailServer

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PG_ADMIN_URL = os.environ.get("IPHS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("IPHS_REQUIRE_POSTGRES") == "1"

# Test accounts are hashed with argon2id at its cheapest: a test world makes a dozen accounts and
# the production cost (tests/integration/test_permissions.py checks it) would be most of its time.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
accounts.use_password_hasher(FAST_HASHER)

# A Thursday in term time, well away from holidays, 09:00 in Stockholm.
T0 = datetime(2026, 3, 12, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _real_clock_after_each_test() -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    """A real SMTP server (aiosmtpd) on a free localhost port, collecting what it receives."""
    server = MailServer().start()
    yield server
    server.stop()


@pytest.fixture
def frozen_clock() -> Iterator[datetime]:
    """The engine clock stopped at T0; tests move it with clock.advance()."""
    clock.freeze(T0)
    yield T0
    clock.reset()


# ---------------------------------------------------------------- migrated once per session

_TEMPLATE_DIR = Path(tempfile.mkdtemp(prefix="iphs-test-template-"))
_SQLITE_TEMPLATE = _TEMPLATE_DIR / "migrated.db"
_FROM_PG_TEMPLATE: set[str] = set()  # URLs of databases created from the migrated template, not yet used


def _sqlite_template() -> Path:
    """A SQLite file migrated to the newest schema, made the first time a test asks."""
    if not _SQLITE_TEMPLATE.exists():
        part = _TEMPLATE_DIR / "migrating.db"
        engine = make_engine(f"sqlite:///{part}")
        upgrade(engine)
        engine.dispose()  # closes the last connection: WAL checkpointed, one self-contained file
        part.rename(_SQLITE_TEMPLATE)
    return _SQLITE_TEMPLATE


def _migrated_copy(url: str) -> bool:
    """Give a new database the migrated schema by copying the template; False if it must be migrated."""
    if url in _FROM_PG_TEMPLATE:
        _FROM_PG_TEMPLATE.discard(url)
        return True
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return False
    target = Path(parsed.database)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template(), target)
    return True


@pytest.fixture(scope="session", autouse=True)
def _remove_templates_at_the_end() -> Iterator[None]:
    yield
    shutil.rmtree(_TEMPLATE_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[str]:
    """The PostgreSQL server; missing is a skip locally and a failure when it is required."""
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as err:
        message = f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {err}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    finally:
        engine.dispose()
    yield PG_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: str) -> Iterator[str]:
    """One database per session with every migration applied: the template of each test's database."""
    name = f"iphs_template_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(make_url(postgres_admin).set(database=name).render_as_string(hide_password=False))
    try:
        upgrade(engine)
        engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template without connections
        yield name
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url(postgres_admin: str, postgres_template: str) -> Iterator[str]:
    """A fresh database for one test, already migrated (a copy of the template), dropped afterwards."""
    name = f"iphs_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    url = make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    _FROM_PG_TEMPLATE.add(url)
    try:
        yield url
    finally:
        _FROM_PG_TEMPLATE.discard(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_context(url: str, **settings: object) -> AppContext:
    """A context on `url` at the newest schema: a new database is a copy of the migrated template,
    an existing one is upgraded as `iphs-flow db upgrade` would."""
    options = {"database_url": url, "forms_dir": FIXTURES / "forms", "bpmn_dir": FIXTURES / "bpmn"}
    options.update(settings)
    copied = _migrated_copy(url)
    ctx = build(Settings(**options))  # type: ignore[arg-type]
    if not copied:
        upgrade(ctx.uow.engine)
    return ctx


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'iphs.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs twice: on a SQLite file and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'iphs.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ctx(db_url: str) -> Iterator[AppContext]:
    context = make_context(db_url)
    yield context
    context.close()


def fixture_files(*names: str) -> dict[str, bytes]:
    return {name: (FIXTURES / "bpmn" / name).read_bytes() for name in names}


# The test people live in tests/people.py; the service tests import them from here too.
from tests.people import ADMIN, ANNA, BERTIL, DESIGNER, LEAD, MANAGER  # noqa: E402

__all__ = ["ADMIN", "ANNA", "BERTIL", "DESIGNER", "LEAD", "MANAGER", "make_context", "fixture_files"]
