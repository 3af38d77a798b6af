"""The database schema (SQLAlchemy 2.0 declarative models).

The Alembic migrations in `migrations/versions` create exactly this schema on SQLite
and PostgreSQL; a test compares the two so they cannot drift apart.
"""

from __future__ import annotations

from datetime import date as date_type
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    inspect,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from iphs_flow.engine.clock import now
from iphs_flow.store import case_facts

# SQLite stores BIGINT primary keys as plain INTEGER so they keep auto-incrementing.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on both databases (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use timezone-aware UTC")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class ProcessVersion(Base):
    """One deployed version of a process: its BPMN/DMN files and forms, stored once."""

    __tablename__ = "process_version"
    __table_args__ = (
        UniqueConstraint("process_key", "version", name="uq_process_version_key_version"),
        UniqueConstraint("process_key", "content_hash", name="uq_process_version_key_hash"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    process_key: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(300))
    content_hash: Mapped[str] = mapped_column(String(64))
    # The models (innovation.bpmn alone is 227 KB) are read only when a step needs them.
    files: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)
    deployed_by: Mapped[str] = mapped_column(String(200))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Case(Base):
    """A case (ärende): one running or finished instance of a process version."""

    __tablename__ = "case"
    __table_args__ = (
        Index("ix_case_next_timer_at", "next_timer_at"),
        Index("ix_case_owner", "owner"),
        Index("ix_case_status_stage", "status", "stage"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"))
    process_key: Mapped[str] = mapped_column(String(100))
    stage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str] = mapped_column(String(200))
    # The serialized workflow: read only by the steps that run it (lists make touching it raise).
    state: Mapped[str] = mapped_column(Text, deferred=True)
    incident: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_timer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    # Joined for its version number; its files stay deferred, so a case row stays small.
    process_version: Mapped[ProcessVersion] = relationship(lazy="joined")

    __mapper_args__ = {"version_id_col": version}


class HumanTask(Base):
    """The inbox index: one row per human task, kept in step with the case state."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_human_task_state_group", "state", "candidate_group"),
        Index("ix_human_task_state_assignee", "state", "assignee"),
        Index("ix_human_task_case_state", "case_id", "state"),
        Index("ix_human_task_state_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    spiff_task_id: Mapped[str] = mapped_column(String(36), unique=True)
    task_key: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    process_id: Mapped[str] = mapped_column(String(100))
    lane: Mapped[str | None] = mapped_column(String(200), nullable=True)
    candidate_group: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    form_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    stage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    state: Mapped[str] = mapped_column(String(20))  # open | completed | cancelled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)

    case: Mapped[Case] = relationship(lazy="raise")


class CaseEvent(Base):
    """Append-only history: who did what, when, with which data. Also the audit trail."""

    __tablename__ = "case_event"
    __table_args__ = (Index("ix_case_event_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    task_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    task_name: Mapped[str | None] = mapped_column(String(300), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CaseCounter(Base):
    """The last case number handed out per prefix and year (IPHS 2026/0001)."""

    __tablename__ = "case_counter"

    prefix: Mapped[str] = mapped_column(String(40), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer)


class Outbox(Base):
    """Work that leaves the system (notifications) written in the case's transaction."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_due", "status", "due_at"),
                      Index("ix_outbox_recipient_status", "recipient", "status"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"), nullable=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # Who a mail (or a digest) is for: digests collect a person's mails by this column.
    recipient: Mapped[str | None] = mapped_column(String(200), nullable=True)


class Notification(Base):
    """An in-app message to one person; every mail we send is also one of these."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_username_read", "username", "read_at", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    username: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"), nullable=True)
    template: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    link: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# ---------------------------------------------------------------- identity


class UserAccount(Base):
    """A person: a local account (argon2 password) or one created on first SSO login."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    language: Mapped[str] = mapped_column(String(5), default="sv")
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    source: Mapped[str] = mapped_column(String(20), default="local")  # local | oidc
    oidc_subject: Mapped[str | None] = mapped_column(String(300), unique=True, nullable=True)
    manager_username: Mapped[str | None] = mapped_column(String(200), nullable=True)
    notify_mode: Mapped[str] = mapped_column(String(20), default="immediate")  # immediate | daily | weekly
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    """A personal API token. Only a SHA-256 of the token is kept; the token itself is shown once.

    SHA-256 rather than argon2: the secret is 32 random bytes from `secrets`, so there is
    nothing to guess and a slow hash would only slow every API request; what a stolen
    table must not give away is the token, and a hash of 256 random bits does not.
    """

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_user_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # shown in lists, finds the row
    secret_hash: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of the whole token
    scopes: Mapped[str] = mapped_column(String(100))  # space separated: "read" or "read write"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    user: Mapped[UserAccount] = relationship(lazy="joined")


class UserGroup(Base):
    """A group that BPMN lanes and candidate groups name, e.g. `innovation-leads`."""

    __tablename__ = "user_group"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))


