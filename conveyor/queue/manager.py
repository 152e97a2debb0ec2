"""All queue SQL in one place: enqueue, claim, heartbeat, cancel, finish, sweep.

The metadata database is the queue. Claiming uses `FOR UPDATE SKIP LOCKED` on
PostgreSQL; on SQLite one process owns the workers and `BEGIN IMMEDIATE` serialises
writers, so the same statement is safe there. A run handed to a worker is an immutable
`ClaimedRun`; everything a worker learns or reports goes through the methods below.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, event, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from conveyor.domain import ACTIVE_STATUSES, RunStatus, TaskRunStatus, utcnow
from conveyor.engine.cdc.status import least_advanced
from conveyor.engine.reporting import RunOutcome, TaskResult
from conveyor.errors import Conflict
from conveyor.files.store import record as record_files
from conveyor.queue.external import EXTERNAL, EXTERNAL_SILENT, ExternalRuns, close_tasks
from conveyor.queue.retry import BASE_SECONDS, backoff_seconds, should_retry
from conveyor.queue.states import transition
from conveyor.store import counters
from conveyor.store.models import Connection, Job, Run, RunLog, TaskState, Transformation
from conveyor.store.session import unit_of_work

log = logging.getLogger(__name__)

CLAIMABLE = (RunStatus.pending.value, RunStatus.suspended.value)
RUNNING = (RunStatus.in_progress.value, RunStatus.canceling.value)
CONVEYOR = "conveyor"
"""Runs executed by Conveyor's workers (the others are EXTERNAL: self-managed workers)."""
NOTIFY_CHANNEL = "conveyor_runs"


@dataclass(frozen=True)
class ClaimedRun:
    """A run a worker has claimed: what it needs to build the run's spec."""

    id: str
    job_id: str | None
    workspace_id: str
    attempt: int
    max_attempts: int
    load: str
    task_ids: tuple[str, ...] | None
    resumed: bool


@dataclass(frozen=True)
class Heartbeat:
    """What a worker learns when it reports in: should it stop the run?"""

    cancel_requested: bool
    lost: bool  # the run is no longer this worker's (swept, or deleted)


class Wakeup:
    """Wakes local workers when a transaction that enqueued a run commits."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Wake the waiting workers."""
        self._event.set()

    def wait(self, timeout: float) -> bool:
        """Wait for a wake-up or the timeout; True when woken."""
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken


WAKEUP = Wakeup()
"""This process's wake-up; PostgreSQL's LISTEN/NOTIFY wakes other processes."""


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop("conveyor_enqueued", False):
        WAKEUP.set()


