"""Every error as RFC 9457 `application/problem+json`: type, title, status, detail.

One handler per kind of failure: Conveyor's own errors carry their status and extra
members (the field, the position in a statement, the active run); request validation
names each bad field and why; anything unexpected is a 500 whose detail is redacted.
Details are masked with the generic patterns only (URL passwords, `password=…`): a
service that reports a connection's failure masks that connection's own secrets first.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from conveyor.crypto import redact
from conveyor.errors import AuthenticationFailed, ConveyorError

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"


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


def _field_of(location: tuple[Any, ...]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


async def conveyor_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConveyorError)
    headers = dict(exc.headers)
    if isinstance(exc, AuthenticationFailed):
        headers["WWW-Authenticate"] = 'Bearer realm="conveyor", Basic realm="conveyor"'
    return problem(exc.status_code, exc.title, exc.message, headers or None, **exc.extra)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        field = _field_of(tuple(error.get("loc", ())))
        reason = (
            "unknown field"
            if error.get("type") == "extra_forbidden"
            else str(error.get("msg", "invalid"))
        )
        errors.append({"field": field, "reason": reason})
    detail = (
        "; ".join(f"{e['field'] or 'body'}: {e['reason']}" for e in errors) or "invalid request"
    )
    return problem(
        422,
        "The request is invalid",
        detail,
        errors=errors,
        field=errors[0]["field"] if errors else None,
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 401: "Authentication failed"}
    return problem(
        exc.status_code,
        titles.get(exc.status_code, "HTTP error"),
        str(exc.detail),
        dict(exc.headers or {}) or None,
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal server error", f"{type(exc).__name__}: {exc}")


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on an app."""
    app.add_exception_handler(ConveyorError, conveyor_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)
