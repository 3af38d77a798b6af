"""A person's rights over their data: register extract, correction, erasure (GDPR art. 15–17).

The city's cases are public records: the archive law requires keeping them, so erasure
is pseudonymisation wherever a record must be kept (the person's name, address and user
name are replaced by a pseudonym everywhere, and the case and its history stay whole and
open), and real deletion where nothing requires keeping (notifications, drafts, API
tokens, roles and group memberships, mails not yet sent). A preview says which applies
where before anything changes; the erasure and corrections are recorded.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, delete, func, or_, select, update
from sqlalchemy.orm.exc import StaleDataError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import (
    ApiToken,
    Base,
    Case,
    CaseFollower,
    FollowPreference,
    GroupMember,
    HumanTask,
    IdempotencyKey,
    LoginThrottle,
    Notification,
    Outbox,
    RegisteredDocument,
    SecrecyMarking,
    TaskDraft,
    UserAccount,
    UserRole,
    UserSession,
)

from .errors import Conflict, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, Actor, require_role
from .queries.personal_data import NAMING_COLUMNS, SKIP_TABLES, candidates, needles, person_rows, text_columns
from .search_index import refresh as refresh_search_index

ERASED_NAME = "Borttagen person"


# ------------------------------------------------------------------ the extract


@dataclass(frozen=True)
class ExtractItem:
    """One place the person appears: what it is, in which case, when, and what it says of them."""

    place: str
    case_number: str | None
    case_id: int | None
    at: datetime | None
    what: str


@dataclass(frozen=True)
class RegisterExtract:
    username: str
    display_name: str
    email: str | None
    language: str
    active: bool
    source: str
    created_at: datetime
    last_login_at: datetime | None
    roles: tuple[str, ...]
    groups: tuple[str, ...]
    sections: tuple[tuple[str, tuple[ExtractItem, ...]], ...]
    made_at: datetime

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["sections"] = {name: [asdict(i) for i in items] for name, items in self.sections}
        return json.loads(json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))


def _require_admin(actor: Actor, action: str) -> None:
    require_role(actor, ADMINISTRATOR, action)


def register_extract(ctx: AppContext, username: str, actor: Actor) -> RegisterExtract:
    """Everything the system holds about the person, grouped as a person would ask for it."""
    _require_admin(actor, "produce register extracts")
    with ctx.uow.write() as tx:
        rows = person_rows(tx.session, username)
        if rows is None:
            raise NotFound(f"there is no user {username}")
        account = rows.account
        case_numbers = dict(tx.session.execute(
            select(Case.id, Case.number).where(Case.id.in_({m.case_id for m in rows.mentions if m.case_id}))).all())
        sections = (
            ("cases", tuple(ExtractItem("case", c.number, c.id, c.created_at, f"{c.title} ({c.status})")
                            for c in rows.cases_owned)),
            ("tasks", tuple(ExtractItem("task", c.number, c.id, t.created_at,
                                        f"{t.name}: {t.state}" + (" (avslutad av personen)" if t.closed_by == username
                                                                 else ""))
                            for t, c in rows.tasks)),
            ("decisions_and_forms", tuple(
                ExtractItem("event", c.number, c.id, e.at, f"{e.kind}: {e.task_name or e.task_key or ''}".strip(": "))
                for e, c in rows.events)),
            ("comments", tuple(ExtractItem("comment", c.number, c.id, m.created_at, m.body) for m, c in rows.comments)),
            ("attachments", tuple(ExtractItem("attachment", c.number, c.id, a.created_at,
                                              f"{a.filename} ({a.size} bytes)") for a, c in rows.attachments)),
            ("notifications", tuple(ExtractItem("notification", None, n.case_id, n.created_at, n.subject)
                                    for n in rows.notifications)),
            ("mails", tuple(ExtractItem("mail", None, m.case_id, m.created_at, f"{m.kind}: {m.status}")
                            for m in rows.mails)),
            ("api_tokens", tuple(ExtractItem("api_token", None, None, t.created_at, f"{t.name} ({t.scopes})")
                                 for t in rows.tokens)),
            ("access_log", tuple(ExtractItem("access", None, None, a.at,
                                             f"{a.event}" + (f" från {a.remote_addr}" if a.remote_addr else ""))
                                 for a in rows.access)),
            ("secrecy_markings", tuple(
                ExtractItem("secrecy_marking", c.number, c.id, m.marked_at,
                            f"sekretessmarkerade {m.target_kind} {m.target} enligt {m.provision}")
                for m, c in tx.session.execute(select(SecrecyMarking, Case)
                                               .join(Case, Case.id == SecrecyMarking.case_id)
                                               .where(SecrecyMarking.marked_by == username)
                                               .order_by(SecrecyMarking.id)).all())),
            ("registered_documents", tuple(
                ExtractItem("registered_document", c.number, c.id, d.registered_at,
                            f"{c.number}:{d.number} {'från' if d.direction == 'incoming' else 'till'} personen: "
                            f"{d.description}")
                for d, c in tx.session.execute(select(RegisteredDocument, Case)
                                               .join(Case, Case.id == RegisteredDocument.case_id)
                                               .where(RegisteredDocument.counterpart == username)
                                               .order_by(RegisteredDocument.id)).all())),
            ("mentions", tuple(ExtractItem(f"{m.table}.{m.column}", case_numbers.get(m.case_id), m.case_id, None,
                                           "namnet eller adressen nämns i texten") for m in rows.mentions)),
        )
        extract = RegisterExtract(
            username=account.username, display_name=account.display_name, email=account.email,
            language=account.language, active=account.is_active, source=account.source,
            created_at=account.created_at, last_login_at=account.last_login_at,
            roles=tuple(sorted(tx.users.roles(account.id))), groups=tuple(sorted(tx.users.groups(account.id))),
            sections=sections, made_at=now())
        tx.users.log("register_extract", username, {"by": actor.username})
        tx.commit()
    return extract


# ------------------------------------------------------------------ correction


def correct_person(ctx: AppContext, username: str, actor: Actor, *, display_name: str | None = None,
                   email: str | None = None, reason: str = "") -> None:
    """Correct a person's name or address; the access log says which fields changed, why, and by whom."""
    _require_admin(actor, "correct personal data")
    fields: dict[str, list[str]] = {}
    if display_name is not None and not display_name.strip():
        fields["display_name"] = ["a name is required"]
    if email is not None and email.strip() and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email.strip()):
        fields["email"] = ["not an e-mail address"]
    if not reason.strip():
        fields["reason"] = ["say why the data is corrected"]
    if fields:
        raise InvalidInput("the correction cannot be made", fields)
    with ctx.uow.write() as tx:
        account = tx.users.by_username(username)
        if account is None:
            raise NotFound(f"there is no user {username}")
        changed = []
        if display_name is not None and display_name.strip() != account.display_name:
            account.display_name = display_name.strip()[:300]
            changed.append("display_name")
        if email is not None and (email.strip() or None) != account.email:
            account.email = email.strip() or None
            changed.append("email")
        tx.users.log("personal_data_corrected", username,
                     {"by": actor.username, "fields": changed, "reason": reason.strip()[:2000]})
        tx.commit()


