"""Applying staged rows to the target in one transaction: swap, merge, append or history.

Each destination gets the cheapest statement with the same result: an upsert where the
key can be matched without re-inserting rows, delete-then-insert where that is cheaper and
loses nothing, and schema changes (added and widened columns) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import pyarrow as pa

from conveyor.connectors import sql
from conveyor.connectors.base import (
    ColumnInfo,
    DeclaresTypes,
    Readable,
    SqlExecutor,
    TableRef,
    TableSchema,
    Writable,
)
from conveyor.domain import JobType
from conveyor.engine.context import TaskContext
from conveyor.engine.decide import Decision, Mode
from conveyor.engine.planner import TaskPlan
from conveyor.engine.rewrite import RewriteExecutor
from conveyor.engine.shape import Shape, wider
from conveyor.engine.sql import deletes, history, merge, schema
from conveyor.engine.sql.rows import insert_from
from conveyor.engine.target import Target, described
from conveyor.errors import CommandTimedOut, DataError


def refuse_repeated_keys(
    ctx: TaskContext, plan: TaskPlan, staging: TableRef, keys: Sequence[str]
) -> None:
    """Fail the load when staged rows repeat a key, where no constraint would catch it.

    Staged rows are merged from a table without a key (an index there costs more than
    this check). Repeats would otherwise be merged unpredictably: MERGE INTO and
    delete-then-insert keep both rows, ON DUPLICATE KEY and SQLite's ON CONFLICT let the
    last one win, history mode would open two active versions.
    """
    destination = ctx.destination
    if not keys or not isinstance(destination, Readable):
        return
    query = merge.duplicate_key(staging, keys, destination.dialect)
    repeated = destination.read(query, 1).read_all()
    if repeated.num_rows:
        value = ", ".join(f"{k} = {repeated.column(k)[0].as_py()!r}" for k in keys)
        raise DataError(
            f"{plan.target}: the key ({', '.join(keys)}) is not unique in the source rows"
            f" ({value} appears more than once)",
            table=str(plan.target),
        )


def sql_executor(
    ctx: TaskContext,
    plan: TaskPlan,
    helpers: list[TableRef],
    staging: TableRef,
    keys: tuple[str, ...],
) -> SqlExecutor:
    """The destination, or for one that cannot run SQL (files) a scratch DuckDB rewriting it."""
    if isinstance(ctx.destination, SqlExecutor):
        return ctx.destination
    return RewriteExecutor(ctx.destination, plan.target, helpers, staging, keys)


def apply(
    ctx: TaskContext,
    plan: TaskPlan,
    decision: Decision,
    shape: Shape,
    staging: TableRef,
    info: Target,
) -> None:
    """Make the staged rows part of the target, in one transaction."""
    destination, target = ctx.destination, plan.target
    if decision.mode is Mode.full and not (
        info.exists and plan.settings.truncate_table_data and not plan.settings.drop_table
    ):
        destination.replace_table(staging, target)
        info.exists, info.columns, info.unique_indexes = True, described(shape, decision), {}
        return
    executor, statements = apply_statements(ctx, plan, decision, shape, staging, info)
    try:
        execute_for(target, executor, statements)
    except DataError as exc:
        if decision.mode is not Mode.merge or exc.message.startswith(f"{target}:"):
            raise
        raise _merge_error(exc, target, decision.keys) from exc


def apply_statements(
    ctx: TaskContext,
    plan: TaskPlan,
    decision: Decision,
    shape: Shape,
    staging: TableRef,
    info: Target,
) -> tuple[SqlExecutor, list[str]]:
    """The statements (and where to run them) that merge, append or version the staged
    rows into an existing target, schema changes first: what `apply` runs in one
    transaction, and what change data capture runs together with other tables' changes."""
    destination, target = ctx.destination, plan.target
    keys = decision.keys
    executor = sql_executor(ctx, plan, [staging], staging, () if shape.history_now else keys)
    dialect = executor.dialect
    statements, columns = _schema_changes(ctx, plan, shape, dialect, info)
    truncate = plan.settings.truncate_table_data or decision.mode is Mode.full
    if truncate:
        statements.append(deletes.delete_all(target, dialect))
    if decision.mode is Mode.merge and not truncate:  # (into an emptied table: inserted)
        statements += merge.statements(
            staging,
            target,
            keys,
            columns,
            dialect,
            unique_key=_unique_key(destination, info, keys),
            target_columns=info.columns,
            other_unique=bool(info.unique_indexes),
            upsert=not isinstance(executor, RewriteExecutor),
        )
    elif decision.mode is Mode.history:
        compared = [c for c in shape.data_columns if c not in keys and c in columns]
        statements.append(
            history.close_changed(staging, target, keys, compared, ctx.started, dialect)
        )
        statements.append(history.insert_new_versions(staging, target, keys, columns, dialect))
    else:  # an append (replacing the window it reads again), or rows into the emptied table
        reread = decision.mode is Mode.append and decision.lower is not None and not truncate
        if reread and decision.check:
            statements.append(
                deletes.delete_window(
                    target, decision.check, decision.lower, decision.check_type, dialect
                )
            )
        statements.append(insert_from(staging, target, columns, dialect))
    return executor, statements


