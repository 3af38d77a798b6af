"""Local accounts: create users, check passwords (argon2), resolve who someone is."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import UserAccount

from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, IDEA_OWNER, ROLES, Actor, require_role
from .sessions import end_all_in

# argon2id at the library's defaults (RFC 9106's low-memory profile: 64 MiB, 3 passes),
# above OWASP's minimum; a stored hash carries its own parameters, so raising them later
# rehashes each password at its owner's next login (check_needs_rehash below).
DEFAULT_HASHER = PasswordHasher()
_hasher = DEFAULT_HASHER
# Verifying against this keeps the time of a login with an unknown name the same.
_DUMMY_HASH = _hasher.hash("not a real password")


def use_password_hasher(hasher: PasswordHasher) -> None:
    """Hash and check passwords with `hasher` from now on in this process.

    For test suites only, as Django's test settings swap in a fast hasher: every test
    world creates a dozen accounts, and 150 ms of argon2 each is most of a test's time.
    The server never calls this.
    """
    global _hasher, _DUMMY_HASH
    _hasher = hasher
    _DUMMY_HASH = hasher.hash("not a real password")
MIN_PASSWORD = 12


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    email: str | None
    language: str
    roles: frozenset[str]
    groups: frozenset[str]
    manager_username: str | None
    notify_mode: str
    source: str


def _info(tx, user: UserAccount) -> UserInfo:  # noqa: ANN001
    return UserInfo(user.username, user.display_name, user.email, user.language,
                    frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)),
                    user.manager_username, user.notify_mode, user.source)


def _check_roles(roles: set[str]) -> None:
    unknown = roles - set(ROLES)
    if unknown:
        raise InvalidInput(f"unknown role(s): {', '.join(sorted(unknown))}; known: {', '.join(ROLES)}",
                           {"roles": [f"unknown: {', '.join(sorted(unknown))}"]})


def add_user(ctx: AppContext, username: str, display_name: str, *, password: str | None = None,
             email: str | None = None, roles: set[str] | None = None, groups: set[str] | None = None,
             language: str = "sv", manager: str | None = None, actor: Actor | None = None) -> UserInfo:
    """Create a local account; everyone may submit needs, so idea_owner is always granted."""
    username = username.strip()
    fields: dict[str, list[str]] = {}
    if not username or len(username) > 200 or any(c.isspace() for c in username):
        fields["username"] = ["a user name without spaces is required"]
    if password is not None and len(password) < MIN_PASSWORD:
        fields["password"] = [f"at least {MIN_PASSWORD} characters"]
    if language not in ("sv", "en"):
        fields["language"] = ["sv or en"]
    if fields:
        raise InvalidInput("the user cannot be created", fields)
    roles = set(roles or set()) | {IDEA_OWNER}
    _check_roles(roles)
    with ctx.uow.write() as tx:
        if tx.users.by_username(username) is not None:
            raise Conflict(f"the user '{username}' already exists")
        user = tx.users.add(UserAccount(
            username=username, display_name=display_name or username, email=email, language=language,
            password_hash=_hasher.hash(password) if password else None, is_active=True, source="local",
            manager_username=manager, notify_mode="immediate", created_at=now(),
        ))
        tx.users.set_roles(user.id, roles)
        tx.users.set_groups(user.id, set(groups or set()))
        tx.users.log("user_created", username, {"roles": sorted(roles), "groups": sorted(groups or []),
                                                 "by": actor.username if actor else None})
        info = _info(tx, user)
        tx.commit()
    return info


def set_password(ctx: AppContext, username: str, password: str, actor: Actor,
                 remote_addr: str | None = None) -> UserInfo:
    """A new password (the person themself or an administrator); every open session of the account ends."""
    if actor.username != username:
        require_role(actor, ADMINISTRATOR, "set another person's password")
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidInput("the password cannot be set", {"password": [f"at least {MIN_PASSWORD} characters"]})
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        user.password_hash = _hasher.hash(password)
        ended = end_all_in(tx, user.username, "password_changed")
        tx.users.log("password_changed", user.username, {"by": actor.username, "sessions_ended": ended}, remote_addr)
        info = _info(tx, user)
        tx.commit()
    return info


LANGUAGES = ("sv", "en")


def set_language(ctx: AppContext, actor: Actor, username: str, language: str) -> str:
    """The language a person reads pages and mails in: people choose their own; admins anyone's."""
    if actor.username != username:
        require_role(actor, ADMINISTRATOR, "change someone else's language")
    if language not in LANGUAGES:
        raise InvalidInput("unknown language", {"language": ["sv or en"]})
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        if user.language != language:
            user.language = language
            tx.users.log("language_changed", username, {"language": language, "by": actor.username})
        tx.commit()
    return language


