"""Applying a folded batch to the destination: every table's changes in one transaction.

Per table, in this order: a TRUNCATE seen in the batch (delete, flag or end every row),
the deleted keys (as `deletion_behavior` says), then the upserted rows, merged — or, in
history mode, versioned with the source's commit time — by the engine's own statements
(`apply_statements`, the incremental path's). Rows are staged first, outside the
transaction; the statements of all tables then commit together, so a source transaction
touching two tables is never half applied.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import SqlExecutor, TableRef, TableSchema, Writable
from conveyor.domain import DeletionBehavior
from conveyor.engine.apply import apply_statements, execute_for
from conveyor.engine.cdc.carry import carry_unchanged
from conveyor.engine.cdc.changelog import RowConverter
from conveyor.engine.cdc.changes import Row, TableChanges
from conveyor.engine.cdc.convert import split
from conveyor.engine.cdc.pgoutput import UNCHANGED
from conveyor.engine.context import TaskContext
from conveyor.engine.decide import Decision, Mode
from conveyor.engine.planner import TaskPlan
from conveyor.engine.rewrite import RewriteExecutor
from conveyor.engine.shape import Shape
from conveyor.engine.sql.deletes import DELETED, delete_all
from conveyor.engine.sql.history import ACTIVE, END
from conveyor.engine.sql.rows import STAGED, update
from conveyor.engine.sql.values import literal
from conveyor.engine.stream import copy_stream
from conveyor.engine.target import Target, target_columns, target_unique_indexes

__all__ = ["Applied", "TableWork", "apply_batch"]

ROWS_PER_QUERY = 20_000
"""Changed rows converted by one query on the source (its text stays some MB; fewer,
larger queries pay the per-query description and planning less often)."""


@dataclass
class TableWork:
    """One task's table in a batch: its plan, its context, its converter and changes."""

    ctx: TaskContext
    plan: TaskPlan
    converter: RowConverter
    changes: TableChanges


@dataclass
class Applied:
    """What a batch did to one table (for the run's counts)."""

    upserted: int = 0
    deleted: int = 0


@dataclass
class _Staged:
    statements: list[str] = field(default_factory=list)
    helpers: list[TableRef] = field(default_factory=list)


def apply_batch(
    destination: Writable, work: Sequence[TableWork], committed_at: dt.datetime
) -> list[Applied]:
    """Stage every table's rows, then run all tables' statements in one transaction
    (files: each table's file rewritten whole, one after the other)."""
    everything = _Staged()
    results: list[Applied] = []
    try:
        per_table: list[tuple[TableWork, _Staged]] = []
        for item in work:
            staged = _Staged()
            results.append(_table(item, staged, committed_at))
            everything.helpers += staged.helpers
            everything.statements += staged.statements
            per_table.append((item, staged))
        if isinstance(destination, SqlExecutor):
            if everything.statements:
                target = work[0].plan.target if len(work) == 1 else TableRef("the job's tables")
                execute_for(target, destination, everything.statements)
        else:
            for item, staged in per_table:
                if staged.statements:
                    _rewrite(destination, item, staged)
    finally:
        for helper in everything.helpers:
            with contextlib.suppress(Exception):
                work[0].ctx.destination.drop_table(helper)
    return results


def _rewrite(destination: Writable, item: TableWork, staged: _Staged) -> None:
    """Apply one table's statements to a destination that cannot run SQL (files): in a
    scratch DuckDB, the target's file then replaced whole — as incremental jobs merge."""
    names = item.converter.key_names()
    keys = () if item.plan.settings.history_mode else tuple(names[k] for k in item.converter.keys)
    rewrite = RewriteExecutor(
        destination,
        item.plan.target,
        staged.helpers,
        item.plan.staging(item.ctx.job_id, item.ctx.run_id, "cdcrw"),
        keys,
    )
    execute_for(item.plan.target, rewrite, staged.statements)


def _unchanged(row: Row, columns: Iterable[str]) -> frozenset[str]:
    """The table's columns the row does not carry: TOASTed values left unchanged, and
    columns added after the change was made (an earlier Relation message)."""
    return frozenset(c for c in columns if row.get(c, UNCHANGED) is UNCHANGED)


