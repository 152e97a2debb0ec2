"""Retention of run files: old ones, and those beyond a number of runs per job, go.

A periodic pass (`Cleaner`, started with the API) deletes, rows first and bytes after
the commit:

- files older than `files_max_age_days`;
- files of a job's runs older than its newest `files_keep_per_job` runs with files;
- folders nobody owns any more: a run's folder whose run is gone (a deleted job took
  its runs along), or whose run is final without a recorded file (the partial output
  of a canceled or failed run).

The same cleaner keeps the run history bounded (`purge_history`):

- finished runs older than `run_retention_days` go, with their log lines, task results
  and files (the database cascades; the folders go after the commit) — never an active
  run, nor a job's newest run, whose status the job shows;
- log lines older than `log_retention_days` go, except those of active runs.

Each deletes in batches (`SWEEP_BATCH` files, `PURGE_BATCH` runs or lines), each its own
short transaction, so no pass holds the store's lock for long. Every node may run it: deleting what another node already
deleted is harmless. The app may hand the cleaner other retention passes to run on the
same beat (the audit log's).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from conveyor.config import Settings
from conveyor.domain import ACTIVE_STATUSES, FINAL_STATUSES, utcnow
from conveyor.files import store
from conveyor.store.models import File, Job, Run, RunLog
from conveyor.store.session import unit_of_work

log = logging.getLogger(__name__)
RUN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
"""Folder names the cleaner may remove: run ids, nothing else someone put there."""


@dataclass
class Swept:
    """What one pass deleted."""

    files: list[tuple[str, str]] = field(default_factory=list)  # (run id, path)
    folders: list[str] = field(default_factory=list)  # run ids


def _expired(settings: Settings, now: dt.datetime) -> Select[str, str, str] | None:
    """The files retention removes, as (id, run id, path); None when it keeps them all."""
    conditions: list[ColumnElement[bool]] = []
    if settings.files_max_age_days > 0:
        conditions.append(File.created_at < now - dt.timedelta(days=settings.files_max_age_days))
    if settings.files_keep_per_job > 0:
        newest = func.max(File.created_at)
        rank = func.row_number().over(partition_by=File.job_id, order_by=newest.desc())
        ranked = (
            select(File.run_id, rank.label("rank"))
            .where(File.job_id.is_not(None))
            .group_by(File.job_id, File.run_id)
            .subquery()
        )
        beyond = select(ranked.c.run_id).where(ranked.c.rank > settings.files_keep_per_job)
        conditions.append(File.run_id.in_(beyond))
    if not conditions:
        return None
    return select(File.id, File.run_id, File.path).where(or_(*conditions)).order_by(File.id)


def _run_folders(files_dir: Path) -> list[str]:
    """The names of the run folders on disk (read with no transaction open)."""
    try:
        return [e.name for e in os.scandir(files_dir) if e.is_dir() and RUN_ID.match(e.name)]
    except FileNotFoundError:
        return []


def _abandoned(session: Session, names: list[str]) -> list[str]:
    """Of these run folders, those whose run is gone, or final without a recorded file."""
    abandoned: list[str] = []
    for start in range(0, len(names), 500):
        chunk = names[start : start + 500]
        status = dict(session.execute(select(Run.id, Run.status).where(Run.id.in_(chunk))).all())
        with_files = set(session.scalars(select(File.run_id).where(File.run_id.in_(chunk))))
        final = {s.value for s in FINAL_STATUSES}
        abandoned += [
            n for n in chunk if n not in status or (status[n] in final and n not in with_files)
        ]
    return abandoned


SWEEP_BATCH = 1000
"""Files deleted per transaction: 60,000 expired files were once one 145 s transaction
that held the store's write lock (every other writer waited) the whole time."""


