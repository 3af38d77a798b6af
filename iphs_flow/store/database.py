"""Database engines for the embedded default (SQLite, WAL) and for PostgreSQL.

On PostgreSQL a pooled connection is pinged before use only when it has sat idle in the pool
for more than PING_AFTER_IDLE_SECONDS (`_ping_after_idle`): a request on a connection given back
a moment ago is spared the round trip that pool_pre_ping pays on every checkout, while one that
waited long enough for the server to have restarted or a firewall to have dropped it is checked
and, if dead, replaced before the request sees it.

SQLite serialises writers; to make that explicit (and to turn "two people completed the
same task" into a clean conflict instead of SQLITE_BUSY half-way through), write
transactions start with BEGIN IMMEDIATE and read transactions with a plain BEGIN.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url

WRITE = "iphs_write"
# A read whose statements need no common snapshot (unit_of_work.UnitOfWork.read(snapshot=False)):
# on SQLite no BEGIN, each statement reads as of itself.
NO_SNAPSHOT = "iphs_no_snapshot"
# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0
_RETURNED = "iphs_returned_at"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(WRITE, False):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        elif not options.get(NO_SNAPSHOT, False):
            connection.exec_driver_sql("BEGIN")


def _ping_after_idle(engine: Engine, idle_seconds: float) -> None:
    """SQLAlchemy's custom pessimistic ping, for connections that were idle: a dead one raises
    InvalidatePoolError, so the pool replaces it (and every connection pooled before it, dead
    too after a server restart) and the request gets a fresh connection instead of an error."""

    @event.listens_for(engine.pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.pop(_RETURNED, None)
        if returned is None or time.monotonic() - returned <= idle_seconds:
            return  # just connected, or given back a moment ago
        gone = f"a pooled connection idle for {time.monotonic() - returned:.0f} s is gone"
        try:
            alive = engine.dialect.do_ping(dbapi_connection)  # pool_pre_ping's own: one SELECT 1, autocommit
        except Exception as err:
            raise exc.InvalidatePoolError(f"{gone}: {err}") from err
        if not alive:
            raise exc.InvalidatePoolError(gone)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for `url`, creating the SQLite file's folder if needed."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, **kwargs)
        _sqlite_setup(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if "poolclass" not in kwargs:  # sizes for the default QueuePool (a NullPool takes none)
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        # The most recently returned connection first: under light load one stays warm and unpinged,
        # and the rest age until the idle ping checks them.
        kwargs.setdefault("pool_use_lifo", True)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine
