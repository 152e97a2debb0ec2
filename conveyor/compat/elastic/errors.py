"""Elasticsearch's protocol around the connector routes: errors, media types, bodies.

- Errors answer Elasticsearch's envelope `{"error": {"root_cause", "type", "reason"},
  "status"}` with its status codes and exception types.
- Every response under `/_connector` carries `X-Elastic-Product: Elasticsearch`; the
  official clients refuse a server without it.
- Requests may use the vendor media type `application/vnd.elasticsearch+json;
  compatible-with=8` (or 9); bodies are read raw, so any JSON media type is accepted, and
  answers use the vendor type when the client asked for it.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.json_depth import nests_deeper
from conveyor.compat.surface import under
from conveyor.errors import (
    AuthenticationFailed,
    ConveyorError,
    NotFound,
    PermissionDenied,
    TooManySignIns,
)
from conveyor.schemas.elastic import ElasticBody

log = logging.getLogger(__name__)
PREFIX = "/_connector"
PRODUCT = {"X-Elastic-Product": "Elasticsearch"}
_COMPATIBLE = re.compile(r"vnd\.elasticsearch\+json(?:\s*;\s*compatible-with\s*=\s*(\d+))?")
B = TypeVar("B", bound=ElasticBody)


class ElasticError(ConveyorError):
    """An error with Elasticsearch's status and exception type."""

    def __init__(self, status: int, es_type: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.es_type = es_type


def media_type(request: Request | Scope) -> str:
    """The vendor type with the client's version when it asked for it, else JSON."""
    headers = request.headers if isinstance(request, Request) else _headers(request)
    found = _COMPATIBLE.search(headers.get("accept", ""))
    if found is None:
        return "application/json"
    return f"application/vnd.elasticsearch+json;compatible-with={found.group(1) or '8'}"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def error_response(request: Request, status: int, es_type: str, reason: str) -> JSONResponse:
    """Elasticsearch's error envelope."""
    cause = {"type": es_type, "reason": reason}
    headers = dict(PRODUCT)
    if status == 401:
        headers["WWW-Authenticate"] = 'ApiKey, Basic realm="security", Bearer realm="security"'
    return JSONResponse(
        {"error": {"root_cause": [cause], **cause}, "status": status},
        status_code=status,
        headers=headers,
        media_type=media_type(request),
    )


async def render(request: Request, exc: Exception) -> Response:
    """Any failure under `/_connector`, as Elasticsearch would answer it."""
    if isinstance(exc, ElasticError):
        return error_response(request, exc.status, exc.es_type, exc.message)
    if isinstance(exc, NotFound):
        return error_response(request, 404, "resource_not_found_exception", exc.message)
    if isinstance(exc, AuthenticationFailed | PermissionDenied | TooManySignIns):
        return error_response(request, exc.status_code, "security_exception", exc.message)
    if isinstance(exc, ConveyorError):
        # Elasticsearch answers 413 to a body over http.max_content_length, 400 otherwise.
        status = 400 if exc.status_code < 500 and exc.status_code != 413 else exc.status_code
        return error_response(request, status, "status_exception", exc.message)
    if isinstance(exc, RequestValidationError):
        return error_response(request, 400, "x_content_parse_exception", str(exc.errors()[:1]))
    if isinstance(exc, StarletteHTTPException):
        where = f"uri [{request.url.path}] and method [{request.method}]"
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            reason = f"Incorrect HTTP method for {where}, allowed: [{allowed}]"
            return error_response(request, 405, "illegal_argument_exception", reason)
        reason = f"no handler found for {where}"
        return error_response(request, 400, "illegal_argument_exception", reason)
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "exception", f"{type(exc).__name__}: {exc}")


class ElasticHeaders:
    """ASGI middleware: the product header and the negotiated media type on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not under(scope["path"], PREFIX):
            await self.app(scope, receive, send)
            return
        wanted = media_type(scope).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (
                        k,
                        wanted
                        if k.lower() == b"content-type" and v.startswith(b"application/json")
                        else v,
                    )
                    for k, v in message.get("headers", [])
                    if k.lower() != b"x-elastic-product"
                ]
                headers.append((b"x-elastic-product", b"Elasticsearch"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def raw_body(request: Request) -> Any:
    """The request's JSON body (or the `source` parameter's), None when there is none."""
    raw = await request.body()
    if not raw.strip():
        source = request.query_params.get("source")
        if source is None:
            return None
        raw = source.encode()
        depth = request.app.state.runtime.settings.max_json_depth
        if nests_deeper(raw, depth):  # a body's depth is checked by the request limits
            reason = f"[1:1] the source nests deeper than {depth} levels"
            raise ElasticError(400, "x_content_parse_exception", reason)
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        reason = f"[{exc.lineno}:{exc.colno}] {exc.msg}"
        raise ElasticError(400, "x_content_parse_exception", reason) from None
    except ValueError as exc:  # not UTF-8, or a number Python refuses to convert
        raise ElasticError(400, "x_content_parse_exception", f"[1:1] {exc}") from None


def parse(model: type[B], body: Any) -> B:
    """A body as the model, refused the way Elasticsearch's parsers refuse it."""
    if body is None:
        raise ElasticError(400, "parse_exception", "request body is required")
    if not isinstance(body, dict):
        raise ElasticError(
            400, "x_content_parse_exception", f"[1:1] [{model.parser}] Expected START_OBJECT"
        )
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        kind = first["type"]
        if kind == "extra_forbidden":
            reason = f"[1:2] [{model.parser}] unknown field [{field}]"
        elif kind == "missing":
            reason = f"[1:2] Required [{field}]"
        elif kind in ("greater_than_equal", "greater_than"):
            raise ElasticError(
                400,
                "action_request_validation_exception",
                f"Validation Failed: 1: [{field}] cannot be negative.;",
            ) from None
        else:
            reason = f"[1:2] [{model.parser}] failed to parse field [{field}]: {first['msg']}"
        raise ElasticError(400, "x_content_parse_exception", reason) from None


def required_id(value: str, name: str) -> str:
    """A path id; blank ones are refused as Elasticsearch's request validation does."""
    if not value.strip():
        raise ElasticError(
            400,
            "action_request_validation_exception",
            f"Validation Failed: 1: [{name}] cannot be null or empty;",
        )
    return value
