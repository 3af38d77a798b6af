"""Server-side sessions (issue 14): a signed cookie alone cannot be taken back.

The browser's signed cookie carries a random session id; the database keeps its SHA-256
(`user_session`), and a request counts as signed in only while that row exists and is
not ended. Logging out ends the row, so a copy of the cookie made before is worthless;
a password change, a deactivation and an administrator's "sign out everywhere" end
every row of the account at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import UserSession

from .errors import InvalidInput, NotFound
from .permissions import ADMINISTRATOR, Actor, require_role

SEEN_EVERY_SECONDS = 60  # how often the last-seen time is written (not on every click)


@dataclass(frozen=True)
class SessionInfo:
    username: str
    created_at: datetime
    seen_at: datetime
    remote_addr: str | None


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def open_session(ctx: AppContext, username: str, remote_addr: str | None = None) -> str:
    """A new session for a login; returns the id for the cookie (only its hash is stored)."""
    session_id = secrets.token_urlsafe(32)
    at = now()
    with ctx.uow.write() as tx:
        tx.session.add(UserSession(id=_key(session_id), username=username, created_at=at, seen_at=at,
                                   remote_addr=(remote_addr or None) and remote_addr[:100]))
        tx.commit()
    return session_id


def active_username(ctx: AppContext, session_id: object) -> str | None:
    """Whose session this is, or None when it is unknown or ended; refreshes its last-seen time."""
    if not isinstance(session_id, str) or not session_id:
        return None
    key = _key(session_id)
    with ctx.uow.read() as tx:
        row = tx.session.get(UserSession, key)
        if row is None or row.ended_at is not None:
            return None
        username, seen = row.username, row.seen_at
    if now() - seen > timedelta(seconds=SEEN_EVERY_SECONDS):
        with ctx.uow.write() as tx:
            tx.session.execute(update(UserSession).where(UserSession.id == key, UserSession.ended_at.is_(None))
                               .values(seen_at=now()))
            tx.commit()
    return username


def end_session(ctx: AppContext, session_id: object, reason: str = "logout") -> None:
    if not isinstance(session_id, str) or not session_id:
        return
    with ctx.uow.write() as tx:
        tx.session.execute(update(UserSession).where(UserSession.id == _key(session_id),
                                                     UserSession.ended_at.is_(None))
                           .values(ended_at=now(), ended_reason=reason[:50]))
        tx.commit()


def end_all_in(tx: object, username: str, reason: str) -> int:
    """End every open session of `username` inside an open transaction; returns how many."""
    result = tx.session.execute(update(UserSession).where(UserSession.username == username,  # type: ignore[attr-defined]
                                                          UserSession.ended_at.is_(None))
                                .values(ended_at=now(), ended_reason=reason[:50]))
    return int(result.rowcount or 0)


def sign_out_everywhere(ctx: AppContext, username: str, actor: Actor, remote_addr: str | None = None) -> int:
    """An administrator ends every session of an account at once (a lost laptop, a leaver)."""
    require_role(actor, ADMINISTRATOR, "sign people out")
    username = (username or "").strip()
    if not username:
        raise InvalidInput("whom to sign out?", {"username": ["a user name is required"]})
    with ctx.uow.write() as tx:
        if tx.users.by_username(username) is None:
            raise NotFound(f"there is no user '{username}'")
        ended = end_all_in(tx, username, "signed_out_by_admin")
        tx.users.log("signed_out_everywhere", username, {"by": actor.username, "sessions": ended}, remote_addr)
        tx.commit()
    return ended


def open_sessions(ctx: AppContext, actor: Actor, limit: int = 200) -> list[SessionInfo]:
    """Sessions still open, newest activity first; administrators only."""
    require_role(actor, ADMINISTRATOR, "see who is signed in")
    with ctx.uow.read() as tx:
        rows = tx.session.execute(select(UserSession).where(UserSession.ended_at.is_(None))
                                  .order_by(UserSession.seen_at.desc()).limit(limit)).scalars()
        return [SessionInfo(r.username, r.created_at, r.seen_at, r.remote_addr) for r in rows]


def purge_old(ctx: AppContext, keep_days: float = 30.0) -> int:
    """Forget sessions ended (or idle past any limit) more than `keep_days` ago (the scheduler's housekeeping)."""

    cutoff = now() - timedelta(days=keep_days)
    with ctx.uow.write() as tx:
        result = tx.session.execute(delete(UserSession).where(or_(UserSession.ended_at < cutoff,
                                                                  UserSession.seen_at < cutoff)))
        tx.commit()
    return int(result.rowcount or 0)
