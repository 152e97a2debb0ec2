"""The scheduler: cron expressions of jobs, transformations and pipelines turned into runs,
exactly once.

Any number of scheduler replicas may run (every `conveyor serve`). Each fire time is a
row in `schedule_ticks` with a unique (target, fire time) key; the replica whose insert
wins enqueues the run in the same transaction, the others find the key taken and move
on. The database keeps the scheduler honest — no leader election needed.

A schedule fires only at times from when it became effective (`schedule_since`: when it
was enabled or its cron changed) — never for a tick that had already passed then.

Missed ticks: after downtime a schedule fires at most once for the period it missed —
its latest missed tick, when that is younger than `catch_up` seconds; older ticks are
skipped (and recorded as such). A tick whose job (or pipeline) is still running is recorded
as skipped. A pipeline's tick records the pipeline run it started as its `run_id`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from conveyor.domain import utcnow
from conveyor.errors import Conflict, ConveyorError
from conveyor.store.models import Job, Pipeline, ScheduleTick, Transformation
from conveyor.store.session import unit_of_work

log = logging.getLogger(__name__)

Enqueue = Callable[[Session, str, str, dt.datetime], str]
"""(session, target kind, target id, fire time) → the new run's id; raises Conflict when busy."""


@dataclass(frozen=True)
class Due:
    """A schedule whose latest fire time has come."""

    kind: str  # job | transformation | pipeline
    target_id: str
    fire_at: dt.datetime
    stale: bool


def latest_fire(cron: str, now: dt.datetime) -> dt.datetime:
    """The most recent time at or before `now` that the cron expression fires (UTC)."""
    moment: dt.datetime = croniter(cron, now + dt.timedelta(microseconds=1)).get_prev(dt.datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def next_fire(cron: str, now: dt.datetime) -> dt.datetime | None:
    """The first time after `now` that the cron expression fires (UTC); none for an
    expression that does not parse (the scheduler skips it, and says so in its log)."""
    try:
        moment: dt.datetime = croniter(cron, now).get_next(dt.datetime)
    except (ValueError, KeyError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def fire_times(cron: str, first: dt.datetime, count: int) -> list[dt.datetime]:
    """`first` (a schedule's next fire time) and the `count - 1` fire times after it: what
    a person setting a schedule checks it against."""
    times = [first]
    while len(times) < count and (following := next_fire(cron, times[-1])) is not None:
        times.append(following)
    return times


def first_fire_from(cron: str, since: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """When a schedule effective since `since` fires next after `now` — the same rule as
    `Scheduler.due`: never a fire time before `since`."""
    return next_fire(cron, max(now, since - dt.timedelta(microseconds=1)))


def effective_since(
    since: dt.datetime | None,
    before: tuple[bool, str],
    after: tuple[bool, str],
    now: dt.datetime,
) -> dt.datetime | None:
    """A schedule's new `schedule_since`: `now` when an (enabled, cron) change makes it
    active with a new meaning (just enabled, or a new cron), else `since` unchanged."""
    enabled, cron = after
    if enabled and cron and before != after:
        return now
    return since


class Scheduler:
    """Checks every schedule every `interval` seconds and enqueues what is due."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        enqueue: Enqueue,
        interval: float = 5.0,
        catch_up: float = 3600.0,
    ) -> None:
        self.factory = factory
        self.enqueue = enqueue
        self.interval = interval
        self.catch_up = catch_up
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def due(self, session: Session, now: dt.datetime) -> list[Due]:
        """The latest fire time of every enabled schedule, when it is not older than the
        schedule itself (ticks already taken are filtered later)."""
        found = []
        targets: list[tuple[str, str, str, dt.datetime]] = [
            ("job", job.id, job.schedule_cron, job.schedule_since or job.created_at)
            for job in session.scalars(
                select(Job).where(Job.schedule_enabled.is_(True), Job.schedule_cron != "")
            )
        ]
        targets += [
            ("transformation", t.id, t.schedule_cron, t.schedule_since or t.created_at)
            for t in session.scalars(
                select(Transformation).where(
                    Transformation.trigger_mode == "scheduled", Transformation.schedule_cron != ""
                )
            )
        ]
        targets += [
            ("pipeline", p.id, p.schedule_cron, p.schedule_since or p.created_at)
            for p in session.scalars(
                select(Pipeline).where(
                    Pipeline.schedule_enabled.is_(True), Pipeline.schedule_cron != ""
                )
            )
        ]
        for kind, target_id, cron, since in targets:
            try:
                fire = latest_fire(cron, now)
            except (ValueError, KeyError):
                log.warning("schedule of %s %s has an invalid cron %r", kind, target_id, cron)
                continue
            if fire >= since:  # a tick that passed before the schedule began never fires
                found.append(
                    Due(kind, target_id, fire, stale=(now - fire).total_seconds() > self.catch_up)
                )
        return found

    def tick(self, now: dt.datetime | None = None) -> list[str]:
        """One pass: enqueue every due tick no replica has taken yet; the new runs' ids."""
        now = now or utcnow()
        with unit_of_work(self.factory, read_only=True) as session:  # holds up no writer
            due = self.due(session, now)
        started = []
        for item in due:
            run_id = self._take(item)
            if run_id:
                started.append(run_id)
        return started

    def _take(self, item: Due) -> str | None:
        with unit_of_work(self.factory) as session:
            taken = session.scalar(
                select(ScheduleTick.id).where(
                    ScheduleTick.target_kind == item.kind,
                    ScheduleTick.target_id == item.target_id,
                    ScheduleTick.fire_at == item.fire_at,
                )
            )
            if taken is not None:
                return None
            tick = ScheduleTick(
                target_kind=item.kind, target_id=item.target_id, fire_at=item.fire_at
            )
            try:
                with session.begin_nested():
                    session.add(tick)
                    session.flush()
            except IntegrityError:
                return None  # another replica took this tick
            if item.stale:
                tick.outcome = "skipped: missed while down"
                return None
            try:
                with session.begin_nested():
                    tick.run_id = self.enqueue(session, item.kind, item.target_id, item.fire_at)
            except Conflict:
                tick.outcome = "skipped: still running"
                return None
            except ConveyorError as exc:
                tick.outcome = f"failed: {exc.message}"[:40]
                log.warning(
                    "scheduled %s %s could not start: %s", item.kind, item.target_id, exc.message
                )
                return None
            log.info(
                "scheduled %s %s fired for %s", item.kind, item.target_id, item.fire_at.isoformat()
            )
            return tick.run_id

    def start(self) -> None:
        """Check schedules in a background thread until `stop`."""
        self._thread = threading.Thread(target=self._loop, name="conveyor-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("the scheduler pass failed")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        """Stop checking."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