def execute_for(target: TableRef, executor: SqlExecutor, statements: Sequence[str]) -> list[int]:
    """Run statements changing `target` in one transaction; a statement stopped by
    `command_timeout` is reported as the target's (its text may name only helper tables)."""
    try:
        return executor.execute_in_transaction(statements)
    except CommandTimedOut as exc:
        if exc.message.startswith(f"{target}: "):
            raise
        raise CommandTimedOut(f"{target}: {exc.message}", **exc.extra) from exc


def _merge_error(exc: DataError, target: TableRef, keys: Sequence[str]) -> DataError:
    """A failed merge's error naming the user's table; a collision on a unique index also
    says why it is one (rows are matched by the merge key alone, never through another
    index — see `sql.merge`)."""
    message = f"{target}: {exc.message}"
    if any(word in exc.message.lower() for word in ("unique", "duplicate")):
        message += (
            f" (rows are merged by the key ({', '.join(keys)}) only: a row with a new key"
            " that repeats another row's value of a unique index is refused, never merged"
            " into that row)"
        )
    return DataError(message, table=str(target))


def _unique_key(destination: Writable, info: Target, keys: tuple[str, ...]) -> bool:
    """Whether the target has a unique constraint on exactly `keys` (its primary key)."""
    return bool(getattr(destination, "enforces_keys", False)) and set(info.keys) == set(keys)


def _schema_changes(
    ctx: TaskContext, plan: TaskPlan, shape: Shape, dialect: str, info: Target
) -> tuple[list[str], list[str]]:
    """ALTER statements that let the target hold the staged columns, and the columns to insert.

    Added and widened columns are declared in the destination's own types (see
    `DeclaresTypes`). A reverse ETL target is an application's table: its schema is the
    application's, so it is never altered — columns it lacks are left out, and the database
    converts values to its column types on insert.
    """
    existing = info.columns
    alter = plan.settings.alter_schema and ctx.job_type != JobType.reverse_etl.value
    # A key the destination keeps only in metadata (DuckDB's comment) alters like any column.
    enforced = bool(getattr(ctx.destination, "enforces_keys", False))
    type_sql = _type_sql(ctx.destination, dialect)
    statements: list[str] = []
    columns: list[str] = []
    rebuild = False
    for column in shape.schema:
        current = existing.get(column.name)
        if current is None:
            if not alter:
                continue
            statements.append(
                schema.add_column(plan.target, column.name, type_sql(column.type, False), dialect)
            )
            ctx.log(f"{plan.target}: new column {column.name} ({column.type})")
            existing[column.name] = ColumnInfo(column.name, column.type)
        elif alter and (widened := wider(column.type, current.type)) is not None:
            key = current.primary_key and enforced
            change = schema.widen_column(
                plan.target, column.name, type_sql(widened, key), dialect, key=key
            )
            statements.extend([change] if change else [])
            rebuild = rebuild or change is None
            ctx.log(f"{plan.target}: column {column.name} widened to {widened}")
            existing[column.name] = replace(current, type=widened, declared=None)
        columns.append(column.name)
    if rebuild:  # the column cannot be altered in place: copy into a table declared anew
        layout = TableSchema(list(existing.values()), info.keys if enforced else ())
        statements.extend(schema.rebuild(plan.target, layout, dialect, type_sql))
    return statements, columns


def _type_sql(destination: Writable, dialect: str) -> Callable[[pa.DataType, bool], str]:
    """How the destination declares a column of an Arrow type in `dialect`."""
    if isinstance(destination, DeclaresTypes) and destination.dialect == dialect:
        return destination.type_sql
    return lambda arrow_type, key: sql.column_type(arrow_type, dialect, key=key)
