"""What one task does, by job type: a table, every table (REPLICATE ALL), or a folder of files.

Each table is loaded by `replicate`; this module only finds the tables and keeps
each one's state apart inside the task's state.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from typing import Any

from conveyor.connectors.base import Discoverable, TableRef
from conveyor.domain import DeletionBehavior, JobType
from conveyor.engine.context import TaskContext
from conveyor.engine.decide import Mode
from conveyor.engine.planner import STAGING_PREFIX, plan_for_table, plan_statement, plan_task
from conveyor.engine.replicate import ReplicateStatement, parse
from conveyor.engine.spec import RunSpec, TaskSpec
from conveyor.engine.table_load import replicate
from conveyor.errors import ConfigurationError

INTERNAL_PREFIXES = (STAGING_PREFIX, "_conveyor_", "sqlite_")


def run_task(ctx: TaskContext, task: TaskSpec, spec: RunSpec) -> None:
    """Run one task of a replication job, saving its state as it goes."""
    statement = parse(task.query)
    if statement.replicate_all:
        _replicate_all(ctx, task, statement, spec)
    elif spec.job_type == JobType.load_folder.value:
        _load_folder(ctx, task, statement, spec)
    else:
        plan = plan_task(task, spec.settings)
        ctx.result.table = str(plan.target)
        ctx.reporter.task_update(ctx.result)
        replicate(ctx, plan, dict(task.state))


def _discoverable(ctx: TaskContext, what: str) -> Discoverable:
    if not isinstance(ctx.source, Discoverable):
        raise ConfigurationError(f"{what} needs a source that can list its tables")
    return ctx.source


def _replicate_all(
    ctx: TaskContext, task: TaskSpec, statement: ReplicateStatement, spec: RunSpec
) -> None:
    """Every table of the source's default schema but the excluded ones, new ones included.

    Only the default schema (PostgreSQL's current schema, the MySQL URL's database,
    DuckDB's main, a folder's own files): a table lands in the destination under its bare
    name, so tables of several schemas could collide there, and a MySQL login often sees
    every database of its server. Other schemas are replicated by naming their tables.
    """
    excluded = {name.lower() for name in statement.exclude_tables}
    tables = [
        info.ref
        for info in _discoverable(ctx, "REPLICATE ALL").list_tables()
        if info.ref.schema is None
        and info.ref.name.lower() not in excluded
        and not info.ref.name.startswith(INTERNAL_PREFIXES)
    ]
    ctx.result.table = f"{len(tables)} tables"
    ctx.log(f"REPLICATE ALL: {len(tables)} tables: {', '.join(str(t) for t in tables)}")
    states: dict[str, Any] = dict(task.state.get("tables", {}))
    for table in tables:
        key = str(table)

        def save(state: dict[str, Any], key: str = key) -> None:
            states[key] = state
            ctx.save({"tables": dict(states)})

        plan = plan_for_table(task, statement, table, spec.settings)
        table_ctx = _with_saver(ctx, save)
        replicate(table_ctx, plan, dict(states.get(key, {})))
        ctx.rows_before = table_ctx.rows_before


def _with_saver(ctx: TaskContext, save: Any) -> TaskContext:
    return replace(ctx, save=save)


def _load_folder(
    ctx: TaskContext, task: TaskSpec, statement: ReplicateStatement, spec: RunSpec
) -> None:
    """Each file of the folder matching the statement's source name, loaded once, in name order.

    `REPLICATE [sales]` loads every file; `REPLICATE [sales] SELECT * FROM [sales_*]`
    loads the files whose name (without extension) matches the pattern.
    """
    assert statement.target is not None and statement.source_table is not None
    pattern = statement.source_table.name if statement.select is not None else "*"
    loaded: list[str] = list(task.state.get("loaded_files", []))
    files = sorted(
        info.ref.name
        for info in _discoverable(ctx, "a load_folder job").list_tables()
        if fnmatch.fnmatchcase(info.ref.name, pattern)
        and not info.ref.name.startswith(INTERNAL_PREFIXES)
    )
    fresh = [name for name in files if name not in loaded]
    ctx.result.table = statement.target.name
    ctx.log(f"load_folder: {len(fresh)} new of {len(files)} files matching {pattern!r}")
    settings = spec.settings.model_copy(
        update={
            "deletion_behavior": DeletionBehavior.skip_delete,
            "incremental_check_columns": [],
        }
    )
    for name in fresh:
        single = ReplicateStatement(
            text=f"REPLICATE {statement.target.name}",
            target=statement.target,
            columns=statement.columns,
            primary_key=statement.primary_key,
            options=statement.options,
            source_table=TableRef(name),
        )
        plan = plan_statement(task, single, settings)
        exists = ctx.destination.table_exists(plan.target)
        force = Mode.full if not exists else (Mode.merge if plan.primary_key else Mode.append)

        def save(_: dict[str, Any], name: str = name) -> None:
            loaded.append(name)
            ctx.save({"loaded_files": list(loaded)})

        file_ctx = _with_saver(ctx, save)
        replicate(file_ctx, plan, {}, force=force)
        ctx.rows_before = file_ctx.rows_before
