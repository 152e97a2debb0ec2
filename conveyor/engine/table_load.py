"""Loading one table: read, stage, apply the mode in one destination transaction, checkpoint.

    probe the query's schema → decide the mode → for each window:
        stream rows into a staging table → apply (swap, or merge/append/history SQL in one
        transaction, with deletes detected by key) → save the cursor

The cursor is saved only after the destination committed, so a crash anywhere repeats
at most one window and never leaves the cursor ahead of the data.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import Readable, SqlExecutor, TableRef, limit_commands
from conveyor.domain import DeletionBehavior, JobType
from conveyor.engine import cursor as cursors
from conveyor.engine import source
from conveyor.engine.apply import apply, refuse_repeated_keys
from conveyor.engine.context import TaskContext
from conveyor.engine.decide import Decision, Mode, decide
from conveyor.engine.deletes import SourceCount, sweep_deleted
from conveyor.engine.planner import TaskPlan
from conveyor.engine.relay import relay
from conveyor.engine.reporting import Stage, raise_if_canceled
from conveyor.engine.shape import Shape, declared_types, length_limit
from conveyor.engine.sql.values import compare
from conveyor.engine.stream import copy_stream
from conveyor.engine.target import (
    Target,
    described,
    staging_layout,
    table_layout,
    target_columns,
    target_unique_indexes,
)
from conveyor.engine.write_errors import named_for_user, renamed, writing

__all__ = ["replicate"]


def replicate(
    ctx: TaskContext, plan: TaskPlan, state: dict[str, Any], force: Mode | None = None
) -> dict[str, Any]:
    """Load one table as this run's mode (or `force`) says; return the task state to keep.

    Every statement on either end is bounded by the task's `command_timeout`; the row
    stream, by the gap between batches (`copy_stream`, `relay`)."""
    for end in (ctx.source, ctx.destination):
        limit_commands(end, plan.settings.command_timeout)
    schema, source_keys = source.describe_source(ctx, plan)
    declared = declared_types(plan.statement.columns)
    if declared:  # the statement's declared types say what a computed column holds
        schema = pa.schema(
            [pa.field(f.name, declared[f.name][0]) if f.name in declared else f for f in schema]
        )
    target_exists = ctx.destination.table_exists(plan.target)
    existing = target_columns(ctx.destination, plan.target) if target_exists else {}
    unique = target_unique_indexes(ctx.destination, plan.target) if target_exists else {}
    target = Target(target_exists, existing, unique)
    target_keys = target.keys
    if force is not None:
        decision = Decision(
            force,
            tuple(plan.primary_key),
            None,
            None,
            None,
            False,
            False,
            "each new file of the folder is loaded whole",
        )
    else:
        decision = decide(
            plan,
            schema,
            source_keys,
            target_exists,
            target_keys,
            state,
            ctx.load,
            ctx.job_type,
        )
    settings = plan.settings
    shape = Shape(
        schema,
        declared=declared,
        gmt=settings.use_gmt_datetime,
        soft_delete=settings.deletion_behavior is DeletionBehavior.soft_delete
        and bool(decision.keys)
        and not settings.history_mode,
        history_now=ctx.started if settings.history_mode else None,
    )
    if settings.auto_truncate_strings:
        limits = {n: limit for n, (_, limit) in shape.declared.items() if limit}
        limits.update(
            {
                n: lim
                for n, c in existing.items()
                if (lim := length_limit(c)) and n in shape.data_columns
            }
        )
        shape.truncate_to = limits
    ctx.log(_announced(plan, decision))
    if plan.target.schema:
        with writing(plan.target, ()):
            ctx.destination.ensure_schema(plan.target.schema)
    if decision.rebuild:
        with writing(plan.target, ()):
            decision, state = _rebuild(ctx, plan, decision, shape, state, target_exists)
        target = Target(True, described(shape, decision))
    expected = source.estimate(ctx.source, plan.source_table) if decision.lower is None else None
    highest = cursors.RunningMax(decision.check)
    bounds = source.window_bounds(ctx, plan, decision)
    windows = (
        list(cursors.windows(bounds[0], bounds[1], settings))
        if bounds
        else [cursors.Window(decision.lower, None)]
    )
    for number, window in enumerate(windows, 1):
        raise_if_canceled(ctx.cancel)
        lower = (
            cursors.later(window.start, highest.value)
            if decision.incremental or decision.rebuild
            else window.start
        )
        current = replace(decision, lower=lower)
        last = number == len(windows)
        counting = SourceCount(ctx, plan) if last and decision.detect_deletes else None
        try:
            _load(ctx, plan, current, shape, window.end, highest, expected, target, counting)
        finally:
            if counting is not None:
                counting.wait()  # never leave a query running on the source
        if counting is not None:
            keys = plan.staging(ctx.job_id, ctx.run_id, "keys")
            with named_for_user(plan.target, [keys]):
                sweep_deleted(ctx, plan, decision, shape, counting.result())
        state = _checkpoint(ctx, state, decision, highest, done=last)
        if len(windows) > 1:
            ctx.log(
                f"{plan.target}: window {number}/{len(windows)} committed (cursor {highest.value})"
            )
    return state


def _announced(plan: TaskPlan, decision: Decision) -> str:
    """The log line that opens a table's load: its mode, where it reads from, and why it
    reads every row when it does."""
    line = f"{plan.target}: {decision.mode.value} load"
    if decision.incremental:
        line += f" from {decision.check} ≥ {decision.lower}"
    elif decision.mode is not Mode.full:
        line += " of every row"
    if decision.reason:
        line += f", because {decision.reason}"
    if cursors.is_text(decision.check_type):
        line += f" ({decision.check} is text: compared as text)"
    return line


def _rebuild(
    ctx: TaskContext,
    plan: TaskPlan,
    decision: Decision,
    shape: Shape,
    state: dict[str, Any],
    exists: bool,
) -> tuple[Decision, dict[str, Any]]:
    """A first or full load in windows goes straight into a fresh target, resumably.

    The retry of the same run finds its own marker in the state and carries on from the
    last committed window instead of starting over.
    """
    if state.get("rebuilding") == ctx.run_id and exists:
        resumed_from = cursors.decode(state.get("cursor"))
        ctx.log(f"{plan.target}: resuming the load from {resumed_from}")
        return replace(decision, lower=cursors.later(decision.lower, resumed_from)), state
    if exists:
        ctx.destination.drop_table(plan.target)
    ctx.destination.create_table(plan.target, table_layout(shape, decision))
    return decision, {**state, "rebuilding": ctx.run_id}


def _checkpoint(
    ctx: TaskContext,
    state: dict[str, Any],
    decision: Decision,
    highest: cursors.RunningMax,
    done: bool,
) -> dict[str, Any]:
    new_state = dict(state)
    if decision.check is not None:
        new_state["check_column"] = decision.check
        if highest.value is not None:
            new_state["cursor"] = cursors.encode(highest.value)
            if cursors.is_text(decision.check_type) and not cursors.looks_iso(highest.value):
                ctx.log(
                    f"check column {decision.check} is compared as text, and its latest value "
                    f"{highest.value!r} is not ISO-8601: changes are found only if every "
                    "value is written in one form that sorts like time",
                    "warning",
                )
    else:
        new_state.pop("cursor", None)
        new_state.pop("check_column", None)
    if done:
        new_state.pop("rebuilding", None)
    ctx.save(new_state)
    ctx.stage(Stage.checkpointed)
    return new_state


def _keys_may_repeat(ctx: TaskContext, plan: TaskPlan, decision: Decision, shape: Shape) -> bool:
    """Whether staged rows could repeat the load's key with no constraint to refuse them.

    They cannot when the staging table is itself keyed (a full load into a destination
    that enforces keys), or when the rows are a plain read of a source table whose key the
    source enforces. A key declared with PRIMARY KEY(...), a reverse ETL target's key, or
    a key over a SELECT is only a claim about the rows.
    """
    if not decision.keys:
        return False
    enforced = bool(getattr(ctx.destination, "enforces_keys", False))
    if decision.mode is Mode.full and enforced and shape.history_now is None:
        return False
    if decision.mode is Mode.full and not isinstance(ctx.destination, SqlExecutor):
        return False  # a file written whole (an export among them) is not merged by key here
    from_source = (
        not plan.primary_key
        and plan.statement.select is None
        and ctx.job_type != JobType.reverse_etl.value
    )
    return not (from_source and getattr(ctx.source, "enforces_keys", False))


def _load(
    ctx: TaskContext,
    plan: TaskPlan,
    decision: Decision,
    shape: Shape,
    upper: Any,
    highest: cursors.RunningMax,
    expected: int | None,
    target: Target,
    counting: SourceCount | None = None,
) -> None:
    """Stream one window's rows into a staging table and apply them to the target; what
    fails names the user's table, never the staging one."""
    staging = plan.staging(ctx.job_id, ctx.run_id)
    helpers = (staging, plan.staging(ctx.job_id, ctx.run_id, "keys"))
    with named_for_user(plan.target, helpers):
        destination = ctx.destination
        with writing(plan.target, [staging]):
            destination.drop_table(staging)
        try:
            statements = source.statements(ctx, plan, decision, upper)
            for statement in statements:
                ctx.log(f"{plan.target}: reading {statement}", "detail")
            layout = staging_layout(shape, decision)
            moved = relay(ctx, plan, shape, layout, staging, statements, highest, expected)
            if moved is None:
                with contextlib.ExitStack() as opened:
                    readers = source.readers(ctx, plan, statements, opened)
                    # The query's own types win over the probe's (a computed column is only typed by its values).
                    shape.source = _merged_schema(shape.source, readers[0].schema)
                    with writing(plan.target, [staging]):
                        destination.create_table(staging, staging_layout(shape, decision))
                    moved = _stream(ctx, plan, shape, staging, readers, highest, expected)
            if _keys_may_repeat(ctx, plan, decision, shape):
                refuse_repeated_keys(ctx, plan, staging, decision.keys)
            if counting is not None:
                counting.start()  # the source is read: count it while the destination merges
            ctx.stage(Stage.staged)
            raise_if_canceled(ctx.cancel)
            reread = _rows_reread_at_cursor(ctx, plan, decision, staging, target.exists)
            ctx.stage(Stage.applying)
            with writing(plan.target, [staging]):
                apply(ctx, plan, decision, shape, staging, target)
            ctx.committed(moved - reread)
            ctx.stage(Stage.applied)
        finally:
            with contextlib.suppress(Exception):
                destination.drop_table(staging)
    ctx.rows_before += moved
    verbs = {
        Mode.full: "replaced with",
        Mode.merge: "merged",
        Mode.append: "appended",
        Mode.history: "versioned",
    }
    ctx.log(f"{plan.target}: {verbs[decision.mode]} {moved:,} rows")


