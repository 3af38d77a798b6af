"""Databases for tests without running the migrations for each: templates, copies and resets.

The migrations run once per test session (per xdist worker). A SQLite test database is a
copy of a template file migrated the first time a test needs one. On PostgreSQL a test's
database is made with `CREATE DATABASE ... TEMPLATE` of one migrated template, and after
the test it is kept and reset, not dropped: dropping a database costs 1.5-5 s on this
machine (its files are removed and fsynced), putting back the template's rows costs a few
hundredths. A database is only reset when its schema, settings and Alembic revision still
match the template's (its fingerprint); one a test changed is dropped.

A "prepared" world (the shipped processes deployed and their people added, say) is kept the
same way: the first test that needs it builds it, a copy of the result is kept (the file on
SQLite, the rows and sequences on PostgreSQL), and each later new test database under the
same settings and clock gets the copy instead of deploying again: exactly what running the
same steps would leave behind.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine import clock
from iphs_flow.store.database import make_engine
from iphs_flow.store.migrate import upgrade

_TEMPLATE_DIR: list[Path] = []


def template_dir() -> Path:
    """This process's folder of template files, made when first needed (an xdist controller runs
    no test and makes none)."""
    if not _TEMPLATE_DIR:
        _TEMPLATE_DIR.append(Path(tempfile.mkdtemp(prefix="iphs-test-template-")))
    return _TEMPLATE_DIR[0]


def remove_template_dir() -> None:
    while _TEMPLATE_DIR:
        shutil.rmtree(_TEMPLATE_DIR.pop(), ignore_errors=True)


def database_url(admin_url: str, name: str) -> str:
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def connect(url: str) -> psycopg.Connection:
    """A plain psycopg connection (autocommit) to the database of a SQLAlchemy URL."""
    return psycopg.connect(_libpq(url), autocommit=True)


# ---------------------------------------------------------------- SQLite


def sqlite_template() -> Path:
    """A SQLite file migrated to the newest schema, made the first time a test asks."""
    template = template_dir() / "migrated.db"
    if not template.exists():
        part = template_dir() / "migrating.db"
        engine = make_engine(f"sqlite:///{part}")
        upgrade(engine)
        engine.dispose()
        _self_contained(part)
        part.rename(template)
    return template


def _self_contained(path: Path) -> None:
    """Fold the write-ahead log into the file, so that copying the file copies the database."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("pragma wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    if Path(f"{path}-wal").exists():
        raise RuntimeError(f"{path} still has a write-ahead log: a connection to it is open")


def new_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL that does not exist yet (a new database), else None."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    target = Path(parsed.database)
    return None if target.exists() else target


