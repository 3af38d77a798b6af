"""The unit of work: one transaction per use case, with the repositories it needs.

Services say `with uow.write() as tx:` (or `uow.read()`), use `tx.cases`,
`tx.tasks` ... and call `tx.commit()`. Leaving the block without commit rolls back, so
a failure half-way changes nothing. A write that lost the race for a case row (its
`version` no longer matches: someone else saved first) leaves the block as the error
`stale_error` makes (the services' Conflict, wired in bootstrap.py), here and nowhere else.

`uow.one_connection()` (the HTTP layer opens it around each request) makes every
transaction in its block use one pooled connection, checked out when first needed: a
request that checks a token, reads and then writes pays for one checkout instead of one
per transaction. The transactions stay separate: each one begins and ends on that
connection exactly as on a fresh one.

A read without a snapshot (`read(snapshot=False)`: a token check's one statement, a
completion's read that its write compare-and-sets) opens no transaction at all: SQLite
sends no BEGIN, PostgreSQL runs it in autocommit, so neither BEGIN nor ROLLBACK is a round
trip of its own, and each statement sees what is committed as it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from . import case_facts
from .database import NO_SNAPSHOT, WRITE
from .repositories import (
    ApiTokenRepository,
    AttachmentRepository,
    CaseRepository,
    CommentRepository,
    DesignDraftRepository,
    DraftRepository,
    EventRepository,
    IdempotencyRepository,
    NotificationRepository,
    OutboxRepository,
    ProcessRepository,
    RecordRepository,
    TaskRepository,
    UserRepository,
    write_pending_events,
)


class Transaction:
    """The repositories of one open transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.processes = ProcessRepository(session)
        self.cases = CaseRepository(session)
        self.tasks = TaskRepository(session)
        self.events = EventRepository(session)
        self.outbox = OutboxRepository(session)
        self.users = UserRepository(session)
        self.notifications = NotificationRepository(session)
        self.idempotency = IdempotencyRepository(session)
        self.api_tokens = ApiTokenRepository(session)
        self.design_drafts = DesignDraftRepository(session)
        self.drafts = DraftRepository(session)
        self.comments = CommentRepository(session)
        self.attachments = AttachmentRepository(session)
        self.records = RecordRepository(session)

    def commit(self) -> None:
        self.session.commit()

    def know(self, case_id: int, **facts: bool) -> None:
        """Remember, for the rest of this transaction, what it read about the case (case_facts.py)."""
        case_facts.note(self.session, case_id, **facts)

    def know_staffed(self, staffed: dict[str, bool]) -> None:
        """Remember, for the rest of this transaction, whether anyone active is in these groups."""
        if staffed:
            case_facts.note_staffed(self.session, staffed)

    def flush(self) -> None:
        self.session.flush()
        write_pending_events(self.session)


class _Held:
    """The connection of one `one_connection()` block, checked out on first use."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None
        self.autocommit = False  # set to AUTOCOMMIT by the last read without a snapshot (PostgreSQL)

    def take(self) -> Connection | None:
        """The held connection, or None when it is busy with a transaction (a nested use
        case then gets a connection of its own, as it would without the block)."""
        if self.connection is None:
            self.connection = self.engine.connect()
            self.autocommit = False
        elif self.connection.closed or self.connection.invalidated:
            self.connection.close()
            self.connection = self.engine.connect()
            self.autocommit = False
        if self.connection.in_transaction():
            return None
        return self.connection

    def release(self) -> None:
        if self.connection is not None:
            self.connection.close()  # back to the pool (rolled back if anything was left open)
            self.connection = None


class UnitOfWork:
    """Opens transactions on one engine."""

    def __init__(self, engine: Engine, stale_error: Callable[[], Exception] | None = None) -> None:
        self.engine = engine
        self.stale_error = stale_error
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        # PostgreSQL's driver opens a transaction before a statement unless in autocommit (SQLite's
        # BEGIN is ours, database.py, and NO_SNAPSHOT leaves it out).
        self._autocommit_bare = engine.dialect.name == "postgresql"
        bare: dict[str, object] = {NO_SNAPSHOT: True}
        if self._autocommit_bare:
            bare["isolation_level"] = "AUTOCOMMIT"
        self._read_bare = sessionmaker(bind=engine.execution_options(**bare), expire_on_commit=False)
        self._write = sessionmaker(bind=engine.execution_options(**{WRITE: True}),
                                   expire_on_commit=False)
        self._held: ContextVar[_Held | None] = ContextVar(f"iphs_held_{id(self)}", default=None)

    @contextmanager
    def one_connection(self) -> Iterator[None]:
        """Run every transaction inside the block on one pooled connection (see the module docstring)."""
        if self._held.get() is not None:
            yield  # already inside one
            return
        held = _Held(self.engine)
        token = self._held.set(held)
        try:
            yield
        finally:
            self._held.reset(token)
            held.release()

    def _session(self, write: bool, snapshot: bool = True) -> Session:
        held = self._held.get()
        connection = held.take() if held is not None else None
        if connection is None:
            return (self._write if write else self._read if snapshot else self._read_bare)()
        bare = not write and not snapshot
        # read by the SQLite BEGIN hook (database.py)
        connection.execution_options(**{WRITE: write, NO_SNAPSHOT: bare})
        if self._autocommit_bare and bare != held.autocommit:
            # Set on the driver's connection, no round trip; put back when it returns to the pool.
            connection.execution_options(isolation_level="AUTOCOMMIT" if bare else connection.default_isolation_level)
            held.autocommit = bare
        return Session(bind=connection, expire_on_commit=False)

    @contextmanager
    def read(self, snapshot: bool = True) -> Iterator[Transaction]:
        """A read transaction. `snapshot` False: its statements need not see the database as of one
        moment (a read whose write after it compare-and-sets all it relies on: a completion's; a
        read of one statement), so each statement reads as of itself, with no BEGIN and no
        ROLLBACK (SQLite: no BEGIN sent; PostgreSQL: autocommit)."""
        with self._session(write=False, snapshot=snapshot) as session:
            try:
                yield Transaction(session)
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        with self._session(write=True) as session:
            try:
                yield Transaction(session)
            except StaleDataError:
                session.rollback()
                if self.stale_error is None:
                    raise
                raise self.stale_error() from None
            except BaseException:
                session.rollback()
                raise
