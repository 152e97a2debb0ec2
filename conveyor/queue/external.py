"""The queue SQL of external (self-managed) workers: claim, check in, report, fail.

Runs of self-managed Elastic connectors are executed outside Conveyor; their workers
report through the Elastic API, and these methods — part of `QueueManager` — apply
those reports inside the request's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from conveyor.domain import RunStatus, TaskRunStatus, utcnow
from conveyor.errors import Conflict
from conveyor.queue.states import transition
from conveyor.store import counters
from conveyor.store.models import Run, RunTask

EXTERNAL = "external"
"""The executor of runs claimed by self-managed workers through the Elastic API."""
EXTERNAL_SILENT = "The job has not seen any update for some time."


def close_tasks(session: Session, run_id: str, status: TaskRunStatus) -> None:
    """Mark the run's unfinished task results as `status`."""
    session.execute(
        update(RunTask)
        .where(
            RunTask.run_id == run_id,
            RunTask.status.in_((TaskRunStatus.pending.value, TaskRunStatus.running.value)),
        )
        .values(status=status.value, completed_at=utcnow())
    )


FinalHook = Callable[[Session, Run], None]
"""Called with each run that reached a final status, in the transaction that put it there."""


class ExternalRuns:
    """Queue operations for runs whose worker is not Conveyor's."""

    on_final: FinalHook | None = None
    """What follows a run's final status in the same transaction (a pipeline going on);
    set by the composition root, which knows the services the queue must not import."""

    def _ended(self, session: Session, run: Run) -> None:
        """Tell `on_final` that `run` reached a final status."""
        if self.on_final is not None:
            self.on_final(session, run)

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
        added_rows = rows_written - (run.rows_written or 0)
        added_bytes = bytes_written - (run.bytes_written or 0)
        run.rows_written, run.rows_deleted = rows_written, rows_deleted
        run.bytes_written = bytes_written
        counters.add(session, counters.ROWS_WRITTEN, added_rows)
        counters.add(session, counters.BYTES_WRITTEN, added_bytes)
        run.last_seen = last_seen or utcnow()
        return run

    def fail_external(self, session: Session, run: Run, error: str) -> Run:
        """An external worker reports that the run failed: error, final."""
        self._require_external(run)
        transition(run, RunStatus.error)
        run.error = error
        close_tasks(session, run.id, TaskRunStatus.error)
        self._ended(session, run)
        return run