def copy_file(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


# ---------------------------------------------------------------- PostgreSQL

# What a database made from the template looks like: its schemas, tables, columns, constraints,
# indexes, sequences, types, triggers, functions, extensions, Alembic revision, whether it takes
# connections and its settings. A test's database with the template's fingerprint, its rows
# and sequences put back, is as good as a new copy.
FINGERPRINT = """
    select md5(concat_ws('|',
      (select string_agg(nspname, ',' order by nspname) from pg_namespace
        where nspname not like 'pg\\_%' and nspname <> 'information_schema'),
      (select string_agg(concat_ws(':', table_name, column_name, data_type, is_nullable, column_default,
                                   is_generated, generation_expression), ',' order by table_name, column_name)
         from information_schema.columns where table_schema = 'public'),
      (select string_agg(conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid), ','
                         order by conrelid::regclass::text, conname)
         from pg_constraint where connamespace = 'public'::regnamespace),
      (select string_agg(indexdef, ',' order by indexdef) from pg_indexes where schemaname = 'public'),
      (select string_agg(sequencename || ':' || increment_by::text || ':' || start_value::text, ','
                         order by sequencename) from pg_sequences where schemaname = 'public'),
      (select string_agg(typname || ':' || typtype::text, ',' order by typname) from pg_type
        where typnamespace = 'public'::regnamespace and typtype in ('e', 'd', 'r')),
      (select string_agg(table_name || md5(view_definition), ',' order by table_name)
         from information_schema.views where table_schema = 'public'),
      (select string_agg(tgname, ',' order by tgname) from pg_trigger where not tgisinternal),
      (select string_agg(p.proname || md5(p.prosrc), ',' order by p.proname)
         from pg_proc p where p.pronamespace = 'public'::regnamespace),
      (select string_agg(extname, ',' order by extname) from pg_extension),
      (select string_agg(version_num, ',' order by version_num) from alembic_version),
      (select datallowconn::text from pg_database where datname = current_database()),
      (select string_agg(array_to_string(setconfig, ','), ';' order by setrole)
         from pg_db_role_setting r join pg_database d on d.oid = r.setdatabase
        where d.datname = current_database())))
"""

_TABLES = """select quote_ident(tablename) from pg_tables
              where schemaname = 'public' and tablename <> 'alembic_version' order by 1"""
_COLUMNS = """select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
               where attrelid = %s::regclass and attnum > 0 and not attisdropped and attgenerated = ''"""
_SEQUENCES = """select quote_ident(schemaname) || '.' || quote_ident(sequencename) from pg_sequences
                 where schemaname = 'public' order by 1"""


def fingerprint(conn: psycopg.Connection) -> str:
    return conn.execute(FINGERPRINT).fetchone()[0]  # type: ignore[index]


@dataclass(frozen=True)
class PgRows:
    """Everything a database holds beyond its schema: its tables' rows and where its sequences stand."""

    tables: tuple[str, ...]  # every table but alembic_version, quoted
    rows: tuple[tuple[str, str, bytes], ...]  # (table, its stored columns, COPY text) of the tables with rows
    sequences: tuple[tuple[str, int, bool], ...]  # (sequence, last_value, is_called)

    @classmethod
    def take(cls, conn: psycopg.Connection) -> PgRows:
        tables = tuple(row[0] for row in conn.execute(_TABLES))
        rows = []
        for table in tables:
            if conn.execute(f"select exists (select from public.{table})").fetchone()[0]:  # type: ignore[index]
                columns = conn.execute(_COLUMNS, (f"public.{table}",)).fetchone()[0]  # type: ignore[index]
                with conn.cursor().copy(f"copy (select {columns} from public.{table}) to stdout") as copy:
                    rows.append((table, columns, b"".join(bytes(chunk) for chunk in copy)))
        sequences = []
        for (sequence,) in conn.execute(_SEQUENCES).fetchall():
            last, called = conn.execute(f"select last_value, is_called from {sequence}").fetchone()  # type: ignore[misc]
            sequences.append((sequence, last, called))
        return cls(tables, tuple(rows), tuple(sequences))

    def put_back(self, conn: psycopg.Connection) -> None:
        """Replace every row with these and set the sequences where they stood, in one transaction.

        As a superuser the rows are deleted with triggers and foreign-key checks off (the rows
        put back are consistent; DELETE is far cheaper than TRUNCATE's new files); otherwise
        the tables are truncated.
        """
        with conn.transaction():
            if _is_superuser(conn):
                conn.execute("set local session_replication_role = replica")
                conn.execute("; ".join(f"delete from public.{table}" for table in self.tables))
            else:
                conn.execute(f"truncate {', '.join(f'public.{table}' for table in self.tables)}")
            for table, columns, data in self.rows:
                with conn.cursor().copy(f"copy public.{table} ({columns}) from stdin") as copy:
                    copy.write(data)
            with conn.cursor() as cur:
                cur.executemany("select setval(%s::regclass, %s, %s)", list(self.sequences))


def _is_superuser(conn: psycopg.Connection) -> bool:
    return bool(conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0])  # type: ignore[index]


