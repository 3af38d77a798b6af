"""Errors the engine raises; the service layer turns them into user-facing answers."""

from __future__ import annotations


class EngineError(Exception):
    """Base class for everything the engine refuses or fails at."""


class StepKilled(EngineError):
    """A step went over a hard limit and its worker was killed."""


class UnsafeXML(EngineError):
    """An uploaded model declares a DOCTYPE or entities (XXE, billion laughs)."""


class InvalidModel(EngineError):
    """A model that cannot be deployed; carries the element and line where known."""

    def __init__(self, message: str, *, file_name: str | None = None,
                 element_id: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.file_name = file_name
        self.element_id = element_id
        self.line = line
        where = ", ".join(
            part for part in (
                f"file {file_name}" if file_name else "",
                f"element {element_id}" if element_id else "",
                f"line {line}" if line else "",
            ) if part
        )
        super().__init__(f"{message} ({where})" if where else message)


class ScriptError(EngineError):
    """A script, condition or expression failed, or broke the sandbox rules."""


class ScriptTimeout(ScriptError):
    """A script ran past its time limit."""


class TaskNotReady(EngineError):
    """The task is not (or no longer) waiting for input: completed, cancelled or unknown."""
