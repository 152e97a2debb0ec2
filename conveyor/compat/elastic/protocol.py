"""Elasticsearch's HTTP protocol around the connector routes: answers and errors.

- Answers are JSON in the negotiated media type: requests may use the vendor type
  `application/vnd.elasticsearch+json; compatible-with=8` (or 9), and get it back when
  they asked for it. `filter_path` trims an answer and `pretty` indents it, on every route.
- Errors answer Elasticsearch's envelope `{"error": {"root_cause", "type", "reason"},
  "status"}` with its status codes and exception types; `ElasticError`'s constructors
  name the types the facade raises itself.
- Every response under `/_connector` and `/_security` carries `X-Elastic-Product: Elasticsearch`; the
  official clients refuse a server without it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.problems import ErrorDoc, Failure, under
from conveyor.errors import (
    AuthenticationFailed,
    ConveyorError,
    NotFound,
    PermissionDenied,
    TooManySignIns,
)
from conveyor.services import listing
from conveyor.services.elastic.documents import iso

PREFIX = "/_connector"
PREFIXES = (PREFIX, "/_security")
"""Where the facade is mounted: the connector APIs and the security API subset."""
_COMPATIBLE = re.compile(r"vnd\.elasticsearch\+json(?:\s*;\s*compatible-with\s*=\s*(\d+))?")
_DROP = object()
T = TypeVar("T")
UPDATED = {"result": "updated"}
"""The answer to every `PUT …/_<action>` that changes one part of a resource."""
NOOP = {"result": "noop"}
"""The answer to a `PUT …/_<action>` that left the resource as it was."""


class ElasticError(ConveyorError):
    """An error with Elasticsearch's status and exception type."""

    def __init__(self, status: int, es_type: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.es_type = es_type

    @classmethod
    def illegal_argument(cls, reason: str) -> ElasticError:
        """A parameter, path or method Elasticsearch does not accept."""
        return cls(400, "illegal_argument_exception", reason)

    @classmethod
    def validation_failed(cls, *reasons: str) -> ElasticError:
        """A request Elasticsearch's request validation refuses, for these reasons."""
        listed = "".join(f"{n}: {reason};" for n, reason in enumerate(reasons, start=1))
        return cls(400, "action_request_validation_exception", f"Validation Failed: {listed}")

    @classmethod
    def unparsable(cls, reason: str) -> ElasticError:
        """A body Elasticsearch's content parser refuses."""
        return cls(400, "x_content_parse_exception", reason)


def media_type(request: Request | Scope) -> str:
    """The vendor type with the client's version when it asked for it, else JSON."""
    headers = request.headers if isinstance(request, Request) else _headers(request)
    found = _COMPATIBLE.search(headers.get("accept", ""))
    if found is None:
        return "application/json"
    return f"application/vnd.elasticsearch+json;compatible-with={found.group(1) or '8'}"


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _keep(node: Any, patterns: list[list[str]]) -> Any:
    if any(not pattern for pattern in patterns):
        return node
    if isinstance(node, list):
        kept = [_keep(item, patterns) for item in node]
        kept = [item for item in kept if item is not _DROP]
        return kept or _DROP
    if not isinstance(node, dict):
        return _DROP
    out = {}
    for key, value in node.items():
        rest = [p[1:] for p in patterns if fnmatch.fnmatchcase(str(key), p[0])]
        if rest:
            kept = _keep(value, rest)
            if kept is not _DROP:
                out[key] = kept
    return out or _DROP


def filter_path(body: Any, spec: str) -> Any:
    """Only the parts of `body` that `spec` (comma-separated dotted paths) names."""
    patterns = [part.strip().split(".") for part in spec.split(",") if part.strip()]
    if not patterns:
        return body
    kept = _keep(body, patterns)
    return {} if kept is _DROP else kept


def answer(request: Request, body: Any, status: int = 200) -> Response:
    """A JSON answer in the negotiated media type, trimmed by `filter_path`."""
    params = request.query_params
    if params.get("filter_path"):
        body = filter_path(body, params["filter_path"])
    pretty = params.get("pretty") in ("", "true")
    content = json.dumps(body, indent=2 if pretty else None, ensure_ascii=False)
    return Response(content, status_code=status, media_type=media_type(request))


def answer_page(
    request: Request, page: listing.Paged[T], document: Callable[[T], dict[str, Any]]
) -> Response:
    """A page of a list as Elastic answers one: `count` is the total the query matches."""
    return answer(request, {"count": page.total, "results": [document(x) for x in page.rows]})


def fields_of(value: Any) -> dict[str, Any]:
    """A service's result as Elastic's JSON fields: its fields by name, times as Instants."""
    return {
        field.name: iso(item) if isinstance(item, dt.datetime) else item
        for field in dataclasses.fields(value)
        for item in (getattr(value, field.name),)
    }


def error_response(request: Request, status: int, es_type: str, reason: str) -> JSONResponse:
    """Elasticsearch's error envelope."""
    cause = {"type": es_type, "reason": reason}
    headers = {"X-Elastic-Product": "Elasticsearch"}
    if status == 401:
        headers["WWW-Authenticate"] = 'ApiKey, Basic realm="security", Bearer realm="security"'
    return JSONResponse(
        {"error": {"root_cause": [cause], **cause}, "status": status},
        status_code=status,
        headers=headers,
        media_type=media_type(request),
    )


async def shape(request: Request, failure: Failure) -> Response:
    """Any failure under `/_connector`, as Elasticsearch would answer it: the facade's
    error shape, plugged into the app's one error handler (which has logged it)."""
    exc = failure.error
    if isinstance(exc, ElasticError):
        return error_response(request, exc.status, exc.es_type, failure.detail)
    if isinstance(exc, NotFound):
        return error_response(request, 404, "resource_not_found_exception", failure.detail)
    if isinstance(exc, AuthenticationFailed | PermissionDenied | TooManySignIns):
        return error_response(request, failure.status, "security_exception", failure.detail)
    if isinstance(exc, ConveyorError):
        # Elasticsearch answers 413 to a body over http.max_content_length, 400 otherwise.
        status = 400 if failure.status < 500 and failure.status != 413 else failure.status
        return error_response(request, status, "status_exception", failure.detail)
    if isinstance(exc, RequestValidationError):
        return error_response(request, 400, "x_content_parse_exception", str(exc.errors()[:1]))
    if isinstance(exc, StarletteHTTPException):
        where = f"uri [{request.url.path}] and method [{request.method}]"
        if failure.status == 405:
            allowed = failure.headers.get("Allow", "")
            reason = f"Incorrect HTTP method for {where}, allowed: [{allowed}]"
            return error_response(request, 405, "illegal_argument_exception", reason)
        reason = f"no handler found for {where}"
        return error_response(request, 400, "illegal_argument_exception", reason)
    return error_response(request, 500, "exception", failure.detail)


ERROR_DOC = ErrorDoc(
    "ElasticError",
    {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["root_cause", "type", "reason"],
                "properties": {
                    "root_cause": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["type", "reason"],
                            "properties": {
                                "type": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                    "type": {"type": "string"},
                    "reason": {"type": "string"},
                },
            },
            "status": {"type": "integer"},
        },
    },
    statuses={409: 400, 422: 400},
)
"""`shape`'s answers, as the OpenAPI document describes them: Elasticsearch answers a
refused request with 400 whatever the reason (but 404, 413 and the security errors)."""


class ElasticHeaders:
    """ASGI middleware: the product header and the negotiated media type on every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not any(under(scope["path"], p) for p in PREFIXES):
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
