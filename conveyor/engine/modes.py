"""How a planned task is loaded: the replication modes.

Full refresh: stream into a staging table, then swap it in atomically — a reader of the
destination sees the old table or the new one, never an empty or half-loaded one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from conveyor.connectors.base import Estimable, Readable, TableRef, TableSchema, Writable
from conveyor.engine.planner import TaskPlan
from conveyor.engine.reporting import CancelToken, Reporter, TaskResult, raise_if_canceled
from conveyor.engine.stream import copy_stream


@dataclass
class TaskContext:
    """What a mode needs: the open ends, the run it belongs to, and where to report."""

    run_id: str
    source: Readable
    destination: Writable
    reporter: Reporter
    cancel: CancelToken
    result: TaskResult

    def progress(self, rows: int, estimate: int | None) -> None:
        """Report rows moved so far for this task."""
        self.result.rows_read = rows
        self.result.rows_written = rows
        self.reporter.task_update(self.result, estimate)


def estimate(source: Readable, table: TableRef) -> int | None:
    """How many rows the source table holds, when the source can tell cheaply."""
    if isinstance(source, Estimable):
        with contextlib.suppress(Exception):
            return source.estimate_rows(table)
    return None


def full_refresh(ctx: TaskContext, plan: TaskPlan) -> None:
    """Copy everything the query returns into a fresh table and swap it in."""
    expected = estimate(ctx.source, plan.source_table)
    reader = ctx.source.read(plan.source_sql(ctx.source.dialect), plan.batch_rows)
    layout = TableSchema.from_arrow(reader.schema, plan.primary_key)
    staging = plan.staging(ctx.run_id)
    if plan.target.schema:
        ctx.destination.ensure_schema(plan.target.schema)
    ctx.destination.drop_table(staging)
    ctx.destination.create_table(staging, layout)
    try:
        stats = copy_stream(
            reader,
            ctx.destination,
            staging,
            ctx.cancel,
            on_progress=lambda rows: ctx.progress(rows, expected),
            batch_rows=plan.batch_rows,
        )
        raise_if_canceled(ctx.cancel)
        ctx.destination.replace_table(staging, plan.target)
    except BaseException:
        with contextlib.suppress(Exception):
            ctx.destination.drop_table(staging)
        raise
    ctx.result.rows_read = ctx.result.rows_written = stats.rows
    ctx.result.bytes_written = stats.bytes_written
    ctx.reporter.log("info", f"{plan.target}: replaced with {stats.rows:,} rows", plan.task.id)
