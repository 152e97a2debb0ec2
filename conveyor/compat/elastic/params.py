"""Query parameters and answers of the Elastic facade, as Elasticsearch treats them.

Unknown parameters are refused (Elasticsearch names them); the common ones (`pretty`,
`human`, `error_trace`, `filter_path`, `source`) are accepted on every route, and
`filter_path` trims the answer the way Elasticsearch does (dotted paths, `*` wildcards).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from typing import Any

from fastapi import Request
from starlette.responses import Response

from conveyor.compat.elastic.errors import ElasticError, media_type

COMMON = frozenset(
    {"pretty", "human", "error_trace", "filter_path", "source", "source_content_type"}
)
MAX_WINDOW = 10_000
_DROP = object()


def query(request: Request, allowed: Iterable[str] = ()) -> dict[str, str]:
    """The query parameters, refusing ones the endpoint does not know."""
    known = COMMON | set(allowed)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        raise ElasticError(
            400,
            "illegal_argument_exception",
            f"request [{request.url.path}] contains unrecognized parameter{plural}: "
            f"[{', '.join(unknown)}]",
        )
    return dict(request.query_params)


def int_param(params: dict[str, str], name: str, default: int) -> int:
    """A non-negative integer parameter."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ElasticError(
            400,
            "illegal_argument_exception",
            f"Failed to parse int parameter [{name}] with value [{raw}]",
        ) from None
    if value < 0:
        raise ElasticError(
            400,
            "action_request_validation_exception",
            f"Validation Failed: 1: [{name}] parameter cannot be negative, found [{value}];",
        )
    return value


def window(params: dict[str, str]) -> tuple[int, int]:
    """`from` and `size` (default 100), within Elasticsearch's result window."""
    offset, size = int_param(params, "from", 0), int_param(params, "size", 100)
    if offset + size > MAX_WINDOW:
        raise ElasticError(
            400,
            "illegal_argument_exception",
            f"Result window is too large, from + size must be less than or equal to: "
            f"[{MAX_WINDOW}] but was [{offset + size}].",
        )
    return offset, size


def bool_param(params: dict[str, str], name: str) -> bool:
    """A boolean parameter: absent, empty or `true` / `false`."""
    raw = params.get(name)
    if raw is None:
        return False
    if raw in ("", "true"):
        return True
    if raw == "false":
        return False
    raise ElasticError(
        400,
        "illegal_argument_exception",
        f"Failed to parse value [{raw}] as only [true] or [false] are allowed.",
    )


def list_param(params: dict[str, str], name: str) -> list[str]:
    """A comma-separated list parameter."""
    return [part.strip() for part in params.get(name, "").split(",") if part.strip()]


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
