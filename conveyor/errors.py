"""Conveyor's exceptions: one root, and subclasses that decide what happens next.

Each class says two things: whether a run that raises it is worth retrying
(`retryable`) and which HTTP status an API request that raises it answers with
(`status_code`). The class docstring is the default message and the problem title.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "AuthenticationFailed",
    "BadStatement",
    "CommandTimedOut",
    "ConfigurationError",
    "Conflict",
    "ConnectorError",
    "ConveyorError",
    "DataError",
    "IllegalTransition",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "RunCanceled",
    "RunSuspended",
    "SourceUnavailable",
    "TableNotFound",
    "TooManySignIns",
    "TryLater",
    "Unsupported",
]


class ConveyorError(Exception):
    """Something went wrong in Conveyor."""

    status_code: ClassVar[int] = 500
    retryable: ClassVar[bool] = False
    problem_type: ClassVar[str] = "about:blank"

    def __init__(self, message: str | None = None, **extra: Any) -> None:
        self.message = message or self.title
        self.extra = extra
        super().__init__(self.message)

    @property
    def title(self) -> str:
        """A short, stable summary: the first line of the class docstring."""
        doc = (type(self).__doc__ or type(self).__name__).strip()
        return doc.splitlines()[0].rstrip(".")

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers every surface's answer to this error carries (none by default)."""
        return {}


# --- API-facing errors -------------------------------------------------------------------


class NotFound(ConveyorError):
    """Not found."""

    status_code = 404


class Conflict(ConveyorError):
    """The request conflicts with the resource's current state."""

    status_code = 409


class IllegalTransition(Conflict):
    """The run cannot move to that status from its current one."""


class InvalidInput(ConveyorError):
    """The request is invalid."""

    status_code = 422

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message, field=field, **extra)
        self.field = field

    @classmethod
    def from_validation(cls, exc: Any) -> InvalidInput:
        """The first problem of a pydantic `ValidationError`, naming its field."""
        problems = exc.errors()
        first = problems[0] if problems else {"loc": (), "msg": str(exc)}
        where = ".".join(str(part) for part in first["loc"])
        message = f"{where}: {first['msg']}" if where else str(first["msg"])
        return cls(
            message,
            field=where or None,
            errors=[
                {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"]} for e in problems
            ],
        )


class BadStatement(ConveyorError):
    """The statement could not be parsed."""

    status_code = 400

    def __init__(self, message: str, *, position: int | None = None, **extra: Any) -> None:
        super().__init__(message, position=position, **extra)
        self.position = position


class AuthenticationFailed(ConveyorError):
    """Authentication failed: missing or invalid credentials."""

    status_code = 401


class TryLater(ConveyorError):
    """Refused for now: the answer carries `Retry-After`, in seconds."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManySignIns(TryLater):
    """Too many failed sign-ins: wait before trying again.

    Raised before the credentials are checked, so it says nothing about whether they
    were right; `Retry-After` says when the next attempt is counted again.
    """

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"too many failed sign-ins from this address or for this user; "
            f"try again in {retry_after} s",
            retry_after,
        )


class PermissionDenied(ConveyorError):
    """Your role does not allow this."""

    status_code = 403


class Unsupported(ConveyorError):
    """This is not supported."""

    status_code = 422


# --- Run-facing errors: retryable or terminal --------------------------------------------


class ConfigurationError(ConveyorError):
    """The job's configuration is wrong; retrying will not help."""

    status_code = 422


class ConnectorError(ConveyorError):
    """A connector failed."""

    status_code = 502
    retryable = True


class SourceUnavailable(ConnectorError):
    """The connection could not be reached."""


class CommandTimedOut(ConnectorError):
    """A command ran longer than the job's `command_timeout` and was stopped.

    Retried like other connector failures: what made it slow (a lock held by another
    session, a busy server) is often gone by the next attempt.
    """

    status_code = 504


class AccessDenied(ConnectorError):
    """The connection refused the credentials."""

    retryable = False


class TableNotFound(ConnectorError):
    """The table does not exist."""

    retryable = False
    status_code = 404


class DataError(ConnectorError):
    """A value could not be converted or written."""

    retryable = False


class RunCanceled(ConveyorError):
    """The run was canceled."""

    status_code = 409


class RunSuspended(ConveyorError):
    """The worker shut down before the run finished; it will resume."""

    retryable = True