class QueueManager(ExternalRuns):
    """The queue's operations on the metadata store."""

    def __init__(self, factory: sessionmaker[Session], retry_backoff: float = BASE_SECONDS) -> None:
        self.factory = factory
        self.retry_backoff = retry_backoff

    # --- called inside a request's transaction ------------------------------------------

    def enqueue(self, session: Session, run: Run) -> Run:
        """Add a run; 409 naming the active run when its unicity key is taken."""
        try:
            with session.begin_nested():
                session.add(run)
                session.flush()
        except IntegrityError as exc:
            active = session.scalar(
                select(Run.id).where(Run.unicity == run.unicity, Run.status.in_(ACTIVE_STATUSES))
            )
            raise Conflict(
                f"job {run.job_id} already has an active run {active}", active_run_id=active
            ) from exc
        if session.bind is not None and session.get_bind().dialect.name == "postgresql":
            session.execute(select(func.pg_notify(NOTIFY_CHANNEL, run.id)))
        session.info["conveyor_enqueued"] = True
        return run

    def request_cancel(self, session: Session, run: Run) -> Run:
        """Cancel: a waiting run at once, a running one cooperatively; 409 when final."""
        status = RunStatus(run.status)
        if status in (RunStatus.pending, RunStatus.suspended):
            transition(run, RunStatus.canceled)
            close_tasks(session, run.id, TaskRunStatus.canceled)
            self._ended(session, run)
        else:
            transition(run, RunStatus.canceling)
            run.cancelation_requested_at = utcnow()
        return run

    # --- worker side: each call is its own transaction ----------------------------------

    def claim(self, worker_id: str, hostname: str, candidates: int = 20) -> ClaimedRun | None:
        """Take the most urgent runnable run whose connections have room, or None.

        Higher priority first, then the earliest scheduled. A run whose source or
        destination connection already has `max_concurrent_runs` runs going is passed
        over (it stays pending) in favour of the next candidate.
        """
        now = utcnow()
        with unit_of_work(self.factory) as session:
            waiting = session.scalars(
                select(Run)
                .where(Run.status.in_(CLAIMABLE), Run.scheduled_at <= now, Run.executor == CONVEYOR)
                .order_by(Run.priority.desc(), Run.scheduled_at, Run.created_at)
                .limit(candidates)
                .with_for_update(skip_locked=True)
            ).all()
            run = next((r for r in waiting if not self._connection_busy(session, r)), None)
            if run is None:
                return None
            resumed = run.status == RunStatus.suspended.value
            transition(run, RunStatus.in_progress)
            # Stamped now, not at `now`: the locks above may have waited for another run
            # to finish, and a start must never read as earlier than that finish.
            started = utcnow()
            run.started_at = run.started_at or started
            run.last_seen = started
            run.worker_hostname = hostname
            run.worker_id = worker_id
            run.error = None if not resumed else run.error
            return ClaimedRun(
                id=run.id,
                job_id=run.job_id,
                workspace_id=run.workspace_id,
                attempt=run.attempt,
                max_attempts=run.max_attempts,
                load=run.load,
                task_ids=tuple(run.task_ids) if run.task_ids is not None else None,
                resumed=resumed,
            )

    @staticmethod
    def _connection_busy(session: Session, run: Run) -> bool:
        """Whether a connection of the run is at its concurrency limit.

        The limited connections are locked (in id order, so claimers never deadlock)
        while the running runs are counted: two workers cannot both take the last place.
        """
        if run.job_id is not None:
            job = session.get(Job, run.job_id)
            ids = [job.source_connection_id, job.destination_connection_id] if job else []
        else:
            item = (
                session.get(Transformation, run.transformation_id)
                if run.transformation_id
                else None
            )
            ids = [item.connection_id] if item else []
        wanted = sorted({i for i in ids if i})
        if not wanted:
            return False
        limited = session.execute(
            select(Connection.id, Connection.max_concurrent_runs)
            .where(Connection.id.in_(wanted), Connection.max_concurrent_runs.is_not(None))
            .order_by(Connection.id)
            .with_for_update()
        ).all()
        for connection_id, limit in limited:
            busy = session.scalar(
                select(func.count())
                .select_from(Run)
                .outerjoin(Job, Run.job_id == Job.id)
                .outerjoin(Transformation, Run.transformation_id == Transformation.id)
                .where(
                    Run.status.in_(RUNNING),
                    or_(
                        Job.source_connection_id == connection_id,
                        Job.destination_connection_id == connection_id,
                        Transformation.connection_id == connection_id,
                    ),
                )
            )
            if limit is not None and (busy or 0) >= limit:
                return True
        return False

    def heartbeat(
        self,
        run_id: str,
        worker_id: str,
        progress: float | None = None,
        tasks: Iterable[TaskResult] = (),
        logs: Sequence[tuple[dt.datetime, str, str, str | None]] = (),
    ) -> Heartbeat:
        """Report liveness, progress, task results and log lines; learn about cancelation."""
        with unit_of_work(self.factory) as session:
            run = session.get(Run, run_id)
            if run is None or run.worker_id != worker_id or run.status not in RUNNING:
                return Heartbeat(cancel_requested=True, lost=True)
            run.last_seen = utcnow()
            if progress is not None:
                run.progress = max(0.0, min(1.0, progress))
            self._store_tasks(session, run, tasks)
            session.add_all(
                RunLog(run_id=run_id, ts=ts, level=level, message=message, task_id=task_id)
                for ts, level, message, task_id in logs
            )
            return Heartbeat(run.status == RunStatus.canceling.value, lost=False)

    def finish(self, run_id: str, worker_id: str, outcome: RunOutcome) -> RunStatus:
        """Record how an attempt ended and move the run to its next status."""
        with unit_of_work(self.factory) as session:
            run = session.get(Run, run_id, with_for_update=True)
            if run is None:
                return RunStatus.canceled
            if run.worker_id != worker_id or run.status not in RUNNING:
                log.warning("run %s finished on a worker that no longer owns it", run_id)
                return RunStatus(run.status)
            self._store_tasks(session, run, outcome.tasks)
            run.error = outcome.error
            target = self._final_status(run, outcome)
            if target is RunStatus.pending:
                self._requeue(run, outcome.error)
            else:
                if run.status == RunStatus.in_progress.value and target is RunStatus.canceled:
                    transition(run, RunStatus.canceling)
                transition(run, target)
                if target is RunStatus.completed:
                    run.progress = 1.0
            if target is not RunStatus.suspended:
                close_tasks(session, run.id, TaskRunStatus.canceled)
            if target.is_final and outcome.files:  # with the final status: never one without
                record_files(session, run, outcome.files)
            if target.is_final:
                self._ended(session, run)
            return target

    def _final_status(self, run: Run, outcome: RunOutcome) -> RunStatus:
        if run.status == RunStatus.canceling.value and outcome.status is not RunStatus.error:
            return RunStatus.canceled
        if outcome.status is RunStatus.error and should_retry(
            outcome.retryable, run.attempt, run.max_attempts
        ):
            return RunStatus.pending
        if outcome.status is RunStatus.suspended and run.status == RunStatus.canceling.value:
            return RunStatus.canceled
        return outcome.status

    def _requeue(self, run: Run, error: str | None) -> None:
        """Put a failed attempt back in the queue for a later attempt (internal move)."""
        run.status = RunStatus.pending.value
        run.scheduled_at = utcnow() + dt.timedelta(
            seconds=backoff_seconds(run.attempt, self.retry_backoff)
        )
        run.attempt += 1
        run.worker_id = None
        run.error = error

    def save_task_state(self, task_id: str, state: dict[str, Any]) -> None:
        """Durably store what the engine must remember of a task (its cursor)."""
        with unit_of_work(self.factory) as session:
            row = session.get(TaskState, task_id)
            if row is None:
                session.add(TaskState(task_id=task_id, state=state))
            else:
                row.state = state

    def sweep(
        self, silent_since: dt.datetime, external_silent_since: dt.datetime | None = None
    ) -> list[str]:
        """Recover runs whose worker has been silent since before `silent_since`.

        A run being canceled becomes canceled; any other is retried when it has attempts
        left, else failed. Runs of external workers have their own deadline,
        `external_silent_since` (None: leave them alone — no Conveyor process owns them,
        so a restart says nothing about them), and are failed rather than retried, as
        Elastic's connector service fails its idle jobs. Returns the recovered runs' ids.
        """
        recovered: list[str] = []
        with unit_of_work(self.factory) as session:
            silent = or_(
                and_(
                    Run.executor == CONVEYOR,
                    or_(Run.last_seen.is_(None), Run.last_seen < silent_since),
                ),
                and_(
                    Run.executor == EXTERNAL,
                    or_(Run.last_seen.is_(None), Run.last_seen < external_silent_since),
                )
                if external_silent_since is not None
                else false(),
            )
            stale = select(Run).where(Run.status.in_(RUNNING), silent)
            for run in session.scalars(stale.with_for_update(skip_locked=True)):
                message = f"worker {run.worker_hostname or '?'} stopped reporting"
                if run.executor == EXTERNAL:
                    session.add(RunLog(run_id=run.id, level="error", message=message))
                    if run.status == RunStatus.canceling.value:
                        transition(run, RunStatus.canceled)
                    else:
                        run.error = EXTERNAL_SILENT
                        transition(run, RunStatus.error)
                    self._ended(session, run)
                    recovered.append(run.id)
                    continue
                session.add(RunLog(run_id=run.id, level="error", message=message))
                if run.status == RunStatus.canceling.value:
                    transition(run, RunStatus.canceled)
                elif should_retry(True, run.attempt, run.max_attempts):
                    self._requeue(run, message)
                else:
                    run.error = message
                    transition(run, RunStatus.error)
                close_tasks(session, run.id, TaskRunStatus.error)
                if RunStatus(run.status).is_final:
                    self._ended(session, run)
                recovered.append(run.id)
        return recovered

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _store_tasks(session: Session, run: Run, tasks: Iterable[TaskResult]) -> None:
        by_task = {row.task_id: row for row in run.task_results}
        done = 0
        added_rows = added_bytes = 0
        for result in tasks:
            row = by_task.get(result.task_id)
            if row is None:
                continue
            # What the task wrote since its last report (a new attempt starts again at 0).
            added_rows += max(0, result.rows_written - (row.rows_written or 0))
            added_bytes += max(0, result.bytes_written - (row.bytes_written or 0))
            row.status = result.status.value
            row.table_name = result.table or row.table_name
            row.rows_read, row.rows_written = result.rows_read, result.rows_written
            row.rows_deleted, row.error = result.rows_deleted, result.error
            row.rows_inserted, row.rows_updated = result.rows_inserted, result.rows_updated
            row.cdc = result.cdc if result.cdc is not None else row.cdc
            row.bytes_written = result.bytes_written
            row.started_at = result.started_at or row.started_at
            row.completed_at = result.completed_at
        for row in run.task_results:
            done += row.status in (
                TaskRunStatus.completed.value,
                TaskRunStatus.error.value,
                TaskRunStatus.skipped.value,
            )
        run.tasks_done = done
        run.rows_read = sum(r.rows_read for r in run.task_results)
        run.rows_written = sum(r.rows_written for r in run.task_results)
        run.rows_deleted = sum(r.rows_deleted for r in run.task_results)
        run.rows_inserted = sum(r.rows_inserted or 0 for r in run.task_results)
        run.rows_updated = sum(r.rows_updated or 0 for r in run.task_results)
        run.cdc = least_advanced([r.cdc for r in run.task_results])
        run.bytes_written = sum(r.bytes_written for r in run.task_results)
        counters.add(session, counters.ROWS_WRITTEN, added_rows)
        counters.add(session, counters.BYTES_WRITTEN, added_bytes)


__all__ = [
    "CONVEYOR",
    "EXTERNAL",
    "WAKEUP",
    "ClaimedRun",
    "Heartbeat",
    "QueueManager",
    "transition",
]
