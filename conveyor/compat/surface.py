"""Error shapes per API surface: each facade answers failures in its own protocol's words.

The app's handlers (`conveyor.api.problems`) answer RFC 9457 problems. A facade mounted
under a path prefix wraps them: a failure under its prefix — a Conveyor error, an
unknown route, a bad request, a crash — is rendered by the facade (Elastic's error
envelope, JSON:API's `errors`), anything else falls through to the previous handler.
Wrapping composes, so several facades can each claim their prefix. The headers a
Conveyor error asks for (`ConveyorError.headers`, e.g. `Retry-After`) are added here,
so no facade's renderer has to remember them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from conveyor.errors import ConveyorError

Render = Callable[[Request, Exception], Awaitable[Response]]
Handler = Callable[[Request, Exception], Awaitable[Response]]
KINDS: tuple[type[Exception], ...] = (
    ConveyorError,
    RequestValidationError,
    StarletteHTTPException,
    Exception,
)


def under(path: str, prefix: str) -> bool:
    """Whether a request path belongs to the surface mounted at `prefix`."""
    return path == prefix or path.startswith(prefix.rstrip("/") + "/")


def install(app: FastAPI, prefix: str, render: Render) -> None:
    """Render every kind of failure under `prefix` with `render`."""
    for kind in KINDS:
        fallback = cast(Handler | None, app.exception_handlers.get(kind))
        app.exception_handlers[kind] = cast(Any, _dispatch(prefix, render, fallback))


def _dispatch(prefix: str, render: Render, fallback: Handler | None) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if under(request.url.path, prefix) or fallback is None:
            response = await render(request, exc)
            if isinstance(exc, ConveyorError):  # e.g. Retry-After, whatever the body's shape
                response.headers.update(exc.headers)
            return response
        return await fallback(request, exc)

    return handle