def sweep(
    factory: sessionmaker[Session], settings: Settings, now: dt.datetime | None = None
) -> Swept:
    """One pass of the cleaner; returns what it deleted."""
    swept = Swept()
    files_dir = settings.files_dir
    expired = _expired(settings, now or utcnow())
    while expired is not None:
        with unit_of_work(factory) as session:
            rows = session.execute(expired.limit(SWEEP_BATCH)).all()
            if rows:
                session.execute(delete(File).where(File.id.in_([row.id for row in rows])))
        for _, run_id, path in rows:  # after the commit, as a run's folder (below)
            store.remove_file(files_dir, run_id, path)
        swept.files += [(run_id, path) for _, run_id, path in rows]
        if len(rows) < SWEEP_BATCH:
            break
    names = _run_folders(files_dir)
    with unit_of_work(factory, read_only=True) as session:
        swept.folders = _abandoned(session, names)
    for run_id in swept.folders:
        store.remove_folder(store.run_folder(files_dir, run_id))
    if swept.files or swept.folders:
        log.info(
            "file retention: %d file(s) and %d abandoned folder(s) deleted",
            len(swept.files),
            len(swept.folders),
        )
    return swept


PURGE_BATCH = 5000


@dataclass
class Purged:
    """What one history pass deleted."""

    runs: int = 0
    log_lines: int = 0


def _newest_runs() -> Any:
    """The id of each job's newest run (kept: the job shows its status)."""
    newest = (
        select(Run.id)
        .where(Run.job_id == Job.id)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
        .correlate(Job)
        .scalar_subquery()
    )
    return select(newest).where(newest.is_not(None))


def purge_history(
    factory: sessionmaker[Session], settings: Settings, now: dt.datetime | None = None
) -> Purged:
    """Delete old finished runs (`run_retention_days`) and old log lines of finished runs
    (`log_retention_days`), batch by batch; 0 keeps them."""
    now = now or utcnow()
    purged = Purged()
    active = [status.value for status in ACTIVE_STATUSES]
    if settings.run_retention_days > 0:
        cutoff = now - dt.timedelta(days=settings.run_retention_days)
        ended = func.coalesce(Run.completed_at, Run.created_at)
        while True:
            with unit_of_work(factory) as session:
                ids = list(
                    session.scalars(
                        select(Run.id)
                        .where(
                            Run.created_at < cutoff,
                            ended < cutoff,
                            Run.status.not_in(active),
                            or_(Run.job_id.is_(None), Run.id.not_in(_newest_runs())),
                        )
                        .limit(PURGE_BATCH)
                    )
                )
                if ids:
                    session.execute(delete(Run).where(Run.id.in_(ids)))
            for run_id in ids:  # after the commit: a folder never outlives its rows' absence
                store.remove_folder(store.run_folder(settings.files_dir, run_id))
            purged.runs += len(ids)
            if len(ids) < PURGE_BATCH:
                break
    if settings.log_retention_days > 0:
        cutoff = now - dt.timedelta(days=settings.log_retention_days)
        running = select(Run.id).where(Run.status.in_(active))
        while True:
            with unit_of_work(factory) as session:
                lines = list(
                    session.scalars(
                        select(RunLog.id)
                        .where(RunLog.ts < cutoff, RunLog.run_id.not_in(running))
                        .limit(PURGE_BATCH)
                    )
                )
                if lines:
                    session.execute(delete(RunLog).where(RunLog.id.in_(lines)))
            purged.log_lines += len(lines)
            if len(lines) < PURGE_BATCH:
                break
    if purged.runs or purged.log_lines:
        log.info(
            "history retention: %d run(s) and %d log line(s) deleted",
            purged.runs,
            purged.log_lines,
        )
    return purged


class Cleaner:
    """Runs `sweep`, `purge_history`, then each of `passes`, every `files_cleanup_interval` seconds in a
    daemon thread; one pass failing does not keep the others from running."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        passes: Sequence[Callable[[], object]] = (),
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.passes = list(passes)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start sweeping (the first pass comes soon after start)."""
        self._thread = threading.Thread(
            target=self._loop, name="conveyor-file-cleaner", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        delay = min(self.settings.files_cleanup_interval, 10.0)
        while not self._stop.wait(delay):
            delay = self.settings.files_cleanup_interval
            for retention_pass in [
                lambda: sweep(self.factory, self.settings),
                lambda: purge_history(self.factory, self.settings),
                *self.passes,
            ]:
                try:
                    retention_pass()
                except Exception:
                    log.exception("retention pass failed")

    def stop(self) -> None:
        """Stop after the current pass."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
