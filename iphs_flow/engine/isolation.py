"""Run the checks that compile or evaluate model code in an engine worker, not in the caller.

Compiling untrusted text is itself work an attacker controls: `-` repeated a hundred
thousand times exhausts the parser's memory, `1+1+...` its recursion, a list literal of
a few megabytes takes seconds of CPU. The deploy checks, the designer's validation and the
DMN table editor all compile every script, condition, timer and DMN cell they read, so
they run here through the engine worker pool (workers.py), under its CPU, memory and
wall-clock limits, exactly like engine steps. The pool installs itself with `install`;
inside a worker (and where no pool exists, e.g. a unit test of a check) the function
runs in the calling process.

While a check works through a model it names the element it is at (`note`); when its
worker is killed over a limit, the refusal names that element and the limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_runner: Callable[..., Any] | None = None
_pool: Any = None  # the engine worker pool offered to run checks (EngineWorkers), used on first need
_reporter: Callable[[str], None] | None = None
_LABEL = re.compile(r"the step was stopped in (.*?): (it .*)$", re.S)


def install(runner: Callable[..., Any] | None) -> None:
    """`runner(func, *args)` runs `func(*args)` in a worker (EngineWorkers.call); None: run here."""
    global _runner
    _runner = runner


def offer(pool: Any) -> None:
    """The pool whose `call` runs the checks; looked up only when a check runs (see run)."""
    global _pool
    _pool = pool


def uninstall(runner: Callable[..., Any]) -> None:
    """A pool that shuts down stops being the runner (checks then run where they are called)."""
    global _runner, _pool
    if _runner == runner:
        _runner = None
    if _pool is not None and getattr(_pool, "call", None) == runner:
        _pool = None


def report_to(reporter: Callable[[str], None] | None) -> None:
    """Inside a worker: where `note` writes the element a check is at."""
    global _reporter
    _reporter = reporter


def note(label: str) -> None:
    """The check is now at `label` (e.g. "the condition of 'Godkänd?' (f_ok)")."""
    reporter = _reporter
    if reporter is not None:
        reporter(label)


def run(func: Callable[..., T], *args: Any) -> T:
    """`func(*args)` in a worker; raises errors.StepKilled when the worker went over a limit."""
    runner = _runner
    if runner is None and _pool is not None and not getattr(_pool, "_closed", False):
        return _pool.call(func, *args)
    if runner is None:
        return func(*args)
    return runner(func, *args)


def stopped_at(message: str) -> tuple[str | None, str]:
    """(the element label, why) of a StepKilled message, to place the refusal on the element."""
    found = _LABEL.match(message)
    if found is None:
        return None, message
    return found.group(1), found.group(2)


def element_id(label: str | None) -> str | None:
    """The BPMN/DMN id in a label written as "... (id)"."""
    if not label:
        return None
    found = re.search(r"\(([A-Za-z_][\w.\-]*)\)\s*$", label)
    return found.group(1) if found else None