def get_user(ctx: AppContext, username: str) -> UserInfo:
    with ctx.uow.read() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        return _info(tx, user)


def actor_for(ctx: AppContext, username: str) -> Actor:
    """The Actor for a known, active user (what permission checks need)."""
    with ctx.uow.read() as tx:
        user = tx.users.by_username(username)
        if user is None or not user.is_active:
            raise NotFound(f"there is no active user '{username}'; create one with `iphs-flow users add`")
        return Actor(user.username, frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)))


def authenticate(ctx: AppContext, username: str, password: str, remote_addr: str | None = None) -> Actor | None:
    """Check a local password; log success and failure; None when it does not match."""
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        ok = False
        try:
            ok = _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            ok = False
        ok = ok and user is not None and user.is_active and bool(user.password_hash)
        if not ok:
            tx.users.log("login_failed", username[:200], {}, remote_addr)
            tx.commit()
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = _hasher.hash(password)
        user.last_login_at = now()
        tx.users.log("login", user.username, {"method": "password"}, remote_addr)
        actor = Actor(user.username, frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)))
        tx.commit()
    return actor


def list_users(ctx: AppContext) -> list[UserInfo]:
    with ctx.uow.read() as tx:
        return [_info(tx, u) for u in tx.users.all()]


DEMO_USERS = (
    ("anna", "Anna Andersson", "idéägare", set(), set(), "lena"),
    ("lena", "Lena Lind", "innovationsledare", {"innovation_lead"}, {"innovation-leads"}, "bo"),
    ("bo", "Bo Berg", "beslutsfattare (grindarna, enhetschef, förvaltningsledning, stadsledningskontoret)",
     {"approver"}, {"gate-deciders", "unit-managers", "department-management", "city-executive-office"}, None),
    ("dora", "Dora Dahl", "processdesigner", {"process_designer"}, set(), None),
    ("adam", "Adam Ek", "administratör", {"administrator"}, {"administrators"}, None),
)


def create_demo_users(ctx: AppContext) -> list[tuple[str, str, str]]:
    """Demo accounts for `make run`; random passwords, returned (and shown) only once."""

    created = []
    for username, name, description, roles, groups, manager in DEMO_USERS:
        with ctx.uow.read() as tx:
            if tx.users.by_username(username) is not None:
                continue
        password = secrets.token_urlsafe(12)
        add_user(ctx, username, name, password=password, email=f"{username}@demo.iphs-flow.se",
                 roles=roles, groups=groups, manager=manager)
        created.append((username, password, description))
    return created


# ---------------------------------------------------------------- sessions and the access log


@dataclass(frozen=True)
class SignedIn:
    """Who a session belongs to, re-read on every request so role changes apply at once."""

    actor: Actor
    display_name: str
    language: str


def signed_in(ctx: AppContext, username: str) -> SignedIn | None:
    """The active user behind a session; None when the account is gone or deactivated."""
    with ctx.uow.read() as tx:
        user = tx.users.by_username(username)
        if user is None or not user.is_active:
            return None
        roles, groups = tx.users.access(user.id)
        actor = Actor(user.username, frozenset(roles), frozenset(groups))
        return SignedIn(actor, user.display_name, user.language)


def log_access(ctx: AppContext, event: str, username: str | None, detail: dict[str, Any] | None = None,
               remote_addr: str | None = None) -> None:
    """Record a security-relevant event (logout, access_denied, ...) in its own transaction."""
    with ctx.uow.write() as tx:
        tx.users.log(event[:40], (username or None) and username[:200], detail or {},
                     (remote_addr or None) and remote_addr[:64])
        tx.commit()


@dataclass(frozen=True)
class AccessEntry:
    at: datetime
    username: str | None
    event: str
    detail: dict[str, Any]
    remote_addr: str | None


