"""What `log_line_counts` tells a log list: its total, and which runs can be on its page.

A log list answers how many lines it holds. Counting a job's 100,000 lines (of ten
million) for every page took 90-110 ms; `log_line_counts` holds the lines per run with
the run's job, kept by triggers (migration 0019). A list of all of a run's or a job's
lines reads its total there; a filtered one (`after`, `since`, a level) is left to the
database's COUNT, which only pages past the first need.

A job's lines, oldest first, were all read and sorted for a page of 50. The counts also
hold each run's lowest and highest line ids and its latest line's time, so a job's list
reads only the runs that can be on its page (`runs_of`): those whose lines start before
the last id the page can reach (`reach`), newest first those whose lines end after the
lowest id it can reach (`reach_back`), or, with `since`, those that logged since then.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from conveyor.store.models import LogLineCount

Counter = Callable[[], int]
SCANNED_RUNS = 200
"""How many of a job's runs `reach` reads to bound a page; a page deeper than their
lines is read without a bound, as before."""


def of_run(session: Session, run_id: str) -> Counter:
    """How to read the number of a run's log lines."""
    statement = select(LogLineCount.lines).where(LogLineCount.run_id == run_id)
    return lambda: int(session.scalar(statement) or 0)


def of_job(session: Session, job_id: str) -> Counter:
    """How to read the number of log lines of a job's runs (summed from an index)."""
    statement = select(func.coalesce(func.sum(LogLineCount.lines), 0)).where(
        LogLineCount.job_id == job_id
    )
    return lambda: int(session.scalar(statement) or 0)


def reach(session: Session, job_id: str, wanted: int) -> int | None:
    """A line id that the job's first `wanted` lines (by id) do not pass, or None when
    its first runs hold fewer lines than that.

    Taking the runs in the order of their first lines until they hold `wanted` lines,
    those lines all lie at or below the highest of these runs' last ids; so do the job's
    first `wanted` lines, which are no later than them."""
    found = session.execute(
        select(LogLineCount.lines, LogLineCount.last_line)
        .where(LogLineCount.job_id == job_id)
        .order_by(LogLineCount.first_line, LogLineCount.run_id)
        .limit(SCANNED_RUNS)
    )
    held, bound = 0, None
    for lines, last in found:
        held += lines
        bound = last if bound is None else max(bound, last)
        if held >= wanted:
            return bound
    return None


def reach_back(session: Session, job_id: str, wanted: int) -> int | None:
    """A line id that the job's last `wanted` lines (by id) are all at or above, or None
    when its last runs hold fewer lines than that: `reach` for the newest first order.

    Taking the runs from the latest first line down (the same index, read backwards)
    until they hold `wanted` lines, those lines all lie at or above the lowest of these
    runs' first ids; so do the job's last `wanted` lines, which are no earlier than them."""
    found = session.execute(
        select(LogLineCount.lines, LogLineCount.first_line)
        .where(LogLineCount.job_id == job_id)
        .order_by(LogLineCount.first_line.desc(), LogLineCount.run_id.desc())
        .limit(SCANNED_RUNS)
    )
    held = 0
    for lines, first in found:
        held += lines
        if held >= wanted:
            return int(first)
    return None


def runs_of(
    job_id: str, since: dt.datetime | None, up_to: int | None, down_to: int | None = None
) -> Select[str]:
    """The runs of a job that can hold its lines logged since `since` (when given) with
    ids up to `up_to` and from `down_to` on (each when given): every run that holds such
    a line is among them."""
    statement = select(LogLineCount.run_id).where(LogLineCount.job_id == job_id)
    if since is not None:
        statement = statement.where(LogLineCount.last_logged >= since)
    if up_to is not None:
        statement = statement.where(LogLineCount.first_line <= up_to)
    if down_to is not None:
        statement = statement.where(LogLineCount.last_line >= down_to)
    return statement