# ------------------------------------------------------------------ erasure


@dataclass(frozen=True)
class ErasureStep:
    place: str
    rows: int
    action: str  # "pseudonymise" | "delete" | "return to group"
    why: str


@dataclass(frozen=True)
class ErasurePlan:
    username: str
    steps: tuple[ErasureStep, ...]
    cases: int  # cases that keep their records, with the person pseudonymised

    @property
    def total(self) -> int:
        return sum(s.rows for s in self.steps)


_KEEP = "allmän handling: arkivlagen kräver att den bevaras; personen ersätts med en pseudonym"
_DELETE = "inget krav på att bevara: raderas"


def _deletions(account: UserAccount) -> list[tuple[str, Any, Any]]:
    recipients = [account.username] + ([account.email] if account.email else [])
    pending = Outbox.status.in_(("pending", "held", "failed"))
    return [
        ("notification", Notification, Notification.username == account.username),
        ("task_draft", TaskDraft, TaskDraft.username == account.username),
        ("api_token", ApiToken, ApiToken.user_id == account.id),
        ("idempotency_key", IdempotencyKey, IdempotencyKey.username == account.username),
        ("user_role", UserRole, UserRole.user_id == account.id),
        ("group_member", GroupMember, GroupMember.user_id == account.id),
        ("outbox (ej skickade)", Outbox, Outbox.recipient.in_(recipients) & pending),
        ("user_session", UserSession, UserSession.username == account.username),
        ("case_follower", CaseFollower, CaseFollower.username == account.username),
        ("follow_preference", FollowPreference, FollowPreference.username == account.username),
        ("login_throttle", LoginThrottle,
         LoginThrottle.key.startswith("user:")  # "user:<zone>:<name>", services/login_throttle.py
         & LoginThrottle.key.endswith(f":{account.username.strip().lower()[:200]}", autoescape=True)),
    ]


def _count(tx: Any, model: Any, condition: Any) -> int:
    return int(tx.session.scalar(select(func.count()).select_from(model).where(condition)) or 0)


def _plan(tx: Any, account: UserAccount) -> ErasurePlan:
    steps: list[ErasureStep] = []
    for place, model, condition in _deletions(account):
        if rows := _count(tx, model, condition):
            steps.append(ErasureStep(place, rows, "delete", _DELETE))
    open_tasks = _count(tx, HumanTask, (HumanTask.assignee == account.username) & (HumanTask.state == "open"))
    if open_tasks:
        steps.append(ErasureStep("human_task (öppna)", open_tasks, "return to group",
                                 "öppna uppgifter lämnas tillbaka till sin grupp"))
    cases: set[int] = set()
    for table_name, columns in NAMING_COLUMNS.items():
        table = Base.metadata.tables[table_name]
        for column in columns:
            if (table_name, column) == ("user_account", "username"):
                continue  # the account itself: its own step below
            where = table.c[column] == account.username
            if table_name == "outbox" and account.email:
                where = where | (table.c[column] == account.email)
            rows = int(tx.session.scalar(select(func.count()).select_from(table).where(where)) or 0)
            if not rows:
                continue
            steps.append(ErasureStep(f"{table_name}.{column}", rows, "pseudonymise", _KEEP))
            case_column = table.c.id if table_name == "case" else table.c.get("case_id")
            if case_column is not None:
                cases |= {r for (r,) in tx.session.execute(select(case_column).where(where)) if r}
    mentioned = _mentions(tx, account)
    for (table_name, column), keys in mentioned.items():
        steps.append(ErasureStep(f"{table_name}.{column} (text)", len(keys), "pseudonymise", _KEEP))
        cases |= {case_id for _key, case_id in keys if case_id}
    steps.append(ErasureStep("user_account", 1, "pseudonymise",
                             "kontot blir inaktivt och anonymt; det behövs för att historiken ska hänga ihop"))
    return ErasurePlan(username=account.username, steps=tuple(steps), cases=len(cases))


def _mentions(tx: Any, account: UserAccount) -> dict[tuple[str, str], set[tuple[Any, Any]]]:
    """Free text and JSON that mention the person: their name or address, or their user name
    as a whole value (a person picker's answer, an assignee in an event's data)."""
    texts = needles(account)
    variants = list(dict.fromkeys(v for t in texts for v in (t, t.lower(), t.upper(), t.title())))
    whole = json.dumps(account.username)
    found: dict[tuple[str, str], set[tuple[Any, Any]]] = {}
    for table in Base.metadata.sorted_tables:
        if table.name in SKIP_TABLES or table.name == "user_account":
            continue
        naming = set(NAMING_COLUMNS.get(table.name, ()))
        for column in text_columns(table):
            if column.name in naming:
                continue
            jsonish = isinstance(column.type, JSON) or column.name == "state"
            looked_for = variants + ([whole] if jsonish else [])
            if not looked_for:
                continue
            for key, case_id, value in candidates(tx.session, table, column, looked_for):
                if _scrubbed(value, account, "x") != value:
                    found.setdefault((table.name, column.name), set()).add((key, case_id))
    return found


def _scrubbed(value: Any, account: UserAccount, pseudonym: str) -> Any:
    """`value` with the person replaced: their name and address anywhere in text, their user
    name where it is a whole value (or, in a workflow state, a whole JSON string)."""
    if isinstance(value, dict):
        return {k: _scrubbed(v, account, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, account, pseudonym) for v in value]
    if not isinstance(value, str):
        return value
    if value == account.username:
        return pseudonym
    if value.lstrip().startswith(("{", "[")):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, (dict, list)):
            cleaned = _scrubbed(parsed, account, pseudonym)
            return value if cleaned == parsed else json.dumps(cleaned, ensure_ascii=False)
    for needle, replacement in ((account.email, pseudonym), (account.display_name, ERASED_NAME)):
        if needle and len(needle) >= 4:
            value = re.sub(re.escape(needle), replacement, value, flags=re.IGNORECASE)
    return value


def erasure_preview(ctx: AppContext, username: str, actor: Actor) -> ErasurePlan:
    """What erasing the person would do, place by place; nothing changes."""
    _require_admin(actor, "erase personal data")
    with ctx.uow.read() as tx:
        account = tx.users.by_username(username)
        if account is None:
            raise NotFound(f"there is no user {username}")
        return _plan(tx, account)


def erase_person(ctx: AppContext, username: str, actor: Actor, *, confirm: str) -> ErasurePlan:
    """Carry out the plan in one transaction; `confirm` must repeat the user name."""
    _require_admin(actor, "erase personal data")
    if confirm != username:
        raise InvalidInput("type the user name to confirm the erasure", {"confirm": ["must repeat the user name"]})
    if username == actor.username:
        raise InvalidInput("administrators cannot erase themselves", {"username": ["not yourself"]})
    pseudonym = f"borttagen-{secrets.token_hex(4)}"
    try:
        with ctx.uow.write() as tx:
            account = tx.users.by_username(username)
            if account is None:
                raise NotFound(f"there is no user {username}")
            plan = _plan(tx, account)
            mentioned = _mentions(tx, account)
            for _place, model, condition in _deletions(account):
                tx.session.execute(delete(model).where(condition).execution_options(synchronize_session=False))
            tx.session.execute(update(HumanTask).where(HumanTask.assignee == username, HumanTask.state == "open")
                               .values(assignee=None).execution_options(synchronize_session=False))
            affected: set[int] = set()
            for (table_name, column), keys in mentioned.items():
                table = Base.metadata.tables[table_name]
                key_column = list(table.primary_key.columns)[0]
                for key, case_id in keys:
                    if table_name == "case":
                        continue  # cases are changed through the ORM below, so their version moves on
                    value = tx.session.execute(select(table.c[column]).where(key_column == key)).scalar()
                    tx.session.execute(update(table).where(key_column == key)
                                       .values({column: _scrubbed(value, account, pseudonym)}))
                    if case_id:
                        affected.add(case_id)
            case_ids = {key for (t, _c), keys in mentioned.items() if t == "case" for key, _ in keys}
            for case in tx.session.scalars(select(Case).where(or_(Case.id.in_(case_ids), Case.owner == username))):
                case.title = _scrubbed(case.title, account, pseudonym)
                case.state = _scrubbed(case.state, account, pseudonym)
                case.incident = _scrubbed(case.incident, account, pseudonym)
                if case.owner == username:
                    case.owner = pseudonym
                affected.add(case.id)
            for table_name, columns in NAMING_COLUMNS.items():
                table = Base.metadata.tables[table_name]
                for column in columns:
                    if table_name in ("case", "user_account") and column in ("owner", "username"):
                        continue
                    if "case_id" in table.c:
                        affected |= {r for (r,) in tx.session.execute(
                            select(table.c.case_id).where(table.c[column] == username)) if r}
                    tx.session.execute(update(table).where(table.c[column] == username).values({column: pseudonym}))
            if account.email:
                tx.session.execute(update(Outbox).where(Outbox.recipient == account.email)
                                   .values(recipient=pseudonym))
            account.username = pseudonym
            account.display_name = ERASED_NAME
            account.email = None
            account.password_hash = None
            account.oidc_subject = None
            account.is_active = False
            for case_id in sorted(affected):
                tx.events.add(case_id, actor.username, "personal_data_erased", data={"person": pseudonym})
                refresh_search_index(tx, case_id)  # the full-text index holds words, not rows we scrubbed
            tx.users.log("person_erased", pseudonym, {"by": actor.username, "rows": plan.total,
                                                      "cases": len(affected)})
            tx.commit()
    except StaleDataError:
        raise Conflict("a case changed while the person was being erased; nothing was changed, try again") from None
    return plan
