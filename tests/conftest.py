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
from sqlalchemy.pool import NullPool

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


# What a database made from the template looks like: its tables, columns, indexes, triggers,
# functions, extensions, Alembic revision and whether it takes connections. A test's
# database with the same fingerprint once emptied is as good as a new copy.
_FINGERPRINT = text("""
    select md5(concat_ws('|',
      (select string_agg(concat_ws(':', table_name, column_name, data_type, is_nullable, column_default,
                                   is_generated, generation_expression), ',' order by table_name, column_name)
         from information_schema.columns where table_schema = 'public'),
      (select string_agg(indexdef, ',' order by indexdef) from pg_indexes where schemaname = 'public'),
      (select string_agg(tgname, ',' order by tgname) from pg_trigger where not tgisinternal),
      (select string_agg(p.proname || md5(p.prosrc), ',' order by p.proname)
         from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'),
      (select string_agg(extname, ',' order by extname) from pg_extension),
      (select string_agg(version_num, ',') from alembic_version),
      (select datallowconn::text || coalesce(array_to_string(datconfig, ','), '')
         from pg_database d left join pg_db_role_setting r on r.setdatabase = d.oid
        where datname = current_database())))
""")
_PG_TEMPLATE_FINGERPRINT: dict[str, str] = {}
_PG_CLEAN: list[str] = []  # databases emptied after their test, ready for the next one


def _fingerprint(url: str) -> str | None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(_FINGERPRINT).scalar_one()
    except Exception:
        return None
    finally:
        engine.dispose()


def _empty_for_reuse(admin_url: str, name: str, template: str) -> bool:
    """Empty a finished test's database so the next test can have it; False if it is not like new.

    Creating a database from the template and dropping it cost 1.5-2.5 s on this machine
    (each checkpoints); emptying one costs a fraction. A database whose schema, settings or
    revision a test changed (the fingerprint differs) is dropped instead.
    """
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("select pg_terminate_backend(pid) from pg_stat_activity "
                              "where datname = current_database() and pid <> pg_backend_pid()"))
            if conn.execute(_FINGERPRINT).scalar_one() != _PG_TEMPLATE_FINGERPRINT.get(template):
                return False
            tables = conn.execute(text("select quote_ident(tablename) from pg_tables "
                                       "where schemaname = 'public' and tablename <> 'alembic_version'")).scalars()
            conn.execute(text(f"truncate {', '.join(tables)} restart identity cascade"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


@pytest.fixture
def postgres_url(postgres_admin: str, postgres_template: str) -> Iterator[str]:
    """A database for one test, migrated and empty: a copy of the template, or one a finished test emptied."""
    if postgres_template not in _PG_TEMPLATE_FINGERPRINT:
        template_url = make_url(postgres_admin).set(database=postgres_template).render_as_string(hide_password=False)
        _PG_TEMPLATE_FINGERPRINT[postgres_template] = _fingerprint(template_url) or ""
    admin = create_engine(postgres_admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    if _PG_CLEAN:
        name = _PG_CLEAN.pop()
    else:
        name = f"iphs_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    url = make_url(postgres_admin).set(database=name).render_as_string(hide_password=False)
    _FROM_PG_TEMPLATE.add(url)
    try:
        yield url
    finally:
        _FROM_PG_TEMPLATE.discard(url)
        if _empty_for_reuse(postgres_admin, name, postgres_template):
            _PG_CLEAN.append(name)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_clean_databases_at_the_end() -> Iterator[None]:
    yield
    if _PG_CLEAN:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            for name in _PG_CLEAN:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        _PG_CLEAN.clear()


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