def _rows_reread_at_cursor(
    ctx: TaskContext, plan: TaskPlan, decision: Decision, staging: TableRef, exists: bool
) -> int:
    """Staged rows that are only the rows at the stored cursor read again (the read is
    `check >= cursor`), and so are no writes: as many staged rows at the cursor as the
    target already holds there — a new row sharing the cursor's value still counts."""
    destination = ctx.destination
    if not (
        exists
        and decision.incremental
        and decision.check is not None
        and decision.lower is not None
        and isinstance(destination, Readable)
    ):
        return 0
    column = exp.column(sql.identifier(decision.check))
    dialect = destination.dialect
    at_cursor = exp.and_(
        compare(column, ">=", decision.lower, decision.check_type, dialect),
        compare(column.copy(), "<=", decision.lower, decision.check_type, dialect),
    )

    def count(table: TableRef) -> int:
        query = exp.select(exp.func("count", exp.Star())).from_(sql.table_expr(table))
        statement = query.where(at_cursor).sql(dialect=dialect)
        return int(
            source.scalar(destination, statement, timeout=plan.settings.command_timeout) or 0
        )

    try:
        return min(count(staging), count(plan.target))
    except Exception as exc:  # a count the destination cannot answer: every row counts
        reason = renamed(str(exc), plan.target, [staging])
        ctx.log(f"{plan.target}: rows at the cursor not counted ({reason})", "debug")
        return 0


def _merged_schema(probed: pa.Schema, actual: pa.Schema) -> pa.Schema:
    """The probed schema, with the types the data read reports where they are known.

    A column whose type the read confirms keeps what the probe knew of it (its declared
    type and NOT NULL, from the source's catalog).
    """
    if probed.names != actual.names:
        return actual
    fields = [
        p if a.type == p.type or pa.types.is_null(a.type) else a
        for p, a in zip(probed, actual, strict=True)
    ]
    return pa.schema(fields)


def _stream(
    ctx: TaskContext,
    plan: TaskPlan,
    shape: Shape,
    staging: TableRef,
    readers: list[pa.RecordBatchReader],
    highest: cursors.RunningMax,
    expected: int | None,
) -> int:
    def observe(batch: pa.RecordBatch) -> pa.RecordBatch:
        highest.update(batch)
        return shape.transform(batch)

    stats = copy_stream(
        readers,
        ctx.destination,
        staging,
        ctx.cancel,
        on_progress=lambda rows: ctx.progress(rows, expected),
        batch_rows=plan.batch_rows,
        transform=observe,
        schema=shape.schema,
        command_timeout=plan.settings.command_timeout,
    )
    ctx.result.bytes_written += stats.bytes_written
    return stats.rows
