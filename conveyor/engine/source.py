"""The source side of a load: what the query returns, and the reads that fetch its rows.

Every step of a load reads the source through the task's query as written — probed for
its columns, bounded by the check column to a window, counted, split into partitions —
so the query is wrapped as a subquery here rather than rewritten in each step.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import Discoverable, Estimable, Partitionable, Readable, TableRef
from conveyor.connectors.command_limit import abandon_after
from conveyor.engine.context import TaskContext
from conveyor.engine.decide import Decision, Mode
from conveyor.engine.planner import TaskPlan
from conveyor.engine.shape import with_declared_types
from conveyor.engine.sql.values import compare


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


def scalar(
    source: Readable,
    statement: str,
    arrow_type: pa.DataType | None = None,
    *,
    timeout: float | None = None,
) -> Any:
    """The single value a query returns, as `arrow_type` (SQLite aggregates come back as text).

    A count or a bound is a read, whose connection no statement limit covers: past
    `timeout` (`command_timeout`) seconds the run stops waiting for it and fails. It goes
    on, abandoned, on a connection of its own, until its end or the run process's."""
    table = abandon_after(
        timeout, lambda: source.read(statement, 16).read_all(), lambda: None, statement
    )
    if not table.num_rows:
        return None
    values = table.column(0)
    if arrow_type is not None and values.type != arrow_type:
        values = values.cast(arrow_type)
    return values[0].as_py()


def describe_source(ctx: TaskContext, plan: TaskPlan) -> tuple[pa.Schema, tuple[str, ...]]:
    """The query's columns and the source table's key, with as few round trips as possible.

    A plain table read is described by the catalog (one lookup gives columns and key);
    a SELECT is described by running it with LIMIT 0.
    """
    source = ctx.source
    discoverable = isinstance(source, Discoverable)
    if plan.statement.select is None and discoverable:
        with contextlib.suppress(Exception):
            columns = source.columns(plan.source_table)  # type: ignore[attr-defined]
            schema = pa.schema([c.field for c in columns])  # declared types, NOT NULL
            return schema, tuple(c.name for c in columns if c.primary_key)
    query = plan.statement.source_query().limit(0).sql(dialect=source.dialect)
    schema = open_read(source, query, 1, plan.settings.command_timeout).schema
    keys: tuple[str, ...] = ()
    if discoverable and _is_star(plan):
        with contextlib.suppress(Exception):
            columns = source.columns(plan.source_table)  # type: ignore[attr-defined]
            found = tuple(c.name for c in columns if c.primary_key)
            keys = found if all(k in schema.names for k in found) else ()
            schema = with_declared_types(schema, columns)
    return schema, keys


def _is_star(plan: TaskPlan) -> bool:
    select = plan.statement.select
    return select is not None and any(isinstance(e, exp.Star) for e in select.expressions)


def estimate(source: Readable, table: TableRef) -> int | None:
    """The source's guess of a table's rows (for progress), when it can guess cheaply."""
    if isinstance(source, Estimable):
        with contextlib.suppress(Exception):
            return source.estimate_rows(table)
    return None


def window_bounds(ctx: TaskContext, plan: TaskPlan, decision: Decision) -> tuple[Any, Any] | None:
    """The check column's range to load in windows (`replicate_interval`); None for one read."""
    if (
        plan.settings.replicate_interval is None
        or decision.check is None
        or decision.mode is Mode.full
    ):
        return None
    column = exp.column(sql.identifier(decision.check))
    subquery = source_subquery(plan)
    dialect = ctx.source.dialect
    stop = scalar(
        ctx.source,
        exp.select(exp.Max(this=column)).from_(subquery).sql(dialect=dialect),
        decision.check_type,
        timeout=plan.settings.command_timeout,
    )
    start = decision.lower
    if start is None:
        start = scalar(
            ctx.source,
            exp.select(exp.Min(this=column)).from_(subquery).sql(dialect=dialect),
            decision.check_type,
            timeout=plan.settings.command_timeout,
        )
    return (start, stop) if stop is not None else None


def statements(ctx: TaskContext, plan: TaskPlan, decision: Decision, upper: Any) -> list[str]:
    """The load's read: one query, or one per partition for a plain full read in parallel."""
    statement = read_sql(plan, ctx.source.dialect, decision, upper)
    plain = decision.lower is None and upper is None and plan.statement.select is None
    workers = plan.settings.worker_pool
    if (
        plain
        and workers > 1
        and isinstance(ctx.source, Partitionable)
        and ctx.open_source is not None
    ):
        parts = ctx.source.partitions(plan.source_table, statement, workers)
        if len(parts) > 1:
            ctx.log(f"{plan.source_table}: reading {len(parts)} partitions in parallel")
            return parts
    return [statement]


def readers(
    ctx: TaskContext, plan: TaskPlan, statements: list[str], opened: contextlib.ExitStack
) -> list[pa.RecordBatchReader]:
    """One reader, or one per partition (each on its own connection)."""
    timeout = plan.settings.command_timeout
    if len(statements) == 1 or ctx.open_source is None:
        return [open_read(ctx.source, statements[0], plan.batch_rows, timeout)]
    found = []
    for part in statements:
        connection = ctx.open_source()
        opened.callback(connection.close)  # type: ignore[attr-defined]
        found.append(open_read(connection, part, plan.batch_rows, timeout))
    return found


def open_read(
    source: Readable, statement: str, batch_rows: int, timeout: float | None
) -> pa.RecordBatchReader:
    """A read of `statement`, started within `timeout` (`command_timeout`) seconds.

    Starting a read plans or probes its query on a connection of the read's own, which
    no statement limit covers, and waits while another session locks the table; past
    the limit the run stops waiting and fails (the start goes on, abandoned, until it
    ends or the run process does). Its rows are then bounded between batches."""
    return abandon_after(
        timeout, lambda: source.read(statement, batch_rows), lambda: None, statement
    )
