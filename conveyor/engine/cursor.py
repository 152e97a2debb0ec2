"""Incremental cursors: which check column, how far a task has loaded, and in what windows.

A cursor is the largest check-column value already committed to the destination. It is
saved only after the destination commit, so a crash can repeat a window, never skip one;
re-reading from the cursor *inclusively* is harmless because loads past a cursor are
merges by key (or window replacements when there is no key).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.domain import EngineSettings, IntervalUnit


def is_cursor_type(arrow_type: pa.DataType) -> bool:
    """Whether a column can drive incremental loads: a timestamp, a date or an integer."""
    return bool(
        pa.types.is_timestamp(arrow_type)
        or pa.types.is_date(arrow_type)
        or pa.types.is_integer(arrow_type)
    )


def choose_check_column(candidates: Sequence[str], schema: pa.Schema) -> str | None:
    """The first candidate the query returns with a usable type (case-insensitively)."""
    by_lower = {name.lower(): name for name in schema.names}
    for candidate in candidates:
        name = by_lower.get(candidate.lower())
        if name is not None and is_cursor_type(schema.field(name).type):
            return str(name)
    return None


def encode(value: Any) -> Any:
    """A cursor value as JSON."""
    if isinstance(value, dt.datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    return value


def decode(value: Any) -> Any:
    """A cursor value from JSON."""
    if isinstance(value, dict):
        if "timestamp" in value:
            return dt.datetime.fromisoformat(value["timestamp"])
        if "date" in value:
            return dt.date.fromisoformat(value["date"])
    return value


class RunningMax:
    """The largest value of one column over the batches that went by (vectorized)."""

    def __init__(self, column: str | None) -> None:
        self.column = column
        self.value: Any = None

    def update(self, batch: pa.RecordBatch) -> None:
        """Fold one batch in."""
        if self.column is None or not batch.num_rows:
            return
        self.fold(pc.max(batch.column(self.column)).as_py())

    def fold(self, candidate: Any) -> None:
        """Fold one value in (None: no rows)."""
        if candidate is not None and (self.value is None or _key(candidate) > _key(self.value)):
            self.value = candidate


def _key(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


@dataclass(frozen=True)
class Window:
    """A half-open range [start, end) of check-column values; None is unbounded."""

    start: Any
    end: Any


def add_interval(value: Any, amount: int, unit: IntervalUnit | None) -> Any:
    """`value` plus `amount` units (calendar-aware for months and years)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value + amount
    if unit in (IntervalUnit.months, IntervalUnit.years):
        months = amount * (12 if unit is IntervalUnit.years else 1)
        year, month = divmod(value.month - 1 + months, 12)
        year += value.year
        day = min(value.day, calendar.monthrange(year, month + 1)[1])
        return value.replace(year=year, month=month + 1, day=day)
    seconds = {
        IntervalUnit.minutes: 60,
        IntervalUnit.hours: 3600,
        IntervalUnit.days: 86400,
        IntervalUnit.weeks: 7 * 86400,
    }[unit or IntervalUnit.days]
    return value + dt.timedelta(seconds=seconds * amount)


def windows(start: Any, stop: Any, settings: EngineSettings) -> Iterator[Window]:
    """The windows from `start` up to and including `stop`, per replicate_interval."""
    if settings.replicate_interval is None or start is None or stop is None:
        yield Window(start, None)
        return
    lower = start
    while True:
        upper = add_interval(lower, settings.replicate_interval, settings.replicate_interval_unit)
        if _key(upper) > _key(stop):
            yield Window(lower, None)  # the last window is open: rows arriving now land in it
            return
        yield Window(lower, upper)
        lower = upper


def start_bound(settings: EngineSettings, arrow_type: pa.DataType) -> Any:
    """replicate_start_date as a value of the check column's type."""
    if settings.replicate_start_date is None or pa.types.is_integer(arrow_type):
        return None
    if pa.types.is_date(arrow_type):
        return settings.replicate_start_date
    moment = dt.datetime.combine(settings.replicate_start_date, dt.time())
    return moment.replace(tzinfo=dt.UTC) if getattr(arrow_type, "tz", None) else moment


def later(a: Any, b: Any) -> Any:
    """The later of two optional bounds."""
    if a is None:
        return b
    if b is None:
        return a
    return a if _key(a) >= _key(b) else b
