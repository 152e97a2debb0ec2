"""Quartz cron expressions, checked the way Elasticsearch's `Cron` (a Quartz fork) does.

A connector's schedules are Quartz expressions: seconds, minutes, hours, day of month,
month, day of week and an optional year, with `*`, `?`, lists, ranges, increments and
Quartz's `L`, `W` and `#`. Elasticsearch refuses an expression it cannot build with
`invalid cron expression [<expression>]`; `problem` answers that reason, or None. Which
expressions Conveyor itself can run is `services.elastic.wiring.quartz_to_cron`'s concern.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Field:
    """One position of an expression: its bounds and the names it accepts."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


SECONDS, MINUTES, HOURS = Field("seconds", 0, 59), Field("minutes", 0, 59), Field("hours", 0, 23)
DAY_OF_MONTH, MONTH = Field("day of month", 1, 31), Field("month", 1, 12, MONTHS)
DAY_OF_WEEK = Field("day of week", 1, 7, DAYS)
YEAR = Field("year", 1970, dt.date.today().year + 100)
FIELDS = (SECONDS, MINUTES, HOURS, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR)

_VALUE = r"(\d+|[A-Z]{3})"
_RANGE = re.compile(rf"^(\*|{_VALUE}(?:-{_VALUE})?)(?:/(\d+))?$")


class InvalidCron(ValueError):
    """A part of an expression that Quartz cannot build."""


def _value(text: str, field: Field) -> int:
    if text in field.names:
        return field.names.index(text) + 1
    if not text.isdigit():
        raise InvalidCron(f"invalid {field.name} value [{text}]")
    value = int(text)
    if not field.low <= value <= field.high:
        raise InvalidCron(f"{field.name} values must be between {field.low} and {field.high}")
    return value


def _special(item: str, field: Field, alone: bool) -> bool:
    """Quartz's day specials (`?`, `L`, `L-n`, `LW`, `nW`, `nL`, `n#m`): whether `item`
    is one (and valid), so that the generic range syntax need not read it."""
    if field is DAY_OF_MONTH:
        if item in ("L", "LW"):
            return True
        offset = re.fullmatch(r"L-(\d+)", item)
        if offset:
            if int(offset.group(1)) > 30:
                raise InvalidCron("offset from last day must be <= 30")
            return True
        weekday = re.fullmatch(r"(\d+)W", item)
        if weekday:
            if not alone:
                raise InvalidCron("'W' cannot be used in a list of days")
            _value(weekday.group(1), field)
            return True
    if field is DAY_OF_WEEK:
        if item == "L":
            return True
        last = re.fullmatch(rf"{_VALUE}L", item)
        if last:
            _value(last.group(1), field)
            return True
        nth = re.fullmatch(rf"{_VALUE}#(\d+)", item)
        if nth:
            if not alone:
                raise InvalidCron("'#' cannot be used in a list of days")
            _value(nth.group(1), field)
            if not 1 <= int(nth.group(2)) <= 5:
                raise InvalidCron("a numeric value between 1 and 5 must follow the '#' option")
            return True
    return False


def _item(item: str, field: Field, alone: bool) -> None:
    if item == "?":
        if field not in (DAY_OF_MONTH, DAY_OF_WEEK) or not alone:
            raise InvalidCron("'?' can only be specified for day of month or day of week")
        return
    if _special(item, field, alone):
        return
    match = _RANGE.match(item)
    if match is None:
        raise InvalidCron(f"illegal characters for {field.name} [{item}]")
    _, start, end, step = match.groups()
    if start is not None:
        _value(start, field)
    if end is not None:
        _value(end, field)
    if step is not None and not 0 < int(step) <= field.high:
        raise InvalidCron(f"increment of {field.name} must be between 1 and {field.high}")


def check(expression: str) -> None:
    """Raise InvalidCron unless Quartz can build the expression."""
    parts = expression.upper().split()
    if len(parts) not in (6, 7):
        raise InvalidCron("a Quartz expression has six or seven fields")
    for part, field in zip(parts, FIELDS, strict=False):
        items = part.split(",")
        for item in items:
            _item(item, field, alone=len(items) == 1)
    day_of_month, day_of_week = parts[3] == "?", parts[5] == "?"
    if day_of_month == day_of_week:
        raise InvalidCron("exactly one of day of month and day of week must be '?'")


def problem(expression: str) -> str | None:
    """Elasticsearch's reason for refusing the expression, or None when it is valid."""
    try:
        check(expression)
    except InvalidCron:
        return f"invalid cron expression [{expression}]"
    return None
