"""The list conventions of every collection: filters, sort, limit and offset.

    ?limit=50&offset=0&sort=-created_at,name&status=error&status__in=a,b&created_at__gte=…

Only fields a resource declares filterable are accepted; anything else is a 422 naming
the parameter, so a typo never silently returns everything.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, inspect, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from conveyor.errors import InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
RESERVED = frozenset({"limit", "offset", "sort"})
T = TypeVar("T")
U = TypeVar("U")


@dataclass(frozen=True)
class ListParams:
    """Parsed list parameters."""

    limit: int = DEFAULT_LIMIT
    offset: int = 0
    sort: tuple[str, ...] = ()
    filters: tuple[tuple[str, str, str], ...] = ()  # (field, op, raw value)

    @classmethod
    def parse(cls, query: Mapping[str, str], ignore: frozenset[str] = frozenset()) -> ListParams:
        """Read `limit`, `offset`, `sort` and filters from query parameters."""
        limit = _int(query.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
        offset = _int(query.get("offset"), "offset", 0, 0, 10**12)
        sort = tuple(part.strip() for part in query.get("sort", "").split(",") if part.strip())
        filters = []
        for key, value in query.items():
            if key in RESERVED or key in ignore:
                continue
            name, _, op = key.partition("__")
            filters.append((name, op or "eq", value))
        return cls(limit, offset, sort, tuple(filters))


def _int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an integer", field=name) from None
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}", field=name)
    return value


def _coerce(column: InstrumentedAttribute[Any], raw: str, name: str) -> Any:
    python_type = column.type.python_type
    try:
        if python_type is bool:
            if raw.lower() not in ("true", "false", "1", "0"):
                raise ValueError
            return raw.lower() in ("true", "1")
        if python_type is int:
            number = int(raw)
            if not -(2**63) <= number < 2**63:  # what a database integer column holds
                raise InvalidInput(f"{name} is out of range", field=name)
            return number
        if python_type is float:
            real = float(raw)
            if not math.isfinite(real):
                raise ValueError
            return real
        if python_type is dt.datetime:
            value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    except ValueError:
        raise InvalidInput(f"{raw!r} is not a valid value for {name}", field=name) from None
    return raw


def apply(
    statement: Select[T],
    params: ListParams,
    fields: Mapping[str, InstrumentedAttribute[Any]],
    default_sort: Sequence[str] = ("-created_at",),
) -> Select[T]:
    """Add the filters and sort of `params` to a select, refusing unknown fields."""
    for name, op, raw in params.filters:
        column = fields.get(name)
        if column is None:
            known = ", ".join(sorted(fields))
            raise InvalidInput(f"unknown filter {name!r}; filterable: {known}", field=name)
        if op == "eq":
            statement = statement.where(column == _coerce(column, raw, name))
        elif op == "in":
            values = [
                _coerce(column, part.strip(), name) for part in raw.split(",") if part.strip()
            ]
            statement = statement.where(column.in_(values))
        elif op == "gte":
            statement = statement.where(column >= _coerce(column, raw, name))
        elif op == "lte":
            statement = statement.where(column <= _coerce(column, raw, name))
        else:
            raise InvalidInput(
                f"unknown filter operator {op!r} (use in, gte, lte)", field=f"{name}__{op}"
            )
    sorted_by: set[str] = set()
    descending = False
    for part in params.sort or tuple(default_sort):
        name = part.lstrip("-+")
        column = fields.get(name)
        if column is None:
            raise InvalidInput(
                f"cannot sort by {name!r}; sortable: {', '.join(sorted(fields))}", field="sort"
            )
        if name in sorted_by:  # a repeat cannot change the order, and databases cap the terms
            continue
        sorted_by.add(name)
        descending = part.startswith("-")
        statement = statement.order_by(column.desc() if descending else column.asc())
    if "id" in fields and "id" not in sorted_by:
        # A stable order across pages, in the direction of the last term: an index on
        # (created_at, id) read backwards gives `-created_at` and its ties at once, where
        # ties by ascending id sorted every row skipped (a deep page: 7 ms → 100 ms).
        statement = statement.order_by(fields["id"].desc() if descending else fields["id"].asc())
    return statement


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of rows with the total the filters match."""

    rows: list[T]
    total: int
    limit: int
    offset: int

    def map(self, convert: Callable[[T], U]) -> Paged[U]:
        """The same page with each row converted (a service's `to_out`)."""
        return Paged([convert(row) for row in self.rows], self.total, self.limit, self.offset)


