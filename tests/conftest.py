"""Shared fixtures: real SQLite files and throwaway PostgreSQL databases, a movable clock.

The migrations run once per test session, not once per test (tests/database_templates.py):
a SQLite template file is migrated the first time a test needs a database and copied for
every test after that; on PostgreSQL one template database is migrated per session, each
test gets `CREATE DATABASE ... TEMPLATE` of it, and a finished test's database is put back
to the template's rows and reused. Both are exactly what `iphs-flow db upgrade` makes
(tests/integration/test_migrations.py compares them with the models, and migrates an
empty database from scratch).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text

from iphs_flow.bootstrap import AppContext, build
from iphs_flow.config import Settings
from iphs_flow.engine import clock
from iphs_flow.services import accounts
from iphs_flow.store.migrate import upgrade
from tests.database_templates import (
    PgDatabases,
    PreparedWorlds,
    copy_file,
    new_sqlite_file,
    remove_template_dir,
    sqlite_template,
)
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


@pytest.fixture(scope="session", autouse=True)
def _remove_templates_at_the_end() -> Iterator[None]:
    yield
    remove_template_dir()


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


_POSTGRES: list[PgDatabases] = []  # this worker's, once a test has asked for PostgreSQL


@pytest.fixture(scope="session")
def postgres_databases(postgres_admin: str) -> Iterator[PgDatabases]:
    """This session's migrated template and the test databases made from it (dropped at the end)."""
    databases = PgDatabases(postgres_admin)
    _POSTGRES.append(databases)
    try:
        yield databases
    finally:
        _POSTGRES.remove(databases)
        databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PgDatabases) -> Iterator[str]:
    """A database for one test, migrated and holding only what the migrations put there."""
    url = postgres_databases.checkout()
    try:
        yield url
    finally:
        postgres_databases.checkin(url)


def _migrated_copy(url: str) -> bool:
    """Give a new database the migrated schema by copying the template; False if it must be migrated."""
    for databases in _POSTGRES:
        if url in databases.fresh:
            databases.fresh.discard(url)
            return True
    target = new_sqlite_file(url)
    if target is None:
        return False
    copy_file(sqlite_template(), target)
    return True


def _options(url: str, settings: dict[str, object]) -> Settings:
    options = {"database_url": url, "forms_dir": FIXTURES / "forms", "bpmn_dir": FIXTURES / "bpmn"}
    options.update(settings)
    return Settings(**options)  # type: ignore[arg-type]


def make_context(url: str, **settings: object) -> AppContext:
    """A context on `url` at the newest schema: a new database is a copy of the migrated template,
    an existing one is upgraded as `iphs-flow db upgrade` would."""
    copied = _migrated_copy(url)
    ctx = build(_options(url, settings))
    if not copied:
        upgrade(ctx.uow.engine)
    return ctx


def _open_context(url: str, **settings: object) -> AppContext:
    return build(_options(url, settings))


_PREPARED = PreparedWorlds(make_context, _open_context)


def prepared_context(url: str, prepare: Callable[[AppContext], None], **settings: object) -> AppContext:
    """`make_context(url, **settings)` and then `prepare(ctx)`, but on a new database by copying what
    `prepare` made once this session (under the same settings and clock) instead of doing it again.

    `prepare` must be a module-level function whose only input is the context: the world is
    known by its name.
    """
    name = f"{prepare.__module__}.{prepare.__qualname__}"
    return _PREPARED.context(url, name, prepare, settings, _POSTGRES[0] if _POSTGRES else None)


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
