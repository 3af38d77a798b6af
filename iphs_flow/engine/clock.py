"""One clock for the whole engine, so tests and simulations can move time.

SpiffWorkflow's timer events read `datetime.now()` directly. We point the timer module
at a `datetime` subclass whose `now()` asks this clock, so a frozen or advanced clock
moves BPMN timers, due dates and history timestamps together.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

from SpiffWorkflow.bpmn.specs.event_definitions import timer

_lock = threading.Lock()
_frozen: datetime | None = None
_offset = timedelta(0)


def now() -> datetime:
    """The current time, timezone-aware in UTC."""
    with _lock:
        if _frozen is not None:
            return _frozen
        offset = _offset
    return datetime.now(timezone.utc) + offset


def freeze(at: datetime) -> None:
    """Stop the clock at `at` (must be timezone-aware)."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs a timezone-aware datetime")
    with _lock:
        _frozen = at.astimezone(timezone.utc)


def advance(delta: timedelta) -> datetime:
    """Move the clock forward; a running clock gets an offset, a frozen one moves."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset = _offset + delta
    return now()


def reset() -> None:
    """Back to the real time."""
    global _frozen, _offset
    with _lock:
        _frozen = None
        _offset = timedelta(0)


class ClockDatetime(datetime):
    """A `datetime` whose `now()` reads our clock; installed into SpiffWorkflow's timers."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        current = now()
        if tz is None:
            return datetime.fromtimestamp(current.timestamp())
        return current.astimezone(tz)


def install_into_spiffworkflow() -> None:
    """Make SpiffWorkflow's timer events read this clock."""

    timer.datetime = ClockDatetime  # type: ignore[misc]


def snapshot() -> tuple[datetime | None, timedelta]:
    """The clock's setting, to hand to an engine worker process with a step."""
    with _lock:
        return _frozen, _offset


def restore(setting: tuple[datetime | None, timedelta]) -> None:
    """Take over a clock setting from `snapshot()` (in a worker, for one step)."""
    global _frozen, _offset
    with _lock:
        _frozen, _offset = setting