DEEP_OFFSET = 1000
"""From this offset on, a page's keys are found before its rows are read (`_window`)."""


def _window(statement: Select[T], limit: int, offset: int) -> Select[T]:
    """`statement` limited to a window. Deep in a list, the rows an OFFSET skips are found
    through the order's index alone, and only the page's rows are read (a deferred join:
    `WHERE id IN (SELECT id … LIMIT … OFFSET …)`): OFFSET 150,000 on the runs took 180 ms
    reading every skipped row, 60 ms reading their keys."""
    described = statement.column_descriptions
    entity = described[0].get("entity") if len(described) == 1 else None
    if offset < DEEP_OFFSET or entity is None:
        return statement.limit(limit).offset(offset)
    keys = inspect(entity).primary_key
    if len(keys) != 1:
        return statement.limit(limit).offset(offset)
    found = statement.with_only_columns(keys[0]).limit(limit).offset(offset).correlate(None)
    return statement.where(keys[0].in_(found)).limit(limit)


def page(
    session: Session,
    statement: Select[T],
    params: ListParams,
    count: Callable[[], int] | None = None,
) -> Paged[T]:
    """The page of rows and the total count of the filtered select.

    One row past the page is read: when it is not there, the page is the end of the list
    and the total follows from it, so most lists (one page, or the last) need no COUNT.
    Otherwise the total is `count()` when the caller has a cheaper exact way to it (the
    runs' kept counts), else a COUNT of the select."""
    rows = list(session.scalars(_window(statement, params.limit + 1, params.offset)))
    if len(rows) <= params.limit and (rows or params.offset == 0):
        return Paged(rows, params.offset + len(rows), params.limit, params.offset)
    if count is not None:
        total = count()
    else:
        query = select(func.count()).select_from(statement.order_by(None).subquery())
        total = session.scalar(query) or 0
    return Paged(rows[: params.limit], total, params.limit, params.offset)


def every(fetch: Callable[[Mapping[str, str]], Paged[T]], query: Mapping[str, str]) -> list[T]:
    """Every row a paged list returns for `query`, page after page (for callers that need
    them all, such as a facade whose protocol has no paging)."""
    rows: list[T] = []
    while True:
        page = fetch({**query, "limit": str(MAX_LIMIT), "offset": str(len(rows))})
        rows.extend(page.rows)
        if not page.rows or len(rows) >= page.total:
            return rows


@dataclass(frozen=True)
class Query:
    """A list as a facade asks for it in the store's terms: conditions, an order, a window,
    and whether to count what matches. A facade builds it from its own query language (the
    CData facade from OData's `$filter`, `$orderby`, `$top`, `$skip`, `$count`) over the
    expressions a service declares; the service adds what the caller may see and runs it
    as one SQL statement with ORDER BY and LIMIT/OFFSET, and a COUNT in the database."""

    where: tuple[ColumnElement[bool], ...] = ()
    order: tuple[ColumnElement[Any], ...] = ()
    limit: int | None = None
    offset: int = 0
    count: bool = False


@dataclass(frozen=True)
class Found(Generic[T]):
    """The rows of a `Query`'s window, and how many match (None when not counted)."""

    rows: list[T]
    total: int | None

    def map(self, convert: Callable[[T], U]) -> Found[U]:
        """The same rows, each converted."""
        return Found([convert(row) for row in self.rows], self.total)


def search(
    session: Session,
    statement: Select[T],
    query: Query,
    tiebreak: Sequence[ColumnElement[Any]] = (),
    count: Callable[[], int] | None = None,
) -> Found[T]:
    """Run a `Query` on a select: its conditions, its order then `tiebreak` (the
    resource's default order, which keeps pages stable), its window (deep in the list,
    through the order's index first: `_window`) and its count — `count()` when the
    caller has a cheaper exact way to it, else a COUNT of the select."""
    statement = statement.where(*query.where)
    total = None
    if query.count:
        if count is not None:
            total = count()
        else:
            total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        if query.limit == 0:
            return Found([], total)
    elif query.limit == 0:
        return Found([], None)
    statement = statement.order_by(*query.order, *tiebreak)
    if query.limit is not None:
        statement = _window(statement, query.limit, query.offset)
    elif query.offset:
        statement = statement.offset(query.offset)
    return Found(list(session.scalars(statement)), total)
