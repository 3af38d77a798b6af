"""Administrators manage people, roles and groups (what `iphs-flow users …` does, for the web).

Every change goes to the access log with who made it. An administrator cannot take away
their own administrator role or deactivate themselves, so nobody locks the last door
behind them by mistake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select

from iphs_flow.bootstrap import AppContext
from iphs_flow.store.tables import GroupMember, UserAccount, UserGroup

from . import accounts
from .accounts import UserInfo
from .errors import Conflict, InvalidInput, NotFound
from .permissions import ADMINISTRATOR, IDEA_OWNER, ROLES, Actor, require_role
from .staffing import group_uses

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,199}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PAGE_SIZE = 50


@dataclass(frozen=True)
class PersonRow:
    username: str
    display_name: str
    email: str | None
    is_active: bool
    source: str
    roles: frozenset[str]
    groups: frozenset[str]
    last_login_at: datetime | None


@dataclass(frozen=True)
class PeoplePage:
    people: list[PersonRow]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class Member:
    username: str
    display_name: str
    is_active: bool


@dataclass(frozen=True)
class GroupView:
    name: str
    members: tuple[Member, ...]
    routed_by: tuple[str, ...]  # the deployed processes that send tasks to the group

    @property
    def active_members(self) -> int:
        return sum(1 for m in self.members if m.is_active)


def _admin(actor: Actor, action: str) -> None:
    require_role(actor, ADMINISTRATOR, action)


def _row(tx, user: UserAccount) -> PersonRow:  # noqa: ANN001
    return PersonRow(user.username, user.display_name, user.email, user.is_active, user.source,
                     frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)), user.last_login_at)


def search_people(ctx: AppContext, actor: Actor, q: str = "", *, offset: int = 0,
                  limit: int = PAGE_SIZE) -> PeoplePage:
    """People whose user name, name or e-mail contains `q` (all without it), by user name."""
    _admin(actor, "manage people")
    q = (q or "").strip()[:200]
    with ctx.uow.read() as tx:
        query = select(UserAccount)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(or_(func.lower(UserAccount.username).like(like),
                                    func.lower(UserAccount.display_name).like(like),
                                    func.lower(func.coalesce(UserAccount.email, "")).like(like)))
        total = tx.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = tx.session.scalars(query.order_by(UserAccount.username).offset(max(offset, 0))
                                  .limit(max(1, min(limit, 200)))).all()
        return PeoplePage([_row(tx, u) for u in rows], int(total), max(offset, 0), limit)


def get_person(ctx: AppContext, actor: Actor, username: str) -> PersonRow:
    _admin(actor, "manage people")
    with ctx.uow.read() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        return _row(tx, user)


def create_person(ctx: AppContext, actor: Actor, *, username: str, display_name: str, email: str | None,
                  password: str | None, roles: set[str], groups: set[str], language: str = "sv") -> UserInfo:
    """A local account made by an administrator (a password, or none for sign-in by SSO only)."""
    _admin(actor, "create accounts")
    fields: dict[str, list[str]] = {}
    if not (display_name or "").strip():
        fields["display_name"] = ["a name is required"]
    if email and not EMAIL.match(email.strip()):
        fields["email"] = ["not an e-mail address"]
    bad_groups = sorted(g for g in groups if not GROUP_NAME.match(g))
    if bad_groups:
        fields["groups"] = [f"not a group name: {', '.join(bad_groups)}"]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        fields["roles"] = [f"unknown: {', '.join(unknown)}"]
    if fields:
        raise InvalidInput("the user cannot be created", fields)
    return accounts.add_user(ctx, username, display_name.strip(), password=password or None,
                             email=(email or "").strip() or None, roles=roles, groups=groups,
                             language=language, actor=actor)


def change_roles(ctx: AppContext, actor: Actor, username: str, roles: set[str],
                 remote_addr: str | None = None) -> UserInfo:
    _admin(actor, "change roles")
    if username == actor.username and ADMINISTRATOR not in roles:
        raise InvalidInput("you cannot take away your own administrator role; ask another administrator",
                           {"roles": ["your own administrator role stays"]})
    return accounts.set_roles(ctx, username, set(roles) | {IDEA_OWNER}, actor, remote_addr=remote_addr)


def set_active(ctx: AppContext, actor: Actor, username: str, active: bool) -> UserInfo:
    _admin(actor, "deactivate accounts")
    if username == actor.username and not active:
        raise Conflict("you cannot deactivate your own account; ask another administrator")
    return accounts.set_active(ctx, username, active, actor)


def _membership(ctx: AppContext, actor: Actor, username: str, group: str, add: bool,
                remote_addr: str | None) -> PersonRow:
    _admin(actor, "change group membership")
    group = (group or "").strip()
    if not GROUP_NAME.match(group):
        raise InvalidInput(f"'{group}' is not a group name (lower-case letters, digits, - . _)",
                           {"group": ["not a group name"]})
    with ctx.uow.write() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user '{username}'")
        groups = tx.users.groups(user.id)
        if add and group in groups:
            raise Conflict(f"{username} is already in {group}")
        if not add and group not in groups:
            raise Conflict(f"{username} is not in {group}")
        after = groups | {group} if add else groups - {group}
        tx.users.set_groups(user.id, after)
        tx.users.log("group_added" if add else "group_removed", user.username,
                     {"by": actor.username, "group": group, "groups_before": sorted(groups),
                      "groups_after": sorted(after)}, remote_addr)
        tx.flush()
        row = _row(tx, user)
        tx.commit()
    return row


def add_to_group(ctx: AppContext, actor: Actor, username: str, group: str,
                 remote_addr: str | None = None) -> PersonRow:
    return _membership(ctx, actor, username, group, True, remote_addr)


def remove_from_group(ctx: AppContext, actor: Actor, username: str, group: str,
                      remote_addr: str | None = None) -> PersonRow:
    return _membership(ctx, actor, username, group, False, remote_addr)


def list_groups(ctx: AppContext, actor: Actor) -> list[GroupView]:
    """Every group that has members or that a deployed process sends tasks to, with its members."""
    _admin(actor, "see groups")
    with ctx.uow.read() as tx:
        routed: dict[str, set[str]] = {}
        for version in tx.processes.latest_versions():
            files = {name: text.encode("utf-8") if isinstance(text, str) else text
                     for name, text in (version.files or {}).items()}
            for use in group_uses(files, ctx.settings.lane_groups):
                routed.setdefault(use.group, set()).add(version.name)
        members: dict[str, list[Member]] = {}
        rows = tx.session.execute(
            select(UserGroup.name, UserAccount.username, UserAccount.display_name, UserAccount.is_active)
            .join(GroupMember, GroupMember.group_id == UserGroup.id)
            .join(UserAccount, UserAccount.id == GroupMember.user_id)
            .order_by(UserGroup.name, UserAccount.username)).all()
        for name, username, display, active in rows:
            members.setdefault(name, []).append(Member(username, display, bool(active)))
        names = set(tx.session.scalars(select(UserGroup.name))) | set(routed)
        return [GroupView(n, tuple(members.get(n, [])), tuple(sorted(routed.get(n, set())))) for n in sorted(names)]


def known_groups(ctx: AppContext, actor: Actor) -> list[str]:
    return [g.name for g in list_groups(ctx, actor)]
