"""A schedule's next fire times, as the console lists them."""

from __future__ import annotations

import datetime as dt

from conveyor.scheduler.cron import fire_times


def test_fire_times_follow_the_first() -> None:
    first = dt.datetime(2026, 1, 1, 3, 15, tzinfo=dt.UTC)
    times = fire_times("15 3 * * *", first, 5)
    assert times == [first + dt.timedelta(days=n) for n in range(5)]
    assert fire_times("15 3 * * *", first, 1) == [first]
