"""The client's exceptions: each failed request raised with the server's problem details.

The native API answers every failure as RFC 9457 `application/problem+json` (`type`,
`title`, `status`, `detail`, and members such as `field`, `position` or `errors`). The
client raises an `APIError` subclass chosen by the status, carrying those members, so a
caller catches what it can handle (`NotFoundError`, `ConflictError`) and reads why::

    try:
        client.jobs.create(name="orders", queries=["REPLICATE [orders] SELECT"])
    except BadRequestError as exc:
        print(exc.detail, exc.problem.get("position"))

Every class derives from `ClientError`, itself a `ConveyorError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientError",
    "ConflictError",
    "ConnectionFailed",
    "ForbiddenError",
    "InvalidRequestError",
    "NotFoundError",
    "RateLimitedError",
    "RunFailed",
    "ServerError",
    "WaitTimeout",
    "error_from",
]


class ClientError(ConveyorError):
    """A request to a Conveyor server failed."""


class ConnectionFailed(ClientError):
    """The server could not be reached (refused, timed out, TLS or DNS failure)."""


class WaitTimeout(ClientError):
    """The run was not final within the time given to wait for it."""


class RunFailed(ClientError):
    """The run ended in error or was canceled (raised by `wait(check=True)`)."""

    def __init__(self, message: str, run: Any) -> None:
        super().__init__(message)
        self.run = run
        """The final run, as the server showed it."""


class APIError(ClientError):
    """The server answered with an error status; its problem details are kept."""

    def __init__(self, status: int, problem: dict[str, Any], retry_after: int | None = None):
        self.status = status
        self.problem = problem
        """The whole problem+json body (or `{"detail": text}` for a body that was not)."""
        self.detail = str(problem.get("detail") or "")
        self.type = str(problem.get("type") or "about:blank")
        self.field: str | None = problem.get("field")
        self.errors: list[dict[str, Any]] = list(problem.get("errors") or [])
        """An invalid request's bad fields: `{"field", "reason"}` each."""
        self.retry_after = retry_after
        """Seconds to wait before asking again, when the server said (429, 503)."""
        super().__init__(f"{status} {self.title}: {self.detail}" if self.detail else self.title)

    @property
    def title(self) -> str:
        """The server's title of the problem (not the class's docstring, as elsewhere)."""
        return str(self.problem.get("title") or f"HTTP {self.status}")


class BadRequestError(APIError):
    """400: the request could not be understood (a bad statement: see `position`)."""


class AuthenticationError(APIError):
    """401: the token is missing, wrong, revoked or expired."""


class ForbiddenError(APIError):
    """403: the token's role does not allow this."""


class NotFoundError(APIError):
    """404: no such resource, or not one the token's workspaces can see."""


class ConflictError(APIError):
    """409: the resource's state refuses the change (a job that is running, a final run)."""


class InvalidRequestError(APIError):
    """422: a field is missing, unknown or of the wrong type (see `errors`)."""


class RateLimitedError(APIError):
    """429: too many requests or failed sign-ins (see `retry_after`)."""


class ServerError(APIError):
    """5xx: the server or a system it reached failed."""


BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitedError,
}


def error_from(response: httpx.Response) -> APIError:
    """The exception for an error response (its body must have been read)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = body if isinstance(body, dict) else {"detail": response.text.strip()}
    status = response.status_code
    kind = BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    retry = response.headers.get("Retry-After", "")
    return kind(status, problem, int(retry) if retry.isdigit() else None)
