"""OData query options over a list of rows: `$filter $select $orderby $top $skip $count`.

The CData v1 facade turns service results into PascalCase rows, then hands them here with
the query string; this module knows nothing about jobs or runs. Each option is checked
against the entity's properties, so a typo answers 400 naming the option (and, for
`$filter`, the position) instead of silently returning everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conveyor.compat.cdata.odata.evaluate import evaluate
from conveyor.compat.cdata.odata.expressions import Expr, QueryOptionError, parse, resolver

UNSUPPORTED = ("$expand", "$search", "$apply", "$compute", "$levels")
Row = dict[str, Any]


@dataclass(frozen=True)
class QueryOptions:
    """The parsed system query options of one request."""

    filter: Expr | None = None
    select: tuple[str, ...] | None = None
    orderby: tuple[tuple[str, bool], ...] = ()  # (property, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False
    properties: tuple[str, ...] = field(default=())

    @classmethod
    def parse(
        cls, params: Mapping[str, str], properties: Sequence[str], key: Sequence[str] = ()
    ) -> QueryOptions:
        """Read the options from query parameters (names case-insensitive, `$` optional).
        A `$select` always includes the entity's `key`, as CData returns it (clients read
        a row's key whatever they selected)."""
        options = {
            key.lower(): value
            for key, value in params.items()
            if key.startswith("$") or key.lower() in ("filter", "select", "orderby", "top", "skip")
        }
        options = {(k if k.startswith("$") else f"${k}"): v for k, v in options.items()}
        for name in UNSUPPORTED:
            if name in options:
                raise QueryOptionError(f"{name} is not supported", option=name)
        resolve = resolver(properties)
        text = options.get("$filter", "").strip()
        return cls(
            filter=parse(text, properties) if text else None,
            select=_with_key(_select(options.get("$select"), resolve), key),
            orderby=_orderby(options.get("$orderby"), resolve),
            top=_non_negative(options.get("$top"), "$top"),
            skip=_non_negative(options.get("$skip"), "$skip") or 0,
            count=_boolean(options.get("$count"), "$count"),
            properties=tuple(properties),
        )


def parameters(properties: Sequence[str]) -> dict[str, Any]:
    """OpenAPI's `parameters` of a list (route `openapi_extra`): the system query options,
    which `QueryOptions.parse` reads itself (names case-insensitive, `$` optional)."""
    names = ", ".join(properties)

    def option(name: str, description: str, kind: str = "string") -> dict[str, Any]:
        schema: dict[str, Any] = {"type": kind}
        if kind == "integer":
            schema["minimum"] = 0
        return {
            "name": name,
            "in": "query",
            "required": False,
            "description": description,
            "schema": schema,
        }

    return {
        "parameters": [
            option("$filter", f"An OData expression over {names}; e.g. `Name eq 'x'`."),
            option("$select", "Properties to return, comma-separated."),
            option("$orderby", "`Property [asc|desc]`, comma-separated."),
            option("$top", "At most this many entities.", "integer"),
            option("$skip", "Skip this many entities.", "integer"),
            option("$count", "`true` adds `@odata.count`, the number matching.", "boolean"),
            option("workspaceId", "Only this workspace's (by id or name)."),
        ]
    }


def _property(name: str, resolve: Any, option: str) -> str:
    found: str | None = resolve(name.strip())
    if found is None:
        raise QueryOptionError(f"{option}: unknown property {name.strip()!r}", option=option)
    return found


def _with_key(select: tuple[str, ...] | None, key: Sequence[str]) -> tuple[str, ...] | None:
    """The selected properties, the key's first (unless selected already)."""
    if select is None:
        return None
    return (*(name for name in key if name not in select), *select)


def _select(raw: str | None, resolve: Any) -> tuple[str, ...] | None:
    if raw is None or not raw.strip() or raw.strip() == "*":
        return None
    return tuple(
        dict.fromkeys(
            _property(part, resolve, "$select") for part in raw.split(",") if part.strip()
        )
    )


def _orderby(raw: str | None, resolve: Any) -> tuple[tuple[str, bool], ...]:
    if raw is None or not raw.strip():
        return ()
    terms = []
    for part in raw.split(","):
        words = part.split()
        if not words:
            continue
        if len(words) > 2 or (len(words) == 2 and words[1].lower() not in ("asc", "desc")):
            raise QueryOptionError(
                f"$orderby: expected 'Property [asc|desc]', found {part.strip()!r}",
                option="$orderby",
            )
        descending = len(words) == 2 and words[1].lower() == "desc"
        terms.append((_property(words[0], resolve, "$orderby"), descending))
    return tuple(terms)


def _non_negative(raw: str | None, option: str) -> int | None:
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise QueryOptionError(f"{option} must be a whole number", option=option) from None
    if value < 0:
        raise QueryOptionError(f"{option} must not be negative", option=option)
    return value


def _boolean(raw: str | None, option: str) -> bool:
    if raw is None or raw == "":
        return False
    if raw.lower() not in ("true", "false"):
        raise QueryOptionError(f"{option} must be true or false", option=option)
    return raw.lower() == "true"


def _sort_key(value: Any) -> tuple[int, Any]:
    """Nulls first, then values of one kind compared among themselves."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, value)
    if isinstance(value, int | float):
        return (2, value)
    if isinstance(value, dt.datetime):
        return (3, value.timestamp())
    return (4, str(value))


@dataclass(frozen=True)
class Result:
    """The rows of one page, and how many matched the filter before `$top`/`$skip`;
    `next_skip` is where the next page starts when the server cut the list short
    (server-driven paging: OData's `@odata.nextLink`)."""

    rows: list[Row]
    total: int
    next_skip: int | None = None


def apply(rows: Sequence[Row], options: QueryOptions) -> Result:
    """Filter, order, page and project rows as the options say."""
    matched = [
        row for row in rows if options.filter is None or evaluate(options.filter, row) is True
    ]
    for name, descending in reversed(options.orderby):  # stable sorts, last key first
        matched.sort(key=lambda row: _sort_key(row.get(name)), reverse=descending)
    total = len(matched)
    end = None if options.top is None else options.skip + options.top
    page = matched[options.skip : end]
    if options.select is not None:
        page = [{name: row.get(name) for name in options.select} for row in page]
    return Result(page, total)


def matches(row: Row, options: QueryOptions) -> bool:
    """Whether one row passes the filter."""
    return options.filter is None or evaluate(options.filter, row) is True
