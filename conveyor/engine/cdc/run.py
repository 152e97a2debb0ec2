"""A change data capture run: snapshot once, then apply the log in batches of whole
transactions, moving the log's position only after the destination committed.

    check the source (PostgreSQL: wal_level, REPLICATION, keys, publication — `pglog`;
        MySQL/MariaDB: log_bin, ROW format, FULL images, privileges, keys — `mysqllog`)
    no position yet, or job_type full → load every table through the full-load path
        inside a snapshot consistent with the log's starting position
    then, until the position current at the start (or, continuous, until canceled):
        peek whole transactions → fold per key → convert through the source → stage →
        one destination transaction → save each task's position → advance the log

A crash after the destination commit and before the slot moved repeats that batch,
which changes nothing: its rows are merged by key, its deletes find nothing left.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from conveyor.connectors.base import Readable, SqlExecutor, Writable
from conveyor.domain import RunLoad, TaskRunStatus, utcnow
from conveyor.engine.cdc.changelog import ChangeLog, position_order
from conveyor.engine.cdc.pglog import open_pg
from conveyor.engine.cdc.slot import Slot, names_for
from conveyor.engine.cdc.statements import problem
from conveyor.engine.cdc.stream import CdcTask, stream
from conveyor.engine.context import TaskContext
from conveyor.engine.planner import plan_task
from conveyor.engine.reporting import CancelToken, Reporter, TaskResult
from conveyor.engine.spec import RunSpec, TaskSpec
from conveyor.errors import ConfigurationError, ConveyorError, RunCanceled, RunSuspended

__all__ = ["follow"]


def follow(
    spec: RunSpec,
    results: list[TaskResult],
    reporter: Reporter,
    cancel: CancelToken,
    source: Readable,
    destination: Writable,
) -> None:
    """Run a change data capture job's tasks together: one log position, one stream."""
    from conveyor.connectors.mysql.connector import MySQLConnector
    from conveyor.connectors.postgres.session import PostgresSession

    if not isinstance(source, PostgresSession | MySQLConnector):
        raise ConfigurationError(
            "change data capture reads the log of PostgreSQL and MySQL/MariaDB sources only"
        )
    if not isinstance(destination, SqlExecutor | Readable):
        raise ConfigurationError(
            "change data capture needs a destination that runs SQL or can be read back"
        )
    settings = spec.settings.cdc_engine_settings
    name = names_for(spec.job_id, settings.name if settings else None)
    tasks = [
        _task(spec, t, r, reporter, cancel, source, destination)
        for t, r in zip(spec.tasks, results, strict=True)
    ]
    stored = _stored_position(tasks)
    try:
        _refuse_shared_targets(tasks)
        with contextlib.ExitStack() as held:
            log: ChangeLog
            if isinstance(source, PostgresSession):
                slot = Slot(source.conninfo(), name)
                held.callback(slot.close)
                continuous = bool(settings and settings.continuous)
                pg, keys = open_pg(
                    slot, spec.load, tasks, source, stored, reporter, cancel, continuous
                )
                held.callback(pg.close)
                log = pg
            else:
                from conveyor.engine.cdc.mysqlopen import open_mysql

                binlog = open_mysql(
                    source, name, spec.load, tasks, stored, reporter, cancel, spec.run_id
                )
                held.callback(binlog.close)
                log, keys = binlog, binlog.keys
            for task in tasks:
                _require_target(task)
            stream(
                log,
                tasks,
                keys,
                destination,
                reporter,
                cancel,
                bool(settings and settings.continuous),
                settings.flush_interval if settings else 1.0,
            )
    except (RunCanceled, RunSuspended):
        raise
    except Exception as exc:
        text = exc.message if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"
        for task in tasks:
            if task.result.status is TaskRunStatus.running:
                task.result.status, task.result.error = TaskRunStatus.error, text
                task.result.completed_at = utcnow()
                reporter.task_update(task.result)
        raise
    for task in tasks:
        task.result.status, task.result.completed_at = TaskRunStatus.completed, utcnow()
        reporter.task_update(task.result)


def _task(
    spec: RunSpec,
    task: TaskSpec,
    result: TaskResult,
    reporter: Reporter,
    cancel: CancelToken,
    source: Readable,
    destination: Writable,
) -> CdcTask:
    plan = plan_task(task, spec.settings)
    if (why := problem(plan.statement)) is not None:
        raise ConfigurationError(f"task {task.position}: {why}")
    result.status, result.started_at, result.table = (
        TaskRunStatus.running,
        utcnow(),
        str(plan.target),
    )
    reporter.task_update(result)
    ctx = TaskContext(
        run_id=spec.run_id,
        job_id=spec.job_id,
        load=RunLoad.full,
        job_type=spec.job_type,
        source=source,
        destination=destination,
        reporter=reporter,
        cancel=cancel,
        result=result,
        started=utcnow(),
        save=lambda state: reporter.save_state(task.id, state),
    )
    return CdcTask(task, result, plan, ctx)


def _refuse_shared_targets(tasks: Sequence[CdcTask]) -> None:
    """Tasks may follow one source table each into a table of its own; two writing one
    destination table would overwrite each other's rows."""
    seen: dict[str, int] = {}
    for task in tasks:
        target = str(task.plan.target)
        if target in seen:
            raise ConfigurationError(
                f"tasks {seen[target]} and {task.spec.position} both write {target}: each "
                "task of a change data capture job needs a destination table of its own"
            )
        seen[target] = task.spec.position


def _stored_position(tasks: Sequence[CdcTask]) -> str | None:
    """The position every task's destination committed up to (the least of them)."""
    found = [t.spec.state.get("cdc", {}).get("position") for t in tasks]
    if not found or any(p is None for p in found):
        return None
    return str(min(found, key=lambda p: position_order(str(p))))


def _require_target(task: CdcTask) -> None:
    if not task.ctx.destination.table_exists(task.plan.target):
        raise ConfigurationError(
            f"{task.plan.target} does not exist in the destination (a task added after the "
            "snapshot?): run the job with job_type full to load every table again"
        )