class GroupMember(Base):
    __tablename__ = "group_member"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("user_group.id", ondelete="CASCADE"), primary_key=True)


class UserRole(Base):
    """Roles: idea_owner, approver, innovation_lead, process_designer, administrator."""

    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(40), primary_key=True)


class AccessLog(Base):
    """Security-relevant events: logins, failed logins, role changes, denied access."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_at", "at"), Index("ix_access_log_username", "username"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    username: Mapped[str | None] = mapped_column(String(200), nullable=True)
    event: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_addr: Mapped[str | None] = mapped_column(String(64), nullable=True)


class TaskDraft(Base):
    """Form data saved half-way, per task and person, so a form can be resumed later."""

    __tablename__ = "task_draft"
    __table_args__ = (UniqueConstraint("task_id", "username", name="uq_task_draft_task_user"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("human_task.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(200))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CaseComment(Base):
    """A comment on a case, shown to everyone who may see the case."""

    __tablename__ = "case_comment"
    __table_args__ = (Index("ix_case_comment_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CaseAttachment(Base):
    """A file attached to a case; the bytes live on disk under a random name, never the uploaded one."""

    __tablename__ = "case_attachment"
    __table_args__ = (Index("ix_case_attachment_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    uploaded_by: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class DesignDraft(Base):
    """The designers' shared working copy of one process: edited in the browser, deployed as a new version.

    One draft per process so designers see each other's work; `version` counts saves and
    a save that names an older count is refused, so nobody overwrites a colleague unseen.
    """

    __tablename__ = "design_draft"
    __table_args__ = (UniqueConstraint("process_key", name="uq_design_draft_process_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    process_key: Mapped[str] = mapped_column(String(100))
    # The models (innovation.bpmn alone is 227 KB) are read only when a step needs them.
    files: Mapped[dict[str, Any]] = mapped_column(JSON, deferred=True)
    forms: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    base_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class IdempotencyKey(Base):
    """A client's Idempotency-Key for one API write, with the response it got (issue 8).

    Written in the same transaction as the case start or task completion it guards, so a
    case can never be started without its key being recorded, nor the key without the case.
    A retry with the same key and body replays `status`/`body`; keys expire after a day.
    """

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("username", "key", name="uq_idempotency_key_username_key"),
                      Index("ix_idempotency_key_expires_at", "expires_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # hex SHA-256 of method, path and body
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RetentionRule(Base):
    """A retention decision (gallringsbeslut) for one kind of document, maybe of one process.

    `keep_days` None means kept for ever: such a rule says so explicitly and prevents any
    weeding of what it covers. For whole cases, `outcomes` narrows the rule to cases that
    ended so (a gate decision's value, or the status `terminated`); empty means any closed case.
    """

    __tablename__ = "retention_rule"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    document_type: Mapped[str] = mapped_column(String(40))  # case | task_draft | notification
    process_key: Mapped[str | None] = mapped_column(String(100), nullable=True)
    outcomes: Mapped[list[str]] = mapped_column(JSON, default=list)
    keep_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decision: Mapped[str] = mapped_column(String(300))  # the decision it implements, e.g. its diarienummer
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class WeedingList(Base):
    """What is due for weeding, proposed by an administrator; nothing is weeded before approval."""

    __tablename__ = "weeding_list"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    status: Mapped[str] = mapped_column(String(20))  # proposed | approved | applied | cancelled
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WeedingItem(Base):
    """One thing on a weeding list, and afterwards the record that it was weeded (never its content)."""

    __tablename__ = "weeding_item"
    __table_args__ = (Index("ix_weeding_item_list_id", "list_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("weeding_list.id", ondelete="CASCADE"))
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("retention_rule.id", ondelete="SET NULL"), nullable=True)
    document_type: Mapped[str] = mapped_column(String(40))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    case_number: Mapped[str | None] = mapped_column(String(40), nullable=True)
    description: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | weeded | skipped
    weeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseRead(Base):
    """Someone opened a case or one of its files: with the history's changes, the audit trail."""

    __tablename__ = "case_read"
    __table_args__ = (Index("ix_case_read_case_id_at", "case_id", "at"),
                      Index("ix_case_read_username_at", "username", "at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    what: Mapped[str] = mapped_column(String(100))  # case | attachment:<id> | record
class SchedulerHeartbeat(Base):
    """When each scheduler last ticked (issue 14): `/readyz` fails when none did recently."""

    __tablename__ = "scheduler_heartbeat"

    worker: Mapped[str] = mapped_column(String(200), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class UserSession(Base):
    """A signed-in browser session (issue 14). The cookie carries only the id; the row must
    exist and not be ended for the cookie to count, so ending the row ends the session."""

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_username", "username"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 (hex) of the cookie's session id
    username: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    remote_addr: Mapped[str | None] = mapped_column(String(100), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ended_reason: Mapped[str | None] = mapped_column(String(50), nullable=True)


class LoginThrottle(Base):
    """Failed logins per account or per address (issue 14): the next attempt waits until
    `wait_until`, a delay that doubles with each failure; a success clears the account's row."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)  # "user:<name>" or "addr:<address>"
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
class SearchDocument(Base):
    """One searchable text of a case: its title, need, concept, results, decisions, lessons ...

    Built from the case's data and history by services/search_index.py and rebuilt whenever
    the case's data changes. Each database adds its own full-text index in migration 0014:
    on PostgreSQL a generated `tsv` column (swedish and english configurations) with a GIN
    index, on SQLite the FTS5 table `search_fts` holding the Snowball stems (rowid = id).
    Neither is described here (SQLAlchemy has no words for them); `migrate.SEARCH_INTERNALS`
    names them for the schema comparison.
    """

    __tablename__ = "search_document"
    __table_args__ = (Index("ix_search_document_case_field", "case_id", "field"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(40))  # title | need | understand | concept | ... | lessons
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # A lesson's own document (field "lesson"), searched on the lessons page and as a hit of its own.
    lesson_id: Mapped[int | None] = mapped_column(ForeignKey("lesson.id", ondelete="CASCADE"), nullable=True)
# ---------------------------------------------------------------- records of stages and gates


class StageRecord(Base):
    """What one completed stage task recorded (issue 16): its own row, never overwritten.

    The workflow data keeps one value per field name, so a later form that asks the same
    thing (closure's `lessons_learned` after the evaluation's) replaces it there; the
    record of each completion stays here, numbered by `round` per task of the case.
    """

    __tablename__ = "stage_record"
    __table_args__ = (Index("ix_stage_record_case_id", "case_id", "id"),
                      UniqueConstraint("case_id", "task_key", "round", name="uq_stage_record_case_task_round"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="SET NULL"), nullable=True)
    # The history row written with it (task_completed, or the process's decision notice): its order.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id", ondelete="SET NULL"), nullable=True)
    stage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    task_key: Mapped[str] = mapped_column(String(200))
    task_name: Mapped[str] = mapped_column(String(300))
    form_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    round: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    event: Mapped[CaseEvent | None] = relationship(lazy="raise")


class GateDecision(Base):
    """One decision at a gate (issue 16): outcome, reason, conditions, resume date; every round kept."""

    __tablename__ = "gate_decision"
    __table_args__ = (Index("ix_gate_decision_case_id", "case_id", "id"),
                      UniqueConstraint("case_id", "gate", "round", name="uq_gate_decision_case_gate_round"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("human_task.id", ondelete="SET NULL"), nullable=True)
    # The history row written with it (task_completed, or the process's decision notice): its order.
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id", ondelete="SET NULL"), nullable=True)
    stage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gate: Mapped[str] = mapped_column(String(200))  # the gate task's BPMN id, e.g. G2_decide
    gate_name: Mapped[str] = mapped_column(String(300))
    form_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    round: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    conditions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    resume_date: Mapped[str | None] = mapped_column(String(10), nullable=True)  # ISO date, on hold
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    decider: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    event: Mapped[CaseEvent | None] = relationship(lazy="raise")
class MessageWait(Base):
    """The subscription index: a message or signal a case waits for, kept in step on save.

    `correlation` holds the case's number and its top-level data values when the wait was
    written, so a message is matched to the one case whose values equal its correlation keys.
    """

    __tablename__ = "message_wait"
    __table_args__ = (Index("ix_message_wait_kind_name", "kind", "name"),
                      Index("ix_message_wait_case_id", "case_id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # message | signal
    name: Mapped[str] = mapped_column(String(200))
    correlation: Mapped[dict[str, Any]] = mapped_column(JSON)


# ---------------------------------------------------------------- secrecy (OSL)


class SecrecyMarking(Base):
    """A secrecy marking (sekretessmarkering) on a part of a case, with the OSL provision it rests on.

    A case is a public record, but a field of its data (e.g. a company's business terms)
    or an attachment may be secret under offentlighets- och sekretesslagen. The marking
    names what it covers: a data field by its key, wherever that key was recorded in the
    case, or one attachment by its id. Only those who handle the case see what is marked;
    search, the public pages, digests, mails to others and exports leave it out.
    """

    __tablename__ = "secrecy_marking"
    __table_args__ = (UniqueConstraint("case_id", "target_kind", "target", name="uq_secrecy_marking_target"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    target_kind: Mapped[str] = mapped_column(String(20))  # field | attachment
    target: Mapped[str] = mapped_column(String(200))  # the field's key, or the attachment's id
    provision: Mapped[str] = mapped_column(String(200))  # e.g. "OSL 31 kap. 16 §"
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    marked_by: Mapped[str] = mapped_column(String(200))
    marked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


# ---------------------------------------------------------------- following a case (issue 18 point 2)


class CaseFollower(Base):
    """Someone who chose to follow a case: told of its stage changes, decisions and updates.

    Nobody follows by default, not even the owner or the people working on the case (they
    are told of their own tasks and decisions already); following is each person's choice.
    """

    __tablename__ = "case_follower"
    __table_args__ = (UniqueConstraint("case_id", "username", name="uq_case_follower_case_username"),
                      Index("ix_case_follower_username", "username", "id"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CaseUpdate(Base):
    """A short plain-text update an innovation lead sent to the followers of a case."""

    __tablename__ = "case_update"
    __table_args__ = (Index("ix_case_update_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class FollowPreference(Base):
    """How a person wants to hear about the cases they follow, and whether they want the monthly
    "Nytt i portföljen" digest. No row means the defaults: follow mail as their other mail, no digest."""

    __tablename__ = "follow_preference"

    username: Mapped[str] = mapped_column(String(200), primary_key=True)
    case_mail: Mapped[str] = mapped_column(String(20), default="same")  # same | immediate | daily | none
    monthly_digest: Mapped[bool] = mapped_column(default=False)
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


# ---------------------------------------------------------------- public showcase (issue 18)


class Publication(Base):
    """What the city tells the public about one case: texts the innovation lead wrote for it.

    The public pages show these fields and the case's live stage and status, nothing else of
    the case. `state` is draft (only the lead sees it, in the preview), published or
    unpublished; `public_changed_at` is when what the public sees last changed — an edit, a
    publishing, or the case moving to another stage or status (kept by the listener below).
    """

    __tablename__ = "publication"
    __table_args__ = (Index("ix_publication_state_changed", "state", "public_changed_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), unique=True)
    state: Mapped[str] = mapped_column(String(20), default="draft")  # draft | published | unpublished
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(Text)
    goals: Mapped[list[Any]] = mapped_column(JSON, default=list)  # Agenda 2030 goal numbers, 1-17
    unit: Mapped[str] = mapped_column(String(300))
    contact_email: Mapped[str | None] = mapped_column(String(300), nullable=True)
    image: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True, deferred=True)
    image_type: Mapped[str | None] = mapped_column(String(20), nullable=True)  # image/png | image/jpeg | image/webp
    image_alt: Mapped[str | None] = mapped_column(String(300), nullable=True)
    image_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    published_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unpublished_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    unpublished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    unpublish_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    public_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}


class PublicationGoal(Base):
    """One Agenda 2030 goal of a publication: the index the public list filters by."""

    __tablename__ = "publication_goal"
    __table_args__ = (Index("ix_publication_goal_goal", "goal", "publication_id"),)

    publication_id: Mapped[int] = mapped_column(ForeignKey("publication.id", ondelete="CASCADE"), primary_key=True)
    goal: Mapped[int] = mapped_column(Integer, primary_key=True)


class ContactConsent(Base):
    """A person's own consent that their e-mail address is shown as a unit's public contact."""

    __tablename__ = "contact_consent"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(300))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


@event.listens_for(Session, "before_flush")
def _published_case_moved(session: Session, _context: Any, _instances: Any) -> None:
    """A case that moves to another stage or status, or gets a gate decision, changes what its public
    page says: note when."""
    moved = [obj.id for obj in session.dirty
             if isinstance(obj, Case) and obj.id is not None
             and (inspect(obj).attrs.stage.history.has_changes() or inspect(obj).attrs.status.history.has_changes())]
    # A new gate decision changes the status words ("Vilande", "Genomförd") even where the status stays.
    moved += [obj.case_id for obj in session.new if isinstance(obj, GateDecision) and obj.case_id is not None]
    # Cases this transaction saw to have no publication need no statement (case_facts.py).
    moved = [case_id for case_id in moved if case_facts.known(session, case_id, case_facts.PUBLISHED) is not False]
    if moved:
        session.connection().execute(
            update(Publication.__table__).where(Publication.__table__.c.case_id.in_(moved)).values(public_changed_at=now()))


# ---------------------------------------------------------------- registration (OSL 5 kap.)


class CaseRegistration(Base):
    """A case's registration data (diarieföring): date, classification, public description, unit.

    The diarienummer is the case's number. A case without a row reads as registered on the
    day it started, unclassified, with its title as description; the row is written on the
    first change. `last_document` hands out the running numbers of its registered documents.
    """

    __tablename__ = "case_registration"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    registered_on: Mapped[date_type] = mapped_column(Date)
    classification: Mapped[str | None] = mapped_column(String(40), nullable=True)
    description: Mapped[str | None] = mapped_column(String(500), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_document: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=0)  # counts changes; a form names the one it showed
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class RegistryClass(Base):
    """One entry of the city's klassificeringsstruktur, maintained by administrators."""

    __tablename__ = "registry_class"

    code: Mapped[str] = mapped_column(String(40), primary_key=True)  # e.g. "1.3.1"
    name: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)


class OslProvision(Base):
    """A provision of offentlighets- och sekretesslagen a secrecy marking may cite."""

    __tablename__ = "osl_provision"

    code: Mapped[str] = mapped_column(String(100), primary_key=True)  # e.g. "OSL 31 kap. 16 §"
    name: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)


class RegisteredDocument(Base):
    """An incoming or outgoing document of a case in the register (diariet), numbered within the case.

    Incoming: an attachment (sender = who brought it in). Outgoing: a decision or message sent
    by mail (recipient). `ref` names what it registers (the attachment's id, the mail's key).
    """

    __tablename__ = "registered_document"
    __table_args__ = (UniqueConstraint("case_id", "number", name="uq_registered_document_case_number"),
                      UniqueConstraint("case_id", "kind", "ref", name="uq_registered_document_ref"),
                      Index("ix_registered_document_at", "registered_at"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    direction: Mapped[str] = mapped_column(String(10))  # incoming | outgoing
    kind: Mapped[str] = mapped_column(String(20))  # attachment | decision | message
    ref: Mapped[str] = mapped_column(String(200))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    counterpart: Mapped[str] = mapped_column(String(300))  # sender (incoming) or recipient (outgoing)
    description: Mapped[str] = mapped_column(String(500))
    registered_by: Mapped[str] = mapped_column(String(200))


# ---------------------------------------------------------------- lessons library (Lärdomar)


class Lesson(Base):
    """One lesson learned (issue 17 point 1): recorded with the evaluation, the closure, a rejection
    at a gate or a stop, in the transaction that records it; every round is a row of its own.

    Lessons are the city's knowledge base, readable by every signed-in person; a lead can keep
    one `internal` (with a reason), and then only those who may see the case read it.
    """

    __tablename__ = "lesson"
    __table_args__ = (Index("ix_lesson_case_id", "case_id", "id"), Index("ix_lesson_year", "year"))

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(20))  # evaluation | closure | rejection | stop
    task_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    round: Mapped[int] = mapped_column(Integer)  # the n-th lesson of this source in the case
    event_id: Mapped[int | None] = mapped_column(ForeignKey("case_event.id", ondelete="SET NULL"), nullable=True)
    stage: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the stage the case had reached
    outcome: Mapped[str] = mapped_column(String(40))  # implement | iterate | rejected | referred | terminated ...
    unit: Mapped[str | None] = mapped_column(String(300), nullable=True)
    goals: Mapped[list[Any]] = mapped_column(JSON, default=list)  # Agenda 2030 goals, 1-17
    year: Mapped[int] = mapped_column(Integer)
    worked: Mapped[str | None] = mapped_column(Text, nullable=True)  # what worked
    not_worked: Mapped[str | None] = mapped_column(Text, nullable=True)  # what did not
    reusable: Mapped[str | None] = mapped_column(Text, nullable=True)  # what others can reuse
    author: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    internal: Mapped[bool] = mapped_column(default=False)
    internal_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    internal_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    internal_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# ---------------------------------------------------------------- portfolio analytics (issue 17 point 4)

# The portfolio reads history rows of one kind (stage_entered, case_started) for a selection of cases.
Index("ix_case_event_kind_case_id", CaseEvent.kind, CaseEvent.case_id)


class PortfolioSelectable:
    """The fields of a case the portfolio's filters read, copied onto each of its summary rows.

    When it started and closed (the period), its process, its status, its unit (casefolded)
    and its Agenda 2030 goals (a bit set): with them on the row, each summary table is
    counted over a selection by its own index, without going back to the cases for the
    filters (a lookup per row, most of a broad selection's cost). They are written with
    the rest of the summary, from the case row and the history, and rebuilt with it: a
    case's status and closing are changed only by steps and actions that write history.
    """

    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    process_key: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    unit_key: Mapped[str | None] = mapped_column(String(300), nullable=True)  # casefolded, for the filter
    goals: Mapped[int] = mapped_column(Integer, default=0)


class PortfolioCase(PortfolioSelectable, Base):
    """What the portfolio needs to know of one case, summarised from its history (issue 17 point 4).

    A read model, rebuilt from the history (case_event, stage_record, gate_decision) by
    services/queries/portfolio.py whenever the case has history rows newer than `mark`, so
    the portfolio page counts 20,000 cases with SQL aggregates instead of reading 200,000
    history rows. Goals and stages entered are bit sets (bit n = goal n, stage n).
    """

    __tablename__ = "portfolio_case"
    __table_args__ = (Index("ix_portfolio_case_unit_key", "unit_key"),)

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    mark: Mapped[int] = mapped_column(BigInteger)  # the newest history row summarised
    unit: Mapped[str | None] = mapped_column(String(300), nullable=True)
    stages: Mapped[int] = mapped_column(Integer, default=0)
    final_outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)  # closed cases only
    implemented: Mapped[bool] = mapped_column(default=False)
    pilot_requested: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pilot_approved: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    implementation_requested: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    implementation_approved: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PortfolioStay(PortfolioSelectable, Base):
    """Working days a case spent in a stage it has left (all its visits together), from its history."""

    __tablename__ = "portfolio_stay"

    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    stage: Mapped[int] = mapped_column(Integer, primary_key=True)
    working_days: Mapped[int] = mapped_column(Integer)


class PortfolioGate(PortfolioSelectable, Base):
    """One gate decision with its lead time in working days (task opened to decision), from the history."""

    __tablename__ = "portfolio_gate"
    __table_args__ = (Index("ix_portfolio_gate_case_id", "case_id"),)

    decision_id: Mapped[int] = mapped_column(ForeignKey("gate_decision.id", ondelete="CASCADE"), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    gate: Mapped[str] = mapped_column(String(200))
    gate_name: Mapped[str] = mapped_column(String(300))
    stage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(40))
    lead_days: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: decided by the process itself
    last: Mapped[bool] = mapped_column(default=False)  # the case's latest decision at this gate
    reasoned: Mapped[bool] = mapped_column(default=False)  # a reason given for a decision that did not approve


def _selectable(table: type[PortfolioSelectable]) -> tuple[Any, ...]:
    """The filter fields in index order (goals last: the goals index leads with them)."""
    return (table.created_at, table.closed_at, table.status, table.process_key, table.unit_key, table.goals)


# The portfolio groups stays by stage and length, decisions by gate, and cases by the stages
# they entered, how they ended and their goals: each from its index alone, for every case
# or a selection by the filter fields the index carries (revision 0026), and with the case
# id last for a reader who sees only some cases.
Index("ix_portfolio_stay_stage_days", PortfolioStay.stage, PortfolioStay.working_days, *_selectable(PortfolioStay),
      PortfolioStay.case_id)
Index("ix_portfolio_gate_groups", PortfolioGate.gate, PortfolioGate.stage, PortfolioGate.outcome, PortfolioGate.last,
      PortfolioGate.lead_days, PortfolioGate.reasoned, PortfolioGate.gate_name, *_selectable(PortfolioGate),
      PortfolioGate.case_id)
Index("ix_portfolio_case_counts", PortfolioCase.stages, PortfolioCase.final_outcome, PortfolioCase.implemented,
      *_selectable(PortfolioCase), PortfolioCase.case_id)
Index("ix_portfolio_case_goals", PortfolioCase.goals, *_selectable(PortfolioCase)[:-1], PortfolioCase.case_id)
# ... and the filter form offers the units and processes of the cases in the period, with how many are chosen.
Index("ix_portfolio_case_offered", PortfolioCase.unit, PortfolioCase.process_key, PortfolioCase.created_at,
      PortfolioCase.closed_at, PortfolioCase.status, PortfolioCase.unit_key, PortfolioCase.goals)
# The portfolio lists the newest reasons given at the gates first.
Index("ix_gate_decision_at", GateDecision.at)
# The staleness check starts from the newest summary; the process filter offers the processes of the cases.
Index("ix_portfolio_case_mark", PortfolioCase.mark)
Index("ix_case_process_key", Case.process_key)
# The cases a reader may see, read once per portfolio as a UNION of look-ups (queries/portfolio.py: visible_case_ids).
Index("ix_human_task_assignee_case", HumanTask.assignee, HumanTask.case_id)
Index("ix_human_task_closed_by_case", HumanTask.closed_by, HumanTask.case_id)
Index("ix_human_task_group_case", HumanTask.candidate_group, HumanTask.case_id)


# ---------------------------------------------------------------- research exports (issue 18)


class ResearchExport(Base):
    """One research export (forskningsexport): who took it, when, with which filter, how many rows per file.

    The package itself is never kept, nor the key its pseudonyms were made with; this row
    is what administrators read to know what left the city for the accompanying research.
    """

    __tablename__ = "research_export"
    __table_args__ = (Index("ix_research_export_username_at", "username", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    channel: Mapped[str] = mapped_column(String(20))  # web | cli
    filter: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # period_from, period_to, process_key
    row_counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # file name -> rows
