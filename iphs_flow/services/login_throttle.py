"""Login throttling that slows an attacker without locking the owner out (issue 14).

Each account has a failure count. The first `FREE_ATTEMPTS` failures cost nothing; after
that, the next attempt must wait 1 s, then 2, 4, 8 … up to `IPHS_LOGIN_DELAY_MAX_SECONDS`
(30 s) after the last failure. A guesser gets about two tries a minute, and the owner
waits half a minute at worst, never a lockout. A successful login clears the count.

Attempts from `IPHS_BREAK_GLASS_NETWORKS` (the city's administration network, say) are
counted apart from the rest: failures from outside never delay a login from inside, so
the break-glass administrator can sign in while someone hammers the account from the
internet. (Per-address limits, `IPHS_LOGIN_RATE`, are applied by the web layer.)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import LoginThrottle

from .permissions import ADMINISTRATOR, Actor, require_role

FREE_ATTEMPTS = 3


@dataclass(frozen=True)
class ThrottleInfo:
    username: str
    zone: str
    failures: int
    last_failure_at: datetime
    wait_until: datetime | None


@lru_cache(maxsize=16)
def _networks(spec: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in spec)


def parse_networks(spec: tuple[str, ...]) -> None:
    """Raise ValueError for a setting that is not a list of networks (checked at start)."""
    _networks(spec)


def is_break_glass(ctx: AppContext, remote_addr: str | None) -> bool:
    if not remote_addr or not ctx.settings.break_glass_networks:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in network for network in _networks(ctx.settings.break_glass_networks))


def _zone(ctx: AppContext, remote_addr: str | None) -> str:
    return "inside" if is_break_glass(ctx, remote_addr) else "outside"


def _key(username: str, zone: str) -> str:
    return f"user:{zone}:{username.strip().lower()[:200]}"


def seconds_to_wait(ctx: AppContext, username: str, remote_addr: str | None) -> int:
    """How long this account must wait before the next attempt from this address's zone (0: go ahead)."""
    with ctx.uow.read() as tx:
        row = tx.session.get(LoginThrottle, _key(username, _zone(ctx, remote_addr)))
        if row is None or row.wait_until is None:
            return 0
        left = (row.wait_until - now()).total_seconds()
    return max(0, int(left + 0.999))


def _delay(ctx: AppContext, failures: int) -> float:
    if failures < FREE_ATTEMPTS:
        return 0.0
    return min(2.0 ** (failures - FREE_ATTEMPTS), ctx.settings.login_delay_max_seconds)


def failed(ctx: AppContext, username: str, remote_addr: str | None) -> int:
    """Count a failed login; returns the seconds the next attempt must wait."""
    key, at = _key(username, _zone(ctx, remote_addr)), now()
    with ctx.uow.write() as tx:
        row = tx.session.get(LoginThrottle, key)
        if row is None:
            row = LoginThrottle(key=key, failures=0, last_failure_at=at)
            tx.session.add(row)
        row.failures += 1
        row.last_failure_at = at
        delay = _delay(ctx, row.failures)
        row.wait_until = at + timedelta(seconds=delay) if delay else None
        tx.commit()
    return int(delay + 0.999)


def succeeded(ctx: AppContext, username: str, remote_addr: str | None) -> None:
    with ctx.uow.write() as tx:
        tx.session.execute(delete(LoginThrottle).where(LoginThrottle.key == _key(username, _zone(ctx, remote_addr))))
        tx.commit()


def throttled_accounts(ctx: AppContext, actor: Actor, limit: int = 200) -> list[ThrottleInfo]:
    """Accounts with failed logins that slow them now, most recent first; administrators only."""
    require_role(actor, ADMINISTRATOR, "see throttled logins")
    with ctx.uow.read() as tx:
        rows = tx.session.execute(select(LoginThrottle).where(LoginThrottle.failures >= FREE_ATTEMPTS)
                                  .order_by(LoginThrottle.last_failure_at.desc()).limit(limit)).scalars()
        out = []
        for row in rows:
            _, zone, username = row.key.split(":", 2)
            out.append(ThrottleInfo(username, zone, row.failures, row.last_failure_at, row.wait_until))
        return out


def purge_older_than(ctx: AppContext, days: float = 1.0) -> int:
    """Forget failures older than `days` (the scheduler's housekeeping)."""
    with ctx.uow.write() as tx:
        result = tx.session.execute(delete(LoginThrottle).where(
            LoginThrottle.last_failure_at < now() - timedelta(days=days)))
        tx.commit()
    return int(result.rowcount or 0)
