"""Every error, caught once and rendered in the shape of the surface that was asked.

One handler per kind of failure turns it into a `Failure` — status, code, title,
detail, the members the error carries — the same way for every surface: Conveyor's own
errors carry their status and extra members (the field, the position in a statement,
the active run); request validation names each bad field and why; an unknown route is
the router's 404 or 405; anything unexpected is a 500 whose detail is redacted, and is
logged here, once. Details are masked with the generic patterns only (URL passwords,
`password=…`): a service that reports a connection's failure masks that connection's own
secrets first.

A `Failure` is then rendered by the *shape* of the surface the path belongs to: the
native API's is RFC 9457 `application/problem+json` (`problem_json`); a facade plugs in
its protocol's with `add_shape(app, prefix, shape, doc)` (CData's OData error, JSON:API's
`errors`, Elastic's envelope), the longest prefix winning; its `ErrorDoc` is how the
OpenAPI document describes those answers, so the document follows the same registry
(`api.contract`). The headers the failure asks
for (`ConveyorError.headers`, e.g. `Retry-After`; a 405's `Allow`) are added to every
shape's answer, so no shape has to remember them.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from conveyor.crypto import redact
from conveyor.errors import ConveyorError

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"
HTTP_CODES = {
    400: ("BadRequest", "Bad request"),
    401: ("AuthenticationFailed", "Authentication failed"),
    403: ("PermissionDenied", "Forbidden"),
    404: ("NotFound", "Not found"),
    405: ("MethodNotAllowed", "Method not allowed"),
}
"""The router's own failures (an unknown route, a wrong method): a code and a title."""
KINDS: tuple[type[Exception], ...] = (
    ConveyorError,
    RequestValidationError,
    StarletteHTTPException,
    Exception,
)


@dataclass(frozen=True)
class Failure:
    """What went wrong, the same for every surface; a shape only words it."""

    status: int
    code: str
    title: str
    detail: str
    error: Exception
    """What was raised, for a shape that words some errors its own way."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """The members a Conveyor error carries: `field`, `position`, `active_run_id`, …"""
    errors: tuple[dict[str, str], ...] = ()
    """An invalid request's bad fields: `{"field", "reason"}` each."""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def field(self) -> str | None:
        """The field the failure is about, when it is about one."""
        named = self.extra.get("field")
        if named is not None:
            return str(named)
        return self.errors[0]["field"] if self.errors else None


def _field_of(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def failure_of(exc: Exception) -> Failure:
    """The failure an exception stands for."""
    if isinstance(exc, ConveyorError):
        return Failure(
            exc.status_code,
            type(exc).__name__,
            exc.title,
            redact(exc.message),
            exc,
            dict(exc.extra),
            headers=dict(exc.headers),
        )
    if isinstance(exc, RequestValidationError):
        errors = tuple(
            {
                "field": _field_of(tuple(error.get("loc", ()))),
                "reason": "unknown field"
                if error.get("type") == "extra_forbidden"
                else str(error.get("msg", "invalid")),
            }
            for error in exc.errors()
        )
        detail = "; ".join(f"{e['field'] or 'body'}: {e['reason']}" for e in errors)
        return Failure(
            422,
            "InvalidInput",
            "The request is invalid",
            redact(detail or "invalid request"),
            exc,
            errors=errors,
        )
    if isinstance(exc, StarletteHTTPException):
        code, title = HTTP_CODES.get(exc.status_code, ("HTTPError", "HTTP error"))
        headers = dict(exc.headers or {})
        return Failure(exc.status_code, code, title, str(exc.detail), exc, headers=headers)
    detail = redact(f"{type(exc).__name__}: {exc}")
    return Failure(500, "InternalServerError", "Internal server error", detail, exc)


Shape = Callable[[Request, Failure], Awaitable[Response]]
"""How one surface words a failure."""


@dataclass(frozen=True)
class ErrorDoc:
    """How a surface's failures are written down in the OpenAPI document: the media type
    and JSON schema of its error body (a component named `name`), and the statuses its
    shape answers instead of the native ones (CData answers a 422 as a 400)."""

    name: str
    schema: dict[str, Any]
    media_type: str = "application/json"
    statuses: Mapping[int, int] = dataclasses.field(default_factory=dict)

    def status(self, native: int) -> int:
        """The status this surface answers a failure of native status `native` with."""
        return self.statuses.get(native, native)


PROBLEM_DOC = ErrorDoc(
    "Problem",
    {
        "type": "object",
        "description": "An RFC 9457 problem; a Conveyor error's members (`field`, "
        "`position`, `active_run_id`, …) sit beside the standard ones.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "errors": {
                "type": "array",
                "description": "An invalid request's bad fields.",
                "items": {
                    "type": "object",
                    "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
                },
            },
        },
        "additionalProperties": True,
    },
    MEDIA_TYPE,
)
"""The native shape, `problem_json`, documented."""


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """A problem+json response."""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": redact(detail),
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


async def problem_json(request: Request, failure: Failure) -> Response:
    """The native shape: RFC 9457, with the error's members (or the bad fields) beside."""
    headers = None
    if failure.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="conveyor", Basic realm="conveyor"'}
    extra = dict(failure.extra)
    if failure.errors:
        extra.update(errors=list(failure.errors), field=failure.field)
    return problem(failure.status, failure.title, failure.detail, headers, **extra)


def under(path: str, prefix: str) -> bool:
    """Whether a request path belongs to the surface mounted at `prefix`."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


@dataclass
class Shapes:
    """The shapes of an app's surfaces, by path prefix; `problem_json` for the rest."""

    by_prefix: dict[str, Shape] = dataclasses.field(default_factory=dict)
    docs: dict[str, ErrorDoc] = dataclasses.field(default_factory=dict)

    def prefix_of(self, path: str) -> str | None:
        """The longest prefix with a shape that `path` is under, if any."""
        found = [prefix for prefix in self.by_prefix if under(path, prefix)]
        return max(found, key=len) if found else None

    def of(self, path: str) -> Shape:
        prefix = self.prefix_of(path)
        return problem_json if prefix is None else self.by_prefix[prefix]

    def doc_of(self, path: str) -> ErrorDoc:
        """How the failures of the surface `path` belongs to are documented."""
        prefix = self.prefix_of(path)
        return PROBLEM_DOC if prefix is None else self.docs.get(prefix, PROBLEM_DOC)

    async def render(self, request: Request, exc: Exception) -> Response:
        """The one exception handler: every kind of failure, on every surface."""
        failure = failure_of(exc)
        if failure.status >= 500 and not isinstance(exc, ConveyorError):
            log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        response = await self.of(request.url.path)(request, failure)
        response.headers.update(failure.headers)
        return response


def add_shape(app: FastAPI, prefix: str, shape: Shape, doc: ErrorDoc) -> None:
    """Render every failure under `prefix` with `shape` (after `install`); `doc` is how
    the OpenAPI document describes those answers (see `api.contract`)."""
    shapes: Shapes = app.state.error_shapes
    shapes.by_prefix[prefix] = shape
    shapes.docs[prefix] = doc


def install(app: FastAPI) -> None:
    """Register the handlers of every kind of failure on an app (problem+json by default)."""
    shapes = Shapes()
    app.state.error_shapes = shapes
    for kind in KINDS:
        app.add_exception_handler(kind, cast(Any, shapes.render))