def _table(item: TableWork, staged: _Staged, committed_at: dt.datetime) -> Applied:
    ctx, plan, changes = replace(item.ctx, started=committed_at), item.plan, item.changes
    settings = plan.settings
    keys = tuple(item.converter.key_names()[k] for k in item.converter.keys)
    history = settings.history_mode
    dialect = ctx.destination.dialect
    behavior = settings.deletion_behavior
    applied = Applied()
    if changes.truncated and behavior is not DeletionBehavior.skip_delete:
        staged.statements.append(
            _gone(plan.target, None, keys, behavior, history, committed_at, dialect)
        )
    groups: dict[frozenset[str], list[Row]] = {}
    columns = list(changes.columns())
    for row in changes.upserts.values():
        groups.setdefault(_unchanged(row, columns), []).append(row)
    upserts: list[pa.Table] = []
    gone: list[pa.Table] = []
    exists = ctx.destination.table_exists(plan.target)
    columns_now = target_columns(ctx.destination, plan.target) if exists else {}
    for lacking, rows in groups.items():
        for start in range(0, len(rows), ROWS_PER_QUERY):
            converted = item.converter.rows(rows[start : start + ROWS_PER_QUERY])
            kept, left = split(converted, keys)
            if history and lacking and exists:  # a new version is whole
                kept = carry_unchanged(ctx.destination, plan.target, list(columns_now), kept, keys)
            upserts.append(kept)
            gone.append(left)
    deleted = list(changes.deletes.values())
    for start in range(0, len(deleted), ROWS_PER_QUERY):
        gone.append(item.converter.deleted_keys(deleted[start : start + ROWS_PER_QUERY]))
    gone = [g for g in gone if g.num_rows]
    if gone and behavior is not DeletionBehavior.skip_delete:
        keys_table = plan.staging(ctx.job_id, ctx.run_id, "cdckeys")
        schema = gone[0].schema
        _stage(
            ctx, plan, keys_table, pa.concat_tables([g.cast(schema) for g in gone]), None, staged
        )
        staged.statements.append(
            _gone(
                plan.target,
                keys_table,
                keys,
                behavior,
                history,
                committed_at,
                dialect,
                null_safe=changes.relation.replica_identity == "f",
            )
        )
        applied.deleted = sum(g.num_rows for g in gone)
    info = Target(
        exists,
        columns_now,
        target_unique_indexes(ctx.destination, plan.target) if exists else {},
    )
    decision = Decision(
        Mode.history if history else Mode.merge, keys, None, None, None, False, False
    )
    for number, rows_table in enumerate(t for t in upserts if t.num_rows):
        shape = Shape(
            rows_table.schema,
            gmt=settings.use_gmt_datetime,
            soft_delete=behavior is DeletionBehavior.soft_delete and not history,
            history_now=committed_at if history else None,
        )
        staging = plan.staging(ctx.job_id, ctx.run_id, f"cdc{number}")
        _stage(ctx, plan, staging, rows_table, shape, staged, _nullable(shape))
        _, statements = apply_statements(ctx, plan, decision, shape, staging, info)
        staged.statements += statements
        applied.upserted += rows_table.num_rows
    return applied


def _nullable(shape: Shape) -> TableSchema:
    """The staging table of changed rows: no constraint (a REPLICA IDENTITY FULL key, every
    column, may hold NULLs)."""
    return TableSchema.from_arrow(pa.schema([f.with_nullable(True) for f in shape.schema]))


def _stage(
    ctx: TaskContext,
    plan: TaskPlan,
    table: TableRef,
    rows: pa.Table,
    shape: Shape | None,
    staged: _Staged,
    layout: TableSchema | None = None,
) -> None:
    """Write rows into a fresh helper table (dropped once the batch is applied)."""
    destination = ctx.destination
    destination.drop_table(table)
    staged.helpers.append(table)
    destination.create_table(table, layout or TableSchema.from_arrow(rows.schema))
    copy_stream(
        [pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches())],
        destination,
        table,
        ctx.cancel,
        on_progress=lambda _: None,
        batch_rows=plan.batch_rows,
        transform=shape.transform if shape is not None else None,
        schema=shape.schema if shape is not None else None,
        command_timeout=plan.settings.command_timeout,
    )


def _gone(
    target: TableRef,
    keys_table: TableRef | None,
    keys: Sequence[str],
    behavior: DeletionBehavior,
    history: bool,
    at: dt.datetime,
    dialect: str,
    null_safe: bool = False,
) -> str:
    """Delete, flag or end the target rows whose key is staged (every row: None)."""
    which: exp.Expr = exp.true()
    if keys_table is not None:
        # NULL-safe under REPLICA IDENTITY FULL, where every column is the key, NULLs
        # included; a real key never holds one, and `=` lets the server use its index.
        equal = exp.NullSafeEQ if null_safe else exp.EQ
        same = exp.and_(
            *(equal(this=sql.column(k, target), expression=sql.column(k, STAGED)) for k in keys)
        )
        matched = exp.select("1").from_(sql.table_expr(keys_table, STAGED)).where(same)
        which = exp.Exists(this=matched)
    if history:
        active = exp.EQ(this=sql.column(ACTIVE, target), expression=exp.true())
        values = {ACTIVE: exp.false(), END: literal(at, dialect)}
        return update(target, values, exp.and_(active, which), dialect)
    if behavior is DeletionBehavior.soft_delete:
        return update(target, {DELETED: exp.true()}, which, dialect)
    if keys_table is None:
        return delete_all(target, dialect)
    return exp.delete(sql.table_expr(target), where=which).sql(dialect=dialect)
