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

from sqlalchemy import and_, event, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from conveyor.domain import ACTIVE_STATUSES, RunStatus, TaskRunStatus, can_transition, utcnow
from conveyor.engine.reporting import RunOutcome, TaskResult
from conveyor.errors import Conflict, IllegalTransition
from conveyor.queue.retry import backoff_seconds, should_retry
from conveyor.store.models import Run, RunLog, RunTask, TaskState
from conveyor.store.session import unit_of_work

log = logging.getLogger(__name__)

CLAIMABLE = (RunStatus.pending.value, RunStatus.suspended.value)
RUNNING = (RunStatus.in_progress.value, RunStatus.canceling.value)
CONVEYOR = "conveyor"
EXTERNAL = "external"
"""Run executors: Conveyor's own workers, or a self-managed worker using the Elastic API."""
EXTERNAL_SILENT = "The job has not seen any update for some time."
NOTIFY_CHANNEL = "conveyor_runs"


@dataclass(frozen=True)
class ClaimedRun:
    """A run a worker has claimed: what it needs to build the run's spec."""

    id: str
    job_id: str | None
    workspace_id: str
    attempt: int
    max_attempts: int
    job_type: str
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


def transition(run: Run, target: RunStatus) -> None:
    """Move a run to `target`, or raise `IllegalTransition` (HTTP 409)."""
    current = RunStatus(run.status)
    if not can_transition(current, target):
        raise IllegalTransition(
            f"run {run.id} is {current.value}; it cannot become {target.value}",
            current=current.value,
            target=target.value,
        )
    run.status = target.value
    now = utcnow()
    if target is RunStatus.canceled:
        run.canceled_at = now
    if target.is_final:
        run.completed_at = now


class QueueManager:
    """The queue's operations on the metadata store."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

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
            self._close_tasks(session, run.id, TaskRunStatus.canceled)
        else:
            transition(run, RunStatus.canceling)
            run.cancelation_requested_at = utcnow()
        return run

    # --- external (self-managed) workers, through a request's transaction --------------

    @staticmethod
    def _require_external(run: Run) -> None:
        if run.executor != EXTERNAL:
            raise Conflict(
                f"run {run.id} is executed by Conveyor's workers; only runs of self-managed "
                "connectors are claimed and reported on by external workers"
            )

    def claim_external(self, session: Session, run: Run, hostname: str) -> Run:
        """An external worker takes a waiting run: in_progress, started, seen now."""
        self._require_external(run)
        now = utcnow()
        transition(run, RunStatus.in_progress)
        run.started_at = run.started_at or now
        run.last_seen = now
        run.worker_hostname = hostname
        run.worker_id = f"{EXTERNAL}:{hostname}"
        return run

    def check_in_external(self, session: Session, run: Run) -> Run:
        """An external worker says it is alive: the sweeper leaves the run alone a while."""
        self._require_external(run)
        run.last_seen = utcnow()
        return run

    def report_external(
        self,
        session: Session,
        run: Run,
        *,
        rows_written: int,
        rows_deleted: int,
        bytes_written: int,
        last_seen: dt.datetime | None = None,
    ) -> Run:
        """An external worker's counts (absolute, as Elastic's stats are); also a check-in."""
        self._require_external(run)
        run.rows_written, run.rows_deleted = rows_written, rows_deleted
        run.bytes_written = bytes_written
        run.last_seen = last_seen or utcnow()
        return run

    def fail_external(self, session: Session, run: Run, error: str) -> Run:
        """An external worker reports that the run failed: error, final."""
        self._require_external(run)
        transition(run, RunStatus.error)
        run.error = error
        self._close_tasks(session, run.id, TaskRunStatus.error)
        return run

    # --- worker side: each call is its own transaction ----------------------------------

    def claim(self, worker_id: str, hostname: str) -> ClaimedRun | None:
        """Take the most urgent runnable run, or None when there is none."""
        now = utcnow()
        with unit_of_work(self.factory) as session:
            run = session.scalars(
                select(Run)
                .where(Run.status.in_(CLAIMABLE), Run.scheduled_at <= now, Run.executor == CONVEYOR)
                .order_by(Run.priority.desc(), Run.scheduled_at, Run.created_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if run is None:
                return None
            resumed = run.status == RunStatus.suspended.value
            transition(run, RunStatus.in_progress)
            run.started_at = run.started_at or now
            run.last_seen = now
            run.worker_hostname = hostname
            run.worker_id = worker_id
            run.error = None if not resumed else run.error
            return ClaimedRun(
                id=run.id,
                job_id=run.job_id,
                workspace_id=run.workspace_id,
                attempt=run.attempt,
                max_attempts=run.max_attempts,
                job_type=run.job_type,
                task_ids=tuple(run.task_ids) if run.task_ids is not None else None,
                resumed=resumed,
            )

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
                self._close_tasks(session, run.id, TaskRunStatus.canceled)
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

    @staticmethod
    def _requeue(run: Run, error: str | None) -> None:
        """Put a failed attempt back in the queue for a later attempt (internal move)."""
        run.status = RunStatus.pending.value
        run.scheduled_at = utcnow() + dt.timedelta(seconds=backoff_seconds(run.attempt))
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
                self._close_tasks(session, run.id, TaskRunStatus.error)
                recovered.append(run.id)
        return recovered

    # --- helpers -------------------------------------------------------------------------

    @staticmethod
    def _store_tasks(session: Session, run: Run, tasks: Iterable[TaskResult]) -> None:
        by_task = {row.task_id: row for row in run.task_results}
        done = 0
        for result in tasks:
            row = by_task.get(result.task_id)
            if row is None:
                continue
            row.status = result.status.value
            row.table_name = result.table or row.table_name
            row.rows_read, row.rows_written = result.rows_read, result.rows_written
            row.rows_deleted, row.error = result.rows_deleted, result.error
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
        run.bytes_written = sum(r.bytes_written for r in run.task_results)

    @staticmethod
    def _close_tasks(session: Session, run_id: str, status: TaskRunStatus) -> None:
        session.execute(
            update(RunTask)
            .where(
                RunTask.run_id == run_id,
                RunTask.status.in_((TaskRunStatus.pending.value, TaskRunStatus.running.value)),
            )
            .values(status=status.value, completed_at=utcnow())
        )
