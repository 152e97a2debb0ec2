"""What loading one table works with: the open ends and run, the target as known, and
the SQL every step shares (the source query, bounded; one value of a query)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import (
    ColumnInfo,
    Readable,
    TableSchema,
    Writable,
)
from conveyor.domain import RunLoad
from conveyor.engine.decide import Decision
from conveyor.engine.planner import TaskPlan
from conveyor.engine.reporting import CancelToken, Reporter, TaskResult
from conveyor.engine.shape import Shape
from conveyor.engine.sql.values import compare


@dataclass
class Target:
    """What the engine knows of the destination table, kept current across windows."""

    exists: bool
    columns: dict[str, ColumnInfo]

    @property
    def keys(self) -> tuple[str, ...]:
        """The destination table's primary key."""
        return tuple(n for n, c in self.columns.items() if c.primary_key)


@dataclass
class TaskContext:
    """What loading one table needs: the open ends, the run, and where to report."""

    run_id: str
    load: RunLoad
    job_type: str
    source: Readable
    destination: Writable
    reporter: Reporter
    cancel: CancelToken
    result: TaskResult
    started: dt.datetime
    save: Callable[[dict[str, Any]], None]
    open_source: Callable[[], Readable] | None = None
    rows_before: int = field(default=0)

    def progress(self, rows: int, estimate: int | None) -> None:
        """Report rows moved so far for this task."""
        self.result.rows_read = self.result.rows_written = self.rows_before + rows
        self.reporter.task_update(self.result, estimate)

    def log(self, message: str, level: str = "info") -> None:
        """A log line for this task."""
        self.reporter.log(level, message, self.result.task_id)


def source_subquery(plan: TaskPlan) -> exp.Subquery:
    """The task's source query as a subquery, to filter, count or project without rewriting it."""
    return plan.statement.source_query().subquery("__conveyor_q")


def read_sql(plan: TaskPlan, dialect: str, decision: Decision, upper: Any = None) -> str:
    """The source query, restricted to [lower, upper) on the check column when bounded."""
    conditions = []
    if decision.check is not None and decision.lower is not None:
        column = exp.column(sql.identifier(decision.check))
        conditions.append(compare(column, ">=", decision.lower, decision.check_type, dialect))
    if decision.check is not None and upper is not None:
        column = exp.column(sql.identifier(decision.check))
        conditions.append(compare(column, "<", upper, decision.check_type, dialect))
    if not conditions:
        return plan.source_sql(dialect)
    return (
        exp.select("*")
        .from_(source_subquery(plan))
        .where(exp.and_(*conditions))
        .sql(dialect=dialect)
    )


def scalar(source: Readable, statement: str, arrow_type: pa.DataType | None = None) -> Any:
    """The single value a query returns, as `arrow_type` (SQLite aggregates come back as text)."""
    table = source.read(statement, 16).read_all()
    if not table.num_rows:
        return None
    values = table.column(0)
    if arrow_type is not None and values.type != arrow_type:
        values = values.cast(arrow_type)
    return values[0].as_py()


def table_layout(shape: Shape, decision: Decision) -> TableSchema:
    """The layout of a target the engine creates: keyed, except in history mode (one key
    has many versions there)."""
    keys = () if shape.history_now is not None else decision.keys
    return TableSchema.from_arrow(shape.schema, keys)
