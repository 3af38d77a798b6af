"""The unit of work: one transaction per use case, with the repositories it needs.

Services say `with uow.write() as tx:` (or `uow.read()`), use `tx.cases`,
`tx.tasks` ... and call `tx.commit()`. Leaving the block without commit rolls back, so
a failure half-way changes nothing. A write that lost the race for a case row (its
`version` no longer matches: someone else saved first) leaves the block as the error
`stale_error` makes (the services' Conflict, wired in bootstrap.py), here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from .database import WRITE
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

    def flush(self) -> None:
        self.session.flush()


class UnitOfWork:
    """Opens transactions on one engine."""

    def __init__(self, engine: Engine, stale_error: Callable[[], Exception] | None = None) -> None:
        self.engine = engine
        self.stale_error = stale_error
        self._read = sessionmaker(bind=engine, expire_on_commit=False)
        self._write = sessionmaker(bind=engine.execution_options(**{WRITE: True}),
                                   expire_on_commit=False)

    @contextmanager
    def read(self) -> Iterator[Transaction]:
        with self._read() as session:
            try:
                yield Transaction(session)
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Transaction]:
        with self._write() as session:
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