class PgDatabases:
    """One worker's PostgreSQL test databases: the migrated template and the databases made from it.

    `checkout()` hands out a database in the template's state (new, or a finished one put
    back); `checkin()` keeps a finished one for the next test, or drops it if a test changed
    its schema. Names are random, so xdist workers (and other checkouts) never meet.
    """

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template = f"iphs_template_{uuid.uuid4().hex[:12]}"
        self.fresh: set[str] = set()  # URLs handed out in the template's state and not yet used
        self._kept: list[str] = []  # finished databases with the template's schema, to be put back
        self._mine: set[str] = set()
        with connect(admin_url) as admin:
            admin.execute(f'create database "{self.template}"')
        engine = make_engine(database_url(admin_url, self.template))
        try:
            upgrade(engine)
        finally:
            engine.dispose()  # CREATE DATABASE ... TEMPLATE needs the template without connections
        with connect(self.url(self.template)) as conn:
            self.template_fingerprint = fingerprint(conn)
            self.template_rows = PgRows.take(conn)

    def url(self, name: str) -> str:
        return database_url(self.admin_url, name)

    def checkout(self) -> str:
        """A database for one test, holding what the migrations put there and nothing else."""
        if self._kept:
            name = self._kept.pop()
            with connect(self.url(name)) as conn:
                self.template_rows.put_back(conn)
        else:
            name = f"iphs_test_{uuid.uuid4().hex[:12]}"
            with connect(self.admin_url) as admin:
                admin.execute(f'create database "{name}" template "{self.template}"')
            self._mine.add(name)
        url = self.url(name)
        self.fresh.add(url)
        return url

    def checkin(self, url: str) -> None:
        """Keep a finished test's database if its schema is still the template's, else drop it."""
        self.fresh.discard(url)
        name = make_url(url).database
        assert name in self._mine, f"{name} was not handed out here"
        try:
            with connect(url) as conn:
                conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                             "where datname = current_database() and pid <> pg_backend_pid()")
                same = fingerprint(conn) == self.template_fingerprint
        except psycopg.Error:
            same = False
        if same:
            self._kept.append(name)
        else:
            self._drop(name)

    def _drop(self, name: str) -> None:
        with connect(self.admin_url) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')
        self._mine.discard(name)

    def close(self) -> None:
        for name in [*self._mine, self.template]:
            self._drop(name)
        self._kept.clear()


# ---------------------------------------------------------------- prepared worlds


def _clock_state() -> object | None:
    """What the engine clock is doing, as part of a prepared world's key; None: make the world anew.

    A world prepared under a frozen clock holds that instant, so it is kept per instant. One
    prepared under the real clock holds a time from earlier in the session, as if it had been
    made a little before the test. Under an advanced clock the world is made anew.
    """
    frozen, offset = clock._frozen, clock._offset  # the module's own state: there is no public reader
    if frozen is not None:
        return ("frozen", frozen)
    return "real" if offset == timedelta(0) else None


class PreparedWorlds:
    """Worlds made once per session and copied into new test databases.

    `context(url, name, prepare, settings)` is `make_context(url, **settings)` followed by
    `prepare(ctx)`. The first time, that is what it does, and it keeps a copy of the result
    (the SQLite file through SQLite's backup, or the PostgreSQL rows); after that a new
    database under the same settings and clock gets the copy instead.
    """

    def __init__(self, make_context: Callable[..., AppContext], open_context: Callable[..., AppContext]) -> None:
        self._make_context = make_context  # a context at the newest schema, migrating if need be
        self._open_context = open_context  # a context on a database known to be at the newest schema
        self._sqlite: dict[tuple, Path] = {}
        self._pg: dict[tuple, PgRows] = {}

    def context(self, url: str, name: str, prepare: Callable[[AppContext], None], settings: dict[str, Any],
                postgres: PgDatabases | None) -> AppContext:
        state = _clock_state()
        key = (name, state, repr(sorted(settings.items())))
        target = new_sqlite_file(url)
        fresh_pg = postgres is not None and url in postgres.fresh
        if state is not None and target is not None and key in self._sqlite:
            copy_file(self._sqlite[key], target)
            return self._open_context(url, **settings)
        if state is not None and fresh_pg and key in self._pg:
            assert postgres is not None
            with connect(url) as conn:
                self._pg[key].put_back(conn)
            postgres.fresh.discard(url)
            return self._open_context(url, **settings)
        ctx = self._make_context(url, **settings)
        prepare(ctx)
        if state is not None and target is not None:
            self._sqlite[key] = _backup(target, template_dir() / f"prepared-{len(self._sqlite)}.db")
        elif state is not None and fresh_pg:
            with connect(url) as conn:
                self._pg[key] = PgRows.take(conn)
        return ctx


def _backup(source: Path, target: Path) -> Path:
    """A self-contained copy of a SQLite database that may be open (SQLite's online backup)."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target
