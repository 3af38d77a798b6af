"""What a transaction already knows about a case, so the code after it need not ask again.

A completion's write learns, in its first statement (TaskRepository.take_for_completion),
whether anyone follows the case, whether it has a public page, secret-marked fields or
lessons, and whether anyone is in the group a task its step opens goes to. The followers'
notices, the public page's change stamp, the search index and the new task's notice
would each ask the database the same; they look here first. The facts live in the
session's `info`, and a session lives for one transaction (unit_of_work.py), so they
can never outlive what they describe. Whoever changes such a fact inside the
transaction notes it again (a lesson recorded in it: services/lessons.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

KEY = "iphs_case_facts"
STAFFED_KEY = "iphs_staffed_groups"  # group -> whether anyone active is in it
FOLLOWED = "followed"
PUBLISHED = "published"
SECRET_MARKED = "secret_marked"  # noqa: S105 - the name of a fact, not a password
HAS_LESSONS = "has_lessons"


def note(session: Session, case_id: int, **facts: bool) -> None:
    session.info.setdefault(KEY, {}).setdefault(case_id, {}).update(facts)


def known(session: Any, case_id: int, fact: str) -> bool | None:
    """True or False when the transaction knows; None when it must ask (or `session` is a bare connection)."""
    info = getattr(session, "info", None) if isinstance(session, Session) else None
    return info.get(KEY, {}).get(case_id, {}).get(fact) if info else None


def note_staffed(session: Session, staffed: dict[str, bool]) -> None:
    """Remember whether anyone active is in these groups (a completion learns it with its first
    statement, for the tasks its step opens: services/task_notices.py)."""
    session.info.setdefault(STAFFED_KEY, {}).update(staffed)


def staffed(session: Session, group: str) -> bool | None:
    """True or False when the transaction knows whether anyone active is in `group`; None when it must ask."""
    return session.info.get(STAFFED_KEY, {}).get(group)
