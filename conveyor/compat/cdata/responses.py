"""How CData Sync answers: JSON with its timestamps, OData collections, and its error body.

Both CData APIs write timestamps as ISO 8601 with their offset, to the second, and answer
every failure under `/api.rsc` with OData's `{"error": {"code", "message", …}}`: `shape`
is what `conveyor.api.problems` renders a failure with there (`cdata.install` plugs it
in), so `/api/v1` keeps its problem+json. What differs from the native words:

- OData answers every malformed request with 400, so the native 422 becomes that;
- `code` is the error's name (`NotFound`, `InvalidInput`, `Conflict`, …), and the
  members a Conveyor error carries (`field`, `position`, `active_run_id`) sit beside the
  message;
- a 401 names CData's scheme (`WWW-Authenticate: Basic realm="CData Sync"`), and bad
  credentials are always a 401, never a 403;
- an unknown path says that it is not a CData API resource.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from conveyor.api.problems import ErrorDoc, Failure
from conveyor.crypto import redact

ROUTER_DEFAULTS = {404: "Not Found", 405: "Method Not Allowed"}
"""What the router says of an unknown path or method, which CData's words replace."""


def iso(value: dt.datetime | None) -> str | None:
    """A timestamp as CData writes it: ISO 8601 with its offset, to the second."""
    return None if value is None else value.astimezone(dt.UTC).isoformat(timespec="seconds")


def plain(value: Any) -> Any:
    """The value with datetimes and dates turned into ISO strings, recursively."""
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


class CDataJSONResponse(JSONResponse):
    """JSON with timestamps written as `iso` does."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            plain(content), ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()


def context_url(request: Request, fragment: str) -> str:
    """The `@odata.context` of a v1 response, as CData writes it."""
    return f"{request.base_url}api.rsc/$metadata#{fragment}"


def output(action: str) -> str:
    """The `@odata.context` fragment of an action's answer: `Collection(CData.<action>Output)`."""
    return f"Collection(CData.{action}Output)"


def collection(
    request: Request,
    fragment: str,
    rows: list[Any],
    *,
    count: int | None = None,
    next_skip: int | None = None,
    top: Mapping[str, Any] | None = None,
) -> Response:
    """`{"@odata.context", "value": [...]}`, with `@odata.count` when asked for,
    `@odata.nextLink` when the server cut the list short, and an action's `top` members
    (which CData's MCP client reads beside `value`)."""
    body: dict[str, Any] = {"@odata.context": context_url(request, fragment), **(top or {})}
    if count is not None:
        body["@odata.count"] = count
    body["value"] = rows
    if next_skip is not None:
        skips = [k for k in request.query_params if k.lower() in ("$skip", "skip")]
        url = request.url.remove_query_params(skips).include_query_params(**{"$skip": next_skip})
        body["@odata.nextLink"] = str(url)
    return CDataJSONResponse(body)


def odata_error(status: int, code: str, message: str, **extra: Any) -> Response:
    """`{"error": {"code", "message", …}}` with the status; 401s name the scheme."""
    body = {"code": code, "message": redact(message)}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": 'Basic realm="CData Sync"'} if status == 401 else None
    return CDataJSONResponse({"error": body}, status_code=status, headers=headers)


def _message(request: Request, failure: Failure) -> str:
    if failure.errors:  # a bad request: its first bad field, as CData names one
        first = failure.errors[0]
        return f"{first['field']}: {first['reason']}".strip(": ")
    routed = isinstance(failure.error, StarletteHTTPException)
    if routed and ROUTER_DEFAULTS.get(failure.status) == failure.detail:
        what = "is not a CData API resource" if failure.status == 404 else "is not allowed here"
        return f"{request.method} {request.url.path} {what}"
    return failure.detail


ERROR_DOC = ErrorDoc(
    "CDataError",
    {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "description": "The error's name and message; the members it carries "
                "(`field`, `position`, …) beside them.",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "additionalProperties": True,
            }
        },
    },
    statuses={422: 400},
)
"""`shape`'s answers, as the OpenAPI document describes them."""


async def shape(request: Request, failure: Failure) -> Response:
    """Any failure under `/api.rsc` as an OData error."""
    status = 400 if failure.status == 422 else failure.status
    return odata_error(status, failure.code, _message(request, failure), **failure.extra)
