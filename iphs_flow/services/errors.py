"""What a use case refuses, in words a user can act on; entrypoints map them to status codes."""

from __future__ import annotations


class ServiceError(Exception):
    """Base: carries a user-facing message and the HTTP status that fits it."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


class Conflict(ServiceError):
    """Someone else got there first (stale version, task already done, timer moved on)."""

    status = 409


class StaleCase(Conflict):
    """A write lost the race for a case row: someone else saved it first (the unit of work raises it)."""

    def __init__(self, message: str = "the case was changed by someone else at the same time; reload and try again"
                 ) -> None:
        super().__init__(message)


class InvalidInput(ServiceError):
    """Input that breaks the rules; `fields` maps a field path to its messages."""

    status = 422

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.fields = fields or {}


class InvalidProcess(InvalidInput):
    """A model refused at deploy, pointing at the file, element and line."""

    def __init__(self, message: str, *, file_name: str | None = None, element_id: str | None = None,
                 line: int | None = None) -> None:
        where = {k: v for k, v in (("file", file_name), ("element", element_id), ("line", line)) if v}
        fields = {element_id or file_name or "model": [message]}
        super().__init__(message, fields)
        self.file_name = file_name
        self.element_id = element_id
        self.line = line
        self.where = where


class Unavailable(ServiceError):
    """A dependency (the database) cannot be reached now; the client should retry later."""

    status = 503
