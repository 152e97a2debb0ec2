"""What a request to the Elastic facade carries, read as Elasticsearch reads it.

- Query parameters: unknown ones are refused (Elasticsearch names them); the common ones
  (`pretty`, `human`, `error_trace`, `filter_path`, `source`) are accepted on every
  route. Integers, booleans, lists and the `from`/`size` window follow Elasticsearch's
  rules and words.
- Path ids: a blank one is refused by request validation.
- Bodies are read raw, so any JSON media type (the vendor one included) is accepted; a
  body may also come as the `source` parameter. A body is then parsed into its model
  (`schemas`), refused in the words of the parser Elasticsearch uses for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import ValidationError

from conveyor.api.json_depth import nests_deeper
from conveyor.compat.elastic.protocol import ElasticError
from conveyor.compat.elastic.schemas import ElasticBody

COMMON = frozenset(
    {"pretty", "human", "error_trace", "filter_path", "source", "source_content_type"}
)
MAX_WINDOW = 10_000
B = TypeVar("B", bound=ElasticBody)
E = TypeVar("E", bound=StrEnum)


def query(request: Request, allowed: Iterable[str] = ()) -> dict[str, str]:
    """The query parameters, refusing ones the endpoint does not know."""
    unknown = sorted(set(request.query_params) - COMMON - set(allowed))
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ElasticError.illegal_argument(
            f"request [{request.url.path}] contains unrecognized parameter{plural}: "
            f"[{', '.join(unknown)}]"
        )
    return dict(request.query_params)


def documented(**described: str) -> dict[str, Any]:
    """OpenAPI's `parameters` of a route (its `openapi_extra`): the query is read by
    `query`, not by FastAPI, so each parameter it allows is declared here — `from` and
    `size` as integers, the rest as strings (lists comma-separated)."""
    kinds = {"from": "integer", "size": "integer", "include_deleted": "boolean"}
    return {
        "parameters": [
            {
                "name": name.rstrip("_"),
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": kinds.get(name.rstrip("_"), "string")},
            }
            for name, text in described.items()
        ]
    }


WINDOW = {"from_": "Skip this many results.", "size": "At most this many results (100)."}


def int_param(params: dict[str, str], name: str, default: int) -> int:
    """A non-negative integer parameter."""
    raw = params.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        reason = f"Failed to parse int parameter [{name}] with value [{raw}]"
        raise ElasticError.illegal_argument(reason) from None
    if value < 0:
        raise ElasticError.validation_failed(
            f"[{name}] parameter cannot be negative, found [{value}]"
        )
    return value


def window(params: dict[str, str]) -> tuple[int, int]:
    """`from` and `size` (default 100), within Elasticsearch's result window."""
    offset, size = int_param(params, "from", 0), int_param(params, "size", 100)
    if offset + size > MAX_WINDOW:
        raise ElasticError.illegal_argument(
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_WINDOW}] but was [{offset + size}]."
        )
    return offset, size


def bool_param(params: dict[str, str], name: str) -> bool:
    """A boolean parameter: absent, empty or `true` / `false`."""
    raw = params.get(name, "false")
    if raw not in ("", "true", "false"):
        raise ElasticError.illegal_argument(
            f"Failed to parse value [{raw}] as only [true] or [false] are allowed."
        )
    return raw != "false"


def list_param(params: dict[str, str], name: str) -> list[str]:
    """A comma-separated list parameter."""
    return [part.strip() for part in params.get(name, "").split(",") if part.strip()]


def named(kind: type[E], value: str, what: str) -> E:
    """A value of one of Elastic's enumerations (`what` is Elasticsearch's name for it)."""
    try:
        return kind(value)
    except ValueError:
        raise ElasticError.illegal_argument(f"Unknown {what}: {value}") from None


def required_id(value: str, name: str) -> str:
    """A path id; blank ones are refused as Elasticsearch's request validation does."""
    if not value.strip():
        raise ElasticError.validation_failed(f"[{name}] cannot be null or empty")
    return value


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
            raise ElasticError.unparsable(f"[1:1] the source nests deeper than {depth} levels")
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ElasticError.unparsable(f"[{exc.lineno}:{exc.colno}] {exc.msg}") from None
    except ValueError as exc:  # not UTF-8, or a number Python refuses to convert
        raise ElasticError.unparsable(f"[1:1] {exc}") from None


Body = Annotated[Any, Depends(raw_body)]
"""A route parameter: the request's JSON body, as `raw_body` reads it."""


def parse(model: type[B], body: Any) -> B:
    """A body as the model, refused the way Elasticsearch's parsers refuse it, then by
    the request validation Elasticsearch runs on what it parsed."""
    if body is None:
        raise ElasticError(400, "parse_exception", "request body is required")
    if not isinstance(body, dict):
        raise ElasticError.unparsable(f"[1:1] [{model.parser}] Expected START_OBJECT")
    try:
        parsed = model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        kind = first["type"]
        if kind in ("greater_than_equal", "greater_than"):
            raise ElasticError.validation_failed(f"[{field}] cannot be negative.") from None
        if kind == "extra_forbidden":
            reason = f"[1:2] [{model.parser}] unknown field [{field}]"
        elif kind == "missing":
            reason = f"[1:2] Required [{field}]"
        else:
            reason = f"[1:2] [{model.parser}] failed to parse field [{field}]: {first['msg']}"
        raise ElasticError.unparsable(reason) from None
    reasons = parsed.problems()
    if reasons:
        raise ElasticError.validation_failed(*reasons)
    return parsed
