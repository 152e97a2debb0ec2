"""Incremental cursors: which check column, how far a task has loaded, and in what windows.

A cursor is the largest check-column value already committed to the destination. It is
saved only after the destination commit, so a crash can repeat a window, never skip one;
re-reading from the cursor *inclusively* is harmless because loads past a cursor are
merges by key (or window replacements when there is no key).

A check column orders changes: a timestamp, a date, a number, or text — ISO-8601 text
being how SQLite (and many applications) store moments. Text is compared as text, on the
source and in the cursor alike, so it orders changes only when every value is written in
one ISO-8601 form (`2024-05-01T10:00:00`, or always with a space, always the same zone).
A named check column of any other type (boolean, binary, JSON, UUID, time of day, …) is
refused with the reason, never silently replaced by full loads.
"""

from __future__ import annotations

import calendar
import datetime as dt
import decimal
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from conveyor.connectors.type_map import declared_of
from conveyor.domain import EngineSettings, IntervalUnit
from conveyor.errors import ConfigurationError

TEXT_TYPES = frozenset({"text", "varchar", "char"})
"""Declared types whose values a text check column may hold (compared as text)."""
CURSOR_KINDS = "a timestamp, a date, a number, or ISO-8601 text (compared as text)"
"""What a check column may be, as errors say it."""
_ISO_8601 = re.compile(
    r"^\d{4}-\d{2}-\d{2}"  # the date
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?"  # the time of day
    r"(Z|[+-]\d{2}:?\d{2})?$"  # the zone
)


def is_text(arrow_type: pa.DataType | None) -> bool:
    """Whether values of this type are text (a text check column is compared as text)."""
    return arrow_type is not None and bool(
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_string_view(arrow_type)
    )


def _is_number(arrow_type: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(arrow_type)
        or pa.types.is_decimal(arrow_type)
        or pa.types.is_floating(arrow_type)
    )


def is_cursor_type(arrow_type: pa.DataType) -> bool:
    """Whether values of this type can drive incremental loads (see `unusable`)."""
    return bool(
        pa.types.is_timestamp(arrow_type)
        or pa.types.is_date(arrow_type)
        or _is_number(arrow_type)
        or is_text(arrow_type)
    )


def type_label(field: pa.Field) -> str:
    """A column's type as its user knows it: declared by the source, else its Arrow type."""
    declared = declared_of(field)
    if declared is not None and declared.native:
        return declared.native.lower()
    if declared is not None and declared.logical is not None:
        return str(declared.logical)
    return str(field.type)


def unusable(field: pa.Field) -> str | None:
    """Why a column cannot order changes (None: it can be a check column).

    Text counts only when it is declared as plain text (or not declared at all, as a
    file's string column): UUID, JSON, network addresses and enum labels arrive as Arrow
    text too, but their order says nothing about when a row changed.
    """
    arrow_type = field.type
    if is_text(arrow_type):
        declared = declared_of(field)
        logical = declared.logical if declared is not None else None
        if declared is None or (
            logical is not None and logical.name in TEXT_TYPES and not logical.dims
        ):
            return None
        name = logical.name if logical is not None else type_label(field)
        return f"{name} values do not sort in the order rows change"
    if is_cursor_type(arrow_type):
        return None
    if pa.types.is_boolean(arrow_type):
        return "a boolean has two values, which cannot tell newer rows from older ones"
    if pa.types.is_time(arrow_type):
        return "a time of day starts over every day"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "bytes do not sort in the order rows change"
    if pa.types.is_dictionary(arrow_type):
        return "enum labels do not sort in the order rows change"
    return "its values do not sort in the order rows change"


def refusal(column: str, field: pa.Field) -> str | None:
    """The error a check column of an unusable type gets (None: it is usable)."""
    why = unusable(field)
    if why is None:
        return None
    return (
        f"check column {column!r} is {type_label(field)}, which cannot order changes: {why};"
        f" a check column must be {CURSOR_KINDS}"
    )


def window_refusal(column: str, field: pa.Field, settings: EngineSettings) -> str | None:
    """Why `replicate_interval` cannot cut this check column into windows (None: it can).

    Windows are computed by adding the interval to a value, which text does not allow.
    """
    if settings.replicate_interval is None or not is_text(field.type):
        return None
    return (
        "ReplicateInterval loads in windows of a timestamp, date or number column; "
        f"check column {column!r} is text (compared as text): drop ReplicateInterval, "
        "or name a timestamp, date or number column"
    )


def choose_check_column(candidates: Sequence[str], schema: pa.Schema) -> str | None:
    """The first candidate the query returns (case-insensitively); None when it returns none.

    A candidate the query returns with a type that cannot order changes is refused
    (`ConfigurationError` naming it, its type and why), never passed over for a full load.
    """
    by_lower = {name.lower(): name for name in schema.names}
    for candidate in candidates:
        name = by_lower.get(candidate.lower())
        if name is None:
            continue
        problem = refusal(str(name), schema.field(name))
        if problem is not None:
            raise ConfigurationError(problem)
        return str(name)
    return None


def looks_iso(value: Any) -> bool:
    """Whether a text cursor value is ISO-8601 (`2024-05-01`, `2024-05-01T10:00:00.5+02:00`)."""
    return isinstance(value, str) and bool(_ISO_8601.match(value))


def encode(value: Any) -> Any:
    """A cursor value as JSON."""
    if isinstance(value, dt.datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    return value


def decode(value: Any) -> Any:
    """A cursor value from JSON."""
    if isinstance(value, dict):
        if "timestamp" in value:
            return dt.datetime.fromisoformat(value["timestamp"])
        if "date" in value:
            return dt.date.fromisoformat(value["date"])
        if "decimal" in value:
            return decimal.Decimal(value["decimal"])
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
    if isinstance(value, int | float | decimal.Decimal) and not isinstance(value, bool):
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
    """replicate_start_date as a value of the check column's type (none for a number)."""
    if settings.replicate_start_date is None or _is_number(arrow_type):
        return None
    if is_text(arrow_type):
        return settings.replicate_start_date.isoformat()  # ISO text sorts like time
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
