"""Applying a change data capture job's log: batches of whole transactions, then the
position saved and the log moved on, until the position current at the start (or, in
continuous mode, until the run is canceled). The log is any `ChangeLog` (a PostgreSQL
slot, a MySQL/MariaDB binlog): everything here is the same for both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.connectors.base import Writable
from conveyor.engine.cdc.changelog import ChangeLog, LogStatus
from conveyor.engine.cdc.changes import Batch
from conveyor.engine.cdc.prefetch import Reader
from conveyor.engine.cdc.sink import TableWork, apply_batch
from conveyor.engine.cdc.status import lag_seconds
from conveyor.engine.context import TaskContext
from conveyor.engine.planner import TaskPlan
from conveyor.engine.reporting import CancelToken, Reporter, TaskResult, raise_if_canceled
from conveyor.engine.spec import TaskSpec

__all__ = ["CdcTask", "save_position", "stream"]

CHANGES_PER_BATCH = 50_000
"""Changes read per batch (the last transaction is read whole, however large)."""
IDLE_WAIT = 0.1
"""Continuous mode: seconds between looks at a source with nothing new."""
STATUS_EVERY = 10.0
"""Continuous mode: seconds between two saves of the status while nothing changes."""


@dataclass
class CdcTask:
    """One task of a CDC run: its table, its plan, where it reports."""

    spec: TaskSpec
    result: TaskResult
    plan: TaskPlan
    ctx: TaskContext
    table: str = ""
    """The source table as `schema.name`."""


def save_position(
    task: CdcTask, state: dict[str, Any], position: str, **extra: Any
) -> dict[str, Any]:
    """Save the task's position (after the destination committed up to it), and show it."""
    new = {**state, "cdc": {**state.get("cdc", {}), "position": position, **extra}}
    task.ctx.save(new)
    shown = ("position", "lag_seconds", "retained_bytes")
    task.result.cdc = {k: new["cdc"][k] for k in shown if k in new["cdc"]}
    task.ctx.reporter.task_update(task.result)
    return new


def stream(
    log: ChangeLog,
    tasks: Sequence[CdcTask],
    keys: dict[str, tuple[str, ...]],
    destination: Writable,
    reporter: Reporter,
    cancel: CancelToken,
    continuous: bool,
    flush_interval: float,
) -> None:
    """Apply the log up to the position current now (or, continuous, until canceled)."""
    upto = log.current()
    by_table: dict[str, list[CdcTask]] = {}
    for each in tasks:  # two tasks may follow one table (columns, filters, targets of their own)
        by_table.setdefault(each.table, []).append(each)
    states = {t.spec.id: dict(t.spec.state) for t in tasks}
    last_commit = None
    shown = time.monotonic()
    reader = Reader(
        log,
        log.current if continuous else lambda: upto,
        keys,
        CHANGES_PER_BATCH,
        cancel,
        continuous,
    )
    try:
        while True:
            raise_if_canceled(cancel)
            batch = reader.next()
            if batch is None and not continuous:
                break
            if batch is None or batch.end_lsn is None:  # nothing new yet
                if continuous and time.monotonic() - shown > STATUS_EVERY:
                    _show_status(log, tasks, states, last_commit)  # caught up: lag 0
                    shown = time.monotonic()
                if not log.waits:  # a log that waits for changes itself has waited already
                    time.sleep(min(IDLE_WAIT, flush_interval))
                continue
            _apply(batch, by_table, log, destination, reporter)
            position = log.position_text(batch.end_lsn)
            lag = lag_seconds(batch.committed_at, caught_up=False)
            for task in tasks:
                states[task.spec.id] = save_position(
                    task, states[task.spec.id], position, lag_seconds=lag, **log.noted()
                )
            log.advance(batch.end_lsn)
            last_commit = batch.committed_at
            reporter.log("detail", f"{batch.transactions} transaction(s) applied up to {position}")
    finally:
        reader.close()
    log.settle()
    status = _show_status(log, tasks, states, last_commit)
    if status is not None:
        reporter.log(
            "info",
            f"change data capture at {status.position}: {status.retained_bytes:,} bytes of "
            f"{log.kind} retained for {log.name}",
        )


def _apply(
    batch: Batch,
    by_table: dict[str, list[CdcTask]],
    log: ChangeLog,
    destination: Writable,
    reporter: Reporter,
) -> None:
    """One batch's changes of the followed tables, in one destination transaction."""
    work = []
    for changes in batch.tables.values():
        relation = changes.relation
        for task in by_table.get(f"{relation.schema}.{relation.name}", []):
            work.append((task, changes, log.converter(task.plan, changes)))
    if not work:
        return
    assert batch.committed_at is not None
    applied = apply_batch(
        destination, [TableWork(t.ctx, t.plan, c, ch) for t, ch, c in work], batch.committed_at
    )
    for (task, changes, _), done in zip(work, applied, strict=True):
        task.result.rows_read += changes.inserted + changes.updated + changes.deleted
        task.result.rows_inserted += changes.inserted
        task.result.rows_updated += changes.updated
        task.result.rows_written += done.upserted
        task.result.rows_deleted += done.deleted
        reporter.task_update(task.result)


def _show_status(
    log: ChangeLog,
    tasks: Sequence[CdcTask],
    states: dict[str, dict[str, Any]],
    last_commit: Any,
) -> LogStatus | None:
    """Every change read is applied: save and show lag 0 and the log the source retains."""
    status = log.status()
    if status is None:
        return None
    for task in tasks:
        position = states[task.spec.id].get("cdc", {}).get("position") or status.position
        states[task.spec.id] = save_position(
            task,
            states[task.spec.id],
            position,
            lag_seconds=lag_seconds(last_commit, caught_up=True),
            retained_bytes=status.retained_bytes,
        )
    return status
