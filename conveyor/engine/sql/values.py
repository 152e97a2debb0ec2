"""Cursor values as typed SQL literals, and comparisons of a column with one, per dialect.

Most dialects compare a timestamp column with a cast literal. Two differ, and say so in
`TEMPORAL`: SQLite has no timestamp type (its timestamps are ISO text, compared through
julianday()), and MySQL's CAST(… AS DATETIME) drops the fraction of a second unless it
names the precision.
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp


def _cast(to: str | exp.DataType) -> Callable[[str], exp.Expr]:
    return lambda text: exp.cast(exp.Literal.string(text), to)


def _instant(text: str, zoned: bool) -> exp.Expr:
    if zoned:
        return exp.cast(exp.Literal.string(text + "+00:00"), "TIMESTAMPTZ")
    return exp.cast(exp.Literal.string(text), "TIMESTAMP")


@dataclass(frozen=True)
class Temporal:
    """How a dialect writes timestamps and dates, and compares columns holding them."""

    timestamp: Callable[[str, bool], exp.Expr]
    """The literal of an ISO timestamp (in UTC when `zoned`)."""
    date: Callable[[str], exp.Expr]
    """The literal of an ISO date."""
    separator: str = " "
    """Between the date and the time in ISO text."""
    as_text: bool = False
    """Stored as ISO text: compared through julianday(), with a text bound for indexes."""


_MYSQL_DATETIME = exp.DataType.build("DATETIME(6)", dialect="mysql")
STANDARD = Temporal(timestamp=_instant, date=_cast("DATE"))
TEMPORAL: dict[str, Temporal] = {
    # the text the SQLite connector writes
    "sqlite": Temporal(
        timestamp=lambda text, _zoned: exp.Literal.string(text),
        date=exp.Literal.string,
        separator="T",
        as_text=True,
    ),
    # zoned values are compared as UTC (MySQL sessions run in UTC), to the microsecond
    "mysql": Temporal(
        timestamp=lambda text, _zoned: _cast(_MYSQL_DATETIME)(text), date=_cast("DATE")
    ),
}


def literal(value: Any, dialect: str) -> exp.Expr:
    """A typed SQL literal for a cursor or timestamp value in `dialect`."""
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float | decimal.Decimal):
        return exp.Literal.number(str(value))
    temporal = TEMPORAL.get(dialect, STANDARD)
    if isinstance(value, dt.datetime):
        zoned = value.tzinfo is not None
        if zoned:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        text = value.isoformat(sep=temporal.separator, timespec="microseconds")
        return temporal.timestamp(text, zoned)
    if isinstance(value, dt.date):
        return temporal.date(value.isoformat())
    return exp.Literal.string(str(value))


_OPERATORS: dict[str, type[exp.Binary]] = {">=": exp.GTE, ">": exp.GT, "<": exp.LT, "<=": exp.LTE}


def compare(
    column: exp.Expr, op: str, value: Any, arrow_type: pa.DataType | None, dialect: str
) -> exp.Expr:
    """`column <op> value` with both sides comparable in `dialect` (op: >=, >, <, <=)."""
    operator = _OPERATORS[op]
    right = literal(value, dialect)
    temporal = arrow_type is not None and (
        pa.types.is_timestamp(arrow_type) or pa.types.is_date(arrow_type)
    )
    if not (temporal and TEMPORAL.get(dialect, STANDARD).as_text):
        return operator(this=column, expression=right)
    precise = operator(this=exp.func("julianday", column), expression=exp.func("julianday", right))
    if op in (">=", ">") and isinstance(value, dt.date):
        # ISO text sorts like time: a day-prefix bound lets SQLite use an index on the column
        day = (
            value.astimezone(dt.UTC).date()
            if isinstance(value, dt.datetime) and value.tzinfo
            else value
        )
        day = day.date() if isinstance(day, dt.datetime) else day
        coarse = exp.GTE(this=column.copy(), expression=exp.Literal.string(day.isoformat()))
        return exp.and_(coarse, precise)
    return precise