def access_log(ctx: AppContext, actor: Actor, *, username: str | None = None, event: str | None = None,
               limit: int = 100) -> list[AccessEntry]:
    """The newest security events first; only administrators read it."""
    require_role(actor, ADMINISTRATOR, "read the access log")
    with ctx.uow.read() as tx:
        return [AccessEntry(e.at, e.username, e.event, dict(e.detail or {}), e.remote_addr)
                for e in tx.users.access_log(username=username, event=event, limit=limit)]


def set_roles(ctx: AppContext, username: str, roles: set[str], actor: Actor, *,
              groups: set[str] | None = None, remote_addr: str | None = None) -> UserInfo:
    """Replace a user's roles (and groups, when given); administrators only, always logged."""
    require_role(actor, ADMINISTRATOR, "change roles")
    roles = set(roles) | {IDEA_OWNER}
    _check_roles(roles)
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        before_roles, before_groups = tx.users.roles(user.id), tx.users.groups(user.id)
        tx.users.set_roles(user.id, roles)
        detail: dict[str, Any] = {"by": actor.username, "before": sorted(before_roles), "after": sorted(roles)}
        if groups is not None:
            tx.users.set_groups(user.id, set(groups))
            detail.update(groups_before=sorted(before_groups), groups_after=sorted(groups))
        tx.users.log("role_changed", user.username, detail, remote_addr)
        tx.flush()
        info = _info(tx, user)
        tx.commit()
    return info


def set_active(ctx: AppContext, username: str, active: bool, actor: Actor) -> UserInfo:
    """Deactivate (or reactivate) an account; its sessions stop working at the next request."""
    require_role(actor, ADMINISTRATOR, "deactivate accounts")
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        user.is_active = active
        detail: dict[str, Any] = {"by": actor.username}
        if not active:
            detail["sessions_ended"] = end_all_in(tx, user.username, "deactivated")
        tx.users.log("user_activated" if active else "user_deactivated", user.username, detail)
        info = _info(tx, user)
        tx.commit()
    return info


def sso_login(ctx: AppContext, subject: str, *, issuer: str, username: str, display_name: str,
              email: str | None, roles: set[str], groups: set[str], remote_addr: str | None = None,
              method: str = "oidc") -> Actor:
    """Sign in someone the city's identity provider vouched for; create them on first login.

    `method` says how in the access log: "oidc" for the web login, "oidc_bearer" for an API
    call with the provider's token.

    Roles and groups come from the provider's claim at every login, so a change there applies
    at the next sign-in. An SSO login never takes over a local account of the same name.
    """
    roles = set(roles) | {IDEA_OWNER}
    _check_roles(roles)
    key = f"{issuer}|{subject}"[:300]
    with ctx.uow.write() as tx:
        user = tx.users.by_oidc_subject(key)
        if user is None:
            name = username
            taken = tx.users.by_username(name)
            if taken is not None:
                name = f"{username}@sso"
                if tx.users.by_username(name) is not None:
                    raise Conflict(f"the user name '{username}' is taken by another account")
            user = tx.users.add(UserAccount(
                username=name[:200], display_name=(display_name or name)[:300], email=email, language="sv",
                password_hash=None, is_active=True, source="oidc", oidc_subject=key,
                notify_mode="immediate", created_at=now(),
            ))
            tx.users.log("user_created", user.username, {"source": "oidc", "roles": sorted(roles),
                                                        "groups": sorted(groups)}, remote_addr)
            before_roles: set[str] = set()
            before_groups: set[str] = set()
        else:
            if not user.is_active:
                tx.users.log("login_failed", user.username, {"method": method, "reason": "deactivated"},
                             remote_addr)
                tx.commit()
                raise Forbidden("the account is deactivated")
            before_roles, before_groups = tx.users.roles(user.id), tx.users.groups(user.id)
            user.display_name = (display_name or user.display_name)[:300]
            user.email = email or user.email
        if before_roles != roles or before_groups != groups:
            tx.users.set_roles(user.id, roles)
            tx.users.set_groups(user.id, groups)
            if before_roles or before_groups:
                tx.users.log("role_changed", user.username, {
                    "by": "oidc", "before": sorted(before_roles), "after": sorted(roles),
                    "groups_before": sorted(before_groups), "groups_after": sorted(groups)}, remote_addr)
        user.last_login_at = now()
        tx.users.log("login", user.username, {"method": method}, remote_addr)
        actor = Actor(user.username, frozenset(roles), frozenset(groups))
        tx.commit()
    return actor
