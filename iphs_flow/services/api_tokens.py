"""Personal API tokens: how an integration acts for a person without that person's password.

A token reads `iphs_<prefix>_<secret>`: the prefix (8 hex digits, not secret) finds the
row and is what lists show; the secret is 32 random bytes from `secrets`. Only a
SHA-256 of the whole token is stored, so the token is shown once, at creation, and a
copy of the database does not let anyone call the API.

A token acts with the roles and groups its owner has *now*: a role taken away, an
account deactivated or a token revoked applies to the next request. Scopes narrow a
token further: `read` may only read, `write` (which implies `read`) may also change things.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import ApiToken

from .errors import Conflict, Forbidden, InvalidInput, NotFound, ServiceError
from .permissions import ADMINISTRATOR, Actor

READ = "read"
WRITE = "write"
SCOPES = (READ, WRITE)
TOKEN_PREFIX = "iphs"  # noqa: S105 - the public start of every token, not a secret
MAX_NAME = 100
MAX_EXPIRY_DAYS = 730
MAX_ID = 2**63 - 1
MAX_USABLE_TOKENS = 50  # per person: enough for every integration, too few to lose track of
# last_used_at is written at most this often, so a busy integration does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)
_SHAPE = re.compile(r"^iphs_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")
_DUMMY_HASH = hashlib.sha256(b"no such token").hexdigest()


class InvalidToken(ServiceError):
    """A token that does not let anyone in; `reason` is for the access log, not for the caller."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__("the token is not valid (unknown, revoked or expired)")
        self.reason = reason


@dataclass(frozen=True)
class TokenInfo:
    """A token as its owner sees it: never the secret."""

    id: int
    username: str
    name: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def state(self) -> str:
        """active, expired or revoked."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now():
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewToken:
    """A token just created: `secret` is the whole token, shown to its owner once."""

    info: TokenInfo
    secret: str


@dataclass(frozen=True)
class TokenGrant:
    """Who a presented token acts for, and what it may do."""

    actor: Actor
    scopes: frozenset[str]
    token_id: int

    def may_write(self) -> bool:
        return WRITE in self.scopes


def hash_token(token: str) -> str:
    """SHA-256, not a password hash: the secret has 256 random bits, so nothing is gained by
    making each check slow, and every API request pays for the check."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _info(token: ApiToken) -> TokenInfo:
    return TokenInfo(token.id, token.user.username, token.name, f"{TOKEN_PREFIX}_{token.prefix}",
                     tuple(token.scopes.split()), token.created_at, token.expires_at, token.last_used_at,
                     token.revoked_at)


def normalise_scopes(scopes: list[str] | tuple[str, ...] | set[str] | str) -> tuple[str, ...]:
    """["write"] -> ("read", "write"); unknown scopes are refused, not ignored."""
    wanted = set(scopes.split()) if isinstance(scopes, str) else {str(s) for s in scopes}
    unknown = wanted - set(SCOPES)
    if unknown or not wanted:
        raise InvalidInput("choose the scope read or write",
                           {"scopes": [f"unknown: {', '.join(sorted(unknown))}" if unknown else "at least one"]})
    if WRITE in wanted:
        wanted.add(READ)
    return tuple(s for s in SCOPES if s in wanted)


def create_token(ctx: AppContext, actor: Actor, name: str, scopes: list[str] | tuple[str, ...] | set[str] | str,
                 expires_in_days: int | None = None, *, remote_addr: str | None = None) -> NewToken:
    """Make a token for the actor themself; the returned secret is never available again."""
    fields: dict[str, list[str]] = {}
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME:
        fields["name"] = [f"a name of 1 to {MAX_NAME} characters, so you know later what the token is for"]
    try:
        chosen = normalise_scopes(scopes)
    except InvalidInput as err:
        fields.update(err.fields)
        chosen = ()
    if expires_in_days is not None and (isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int)
                                        or not 1 <= expires_in_days <= MAX_EXPIRY_DAYS):
        fields["expires_in_days"] = [f"a number of days from 1 to {MAX_EXPIRY_DAYS}, or none"]
    if fields:
        raise InvalidInput("the token cannot be created", fields)
    at = now()
    with ctx.uow.write() as tx:
        user = tx.users.by_username(actor.username)
        if user is None or not user.is_active or actor.is_system:
            raise Forbidden("only a signed-in person with an active account may create API tokens")
        if tx.api_tokens.count_usable(user.id, at) >= MAX_USABLE_TOKENS:
            raise Conflict(f"you already have {MAX_USABLE_TOKENS} usable tokens; revoke some first")
        prefix = secrets.token_hex(4)
        while tx.api_tokens.by_prefix(prefix) is not None:  # 2^32 prefixes: a clash is rare but possible
            prefix = secrets.token_hex(4)
        secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        token = tx.api_tokens.add(ApiToken(
            user_id=user.id, name=name, prefix=prefix, secret_hash=hash_token(secret), scopes=" ".join(chosen),
            created_at=at, expires_at=at + timedelta(days=expires_in_days) if expires_in_days else None))
        token.user = user
        tx.users.log("api_token_created", user.username, {
            "token": token.id, "prefix": f"{TOKEN_PREFIX}_{prefix}", "name": name, "scopes": list(chosen),
            "expires_at": token.expires_at.isoformat() if token.expires_at else None}, remote_addr)
        info = _info(token)
        tx.commit()
    return NewToken(info, secret)


