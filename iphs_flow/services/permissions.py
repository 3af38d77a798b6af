"""Who may do what: one answer for every entrypoint (web, API, CLI, scheduler).

Checks live here, in the service layer, not in templates: a page that hides a button
is a convenience, the refusal happens below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import Forbidden, NotFound

IDEA_OWNER = "idea_owner"
APPROVER = "approver"
INNOVATION_LEAD = "innovation_lead"
PROCESS_DESIGNER = "process_designer"
ADMINISTRATOR = "administrator"
REGISTRAR = "registrar"  # keeps the register (diariet): registration data, secrecy, records requests
RESEARCHER = "researcher"  # takes research exports (issue 18); sees no more cases than other roles allow
ROLES = (IDEA_OWNER, APPROVER, INNOVATION_LEAD, PROCESS_DESIGNER, ADMINISTRATOR, REGISTRAR, RESEARCHER)

SYSTEM = "system"


@dataclass(frozen=True)
class Actor:
    """The person (or the engine) on whose behalf a use case runs."""

    username: str
    roles: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    is_system: bool = False

    @classmethod
    def system(cls) -> Actor:
        """The engine and scheduler: timers, reminders, escalations."""
        return cls(SYSTEM, frozenset(ROLES), frozenset(), is_system=True)

    def has(self, role: str) -> bool:
        return self.is_system or role in self.roles

    @property
    def sees_all_cases(self) -> bool:
        return self.is_system or bool({INNOVATION_LEAD, ADMINISTRATOR, REGISTRAR} & self.roles)


def require_role(actor: Actor, role: str, action: str) -> None:
    if not actor.has(role):
        raise Forbidden(f"you may not {action} (needs the role {role})")


def may_work_on(actor: Actor, assignee: str | None, candidate_group: str | None) -> bool:
    """The assignee, or any member of the candidate group while nobody has claimed it."""
    if actor.is_system:
        return True
    if assignee is not None:
        return assignee == actor.username
    return candidate_group is not None and candidate_group in actor.groups


def require_task_access(actor: Actor, assignee: str | None, candidate_group: str | None) -> None:
    if not may_work_on(actor, assignee, candidate_group):
        holder = f"assigned to {assignee}" if assignee else f"for the group {candidate_group}"
        raise Forbidden(f"this task is {holder}; you cannot complete it")


def require_case_visible(actor: Actor, owner: str, participants: set[str], groups: set[str],
                         case_ref: object) -> None:
    """Unknown and invisible cases look the same, so ids cannot be probed (404, not 403)."""
    if actor.sees_all_cases or actor.username == owner or actor.username in participants:
        return
    if groups & actor.groups:
        return
    raise NotFound(f"there is no case {case_ref}")