def list_tokens(ctx: AppContext, actor: Actor, username: str | None = None) -> list[TokenInfo]:
    """Your own tokens, newest first; administrators may list anyone's."""
    target = username or actor.username
    if target != actor.username and not actor.has(ADMINISTRATOR):
        raise Forbidden("you may only list your own API tokens (administrators may list anyone's)")
    with ctx.uow.read() as tx:
        return [_info(t) for t in tx.api_tokens.for_user(target)]


def revoke_token(ctx: AppContext, token_id: int, actor: Actor, *, remote_addr: str | None = None) -> TokenInfo:
    """Stop a token at once. Your own; administrators may revoke anyone's. Revoking twice is harmless."""
    if not 1 <= token_id <= MAX_ID:  # beyond BIGINT the database would overflow, not say "no such token"
        raise NotFound(f"there is no API token {token_id} of yours")
    with ctx.uow.write() as tx:
        token = tx.api_tokens.get(token_id)
        if token is None or (token.user.username != actor.username and not actor.has(ADMINISTRATOR)):
            raise NotFound(f"there is no API token {token_id} of yours")
        if token.revoked_at is None:
            token.revoked_at = now()
            tx.users.log("api_token_revoked", token.user.username, {
                "token": token.id, "prefix": f"{TOKEN_PREFIX}_{token.prefix}", "by": actor.username}, remote_addr)
        info = _info(token)
        tx.commit()
    return info


def looks_like_token(value: str) -> bool:
    """A personal token rather than a JWT: tells the two kinds of bearer apart."""
    return value.startswith(f"{TOKEN_PREFIX}_")


def authenticate_token(ctx: AppContext, token: str, *, remote_addr: str | None = None) -> TokenGrant:
    """The person and scopes behind a token, or InvalidToken (logged as api_token_refused).

    Refused: malformed, unknown, revoked, expired, or the owner's account deactivated.
    """
    shape = _SHAPE.match(token or "")
    prefix = shape.group(1) if shape else None
    owner: str | None = None
    reason: str | None = None
    at = now()
    # One statement, so no snapshot and no transaction: a revocation committed before it is seen.
    with ctx.uow.read(snapshot=False) as tx:
        found = tx.api_tokens.by_prefix_with_access(prefix) if prefix else None
        row, roles, groups = found if found is not None else (None, set(), set())
        # Compare a hash even when nothing matched, so a wrong prefix takes as long as a wrong secret.
        matches = hmac.compare_digest(row.secret_hash if row else _DUMMY_HASH, hash_token(token or ""))
        if row is None or not matches:
            reason = "malformed" if shape is None else "unknown"
        else:
            owner = row.user.username
            if row.revoked_at is not None:
                reason = "revoked"
            elif row.expires_at is not None and row.expires_at <= at:
                reason = "expired"
            elif not row.user.is_active:
                reason = "deactivated"
            else:
                grant = TokenGrant(Actor(owner, frozenset(roles), frozenset(groups)),
                                   frozenset(row.scopes.split()), row.id)
                stale = row.last_used_at is None or at - row.last_used_at >= LAST_USED_RESOLUTION
    if reason is not None:
        with ctx.uow.write() as tx:
            tx.users.log("api_token_refused", owner, {
                "prefix": f"{TOKEN_PREFIX}_{prefix}" if prefix else None, "reason": reason},
                (remote_addr or None) and remote_addr[:64])
            tx.commit()
        raise InvalidToken(reason)
    if stale:
        with ctx.uow.write() as tx:
            tx.api_tokens.note_used(grant.token_id, at)
            tx.commit()
    return grant
