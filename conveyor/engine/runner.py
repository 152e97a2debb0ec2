"""The run lifecycle: open both ends, run each task, close — one readable function.

Each kind of exception maps to exactly one final status:

    RunCanceled      → canceled
    RunSuspended     → suspended (the worker is shutting down; the run resumes later)
    ConveyorError    → error, retried when the error class says it is transient
    anything else    → error, retried (an unexpected failure is assumed transient)
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from conveyor.connectors.base import Connector, Readable, Writable
from conveyor.connectors.registry import open_connector
from conveyor.crypto import REDACTOR
from conveyor.domain import RunStatus, TaskRunStatus, utcnow
from conveyor.engine.modes import TaskContext, full_refresh
from conveyor.engine.planner import plan_task
from conveyor.engine.reporting import (
    CancelToken,
    Reporter,
    RunOutcome,
    TaskResult,
    raise_if_canceled,
)
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from conveyor.errors import ConfigurationError, ConveyorError, RunCanceled, RunSuspended

Opener = Callable[[str, dict[str, Any]], Connector]


def execute(
    spec: RunSpec,
    reporter: Reporter,
    cancel: CancelToken,
    opener: Opener = open_connector,
) -> RunOutcome:
    """Execute every task of a run and say how it ended; never raises."""
    results = [TaskResult(task.id, task.position) for task in spec.tasks]
    try:
        raise_if_canceled(cancel)
        with (
            _open(spec.source, "source", opener) as source,
            _open(spec.destination, "destination", opener) as destination,
        ):
            readable = _require(source, Readable, "source", "read")
            writable = _require(destination, Writable, "destination", "write")
            for task, result in zip(spec.tasks, results, strict=True):
                raise_if_canceled(cancel)
                ctx = TaskContext(spec.run_id, readable, writable, reporter, cancel, result)
                _run_task(ctx, task, spec)
        failed = [r for r in results if r.status is TaskRunStatus.error]
        if failed:
            summary = "; ".join(f"task {r.position}: {r.error}" for r in failed)
            return RunOutcome(
                RunStatus.error,
                f"{len(failed)} of {len(results)} tasks failed: {summary}",
                tasks=results,
            )
        reporter.log(
            "info", f"run completed: {sum(r.rows_written for r in results):,} rows written"
        )
        return RunOutcome(RunStatus.completed, tasks=results)
    except RunCanceled:
        _close_open_tasks(results, TaskRunStatus.canceled, reporter)
        reporter.log("warning", "run canceled")
        return RunOutcome(RunStatus.canceled, tasks=results)
    except RunSuspended as exc:
        _close_open_tasks(results, TaskRunStatus.pending, reporter)
        return RunOutcome(RunStatus.suspended, exc.message, retryable=True, tasks=results)
    except ConveyorError as exc:
        message = REDACTOR.redact(exc.message)
        reporter.log("error", message)
        return RunOutcome(RunStatus.error, message, exc.retryable, results)
    except Exception as exc:
        message = REDACTOR.redact(f"{type(exc).__name__}: {exc}")
        reporter.log("error", f"unexpected failure: {message}")
        reporter.log("debug", REDACTOR.redact(traceback.format_exc()))
        return RunOutcome(RunStatus.error, message, retryable=True, tasks=results)


def _run_task(ctx: TaskContext, task: TaskSpec, spec: RunSpec) -> None:
    """Run one task; its failure fails the run unless continue_on_error is set."""
    result = ctx.result
    result.status = TaskRunStatus.running
    result.started_at = utcnow()
    try:
        plan = plan_task(task, spec.settings)
        result.table = str(plan.target)
        ctx.reporter.task_update(result)
        ctx.reporter.log("info", f"task {task.position}: {task.query}", task.id)
        full_refresh(ctx, plan)
    except (RunCanceled, RunSuspended):
        raise
    except Exception as exc:
        result.status = TaskRunStatus.error
        result.error = REDACTOR.redact(
            exc.message if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"
        )
        result.completed_at = utcnow()
        ctx.reporter.task_update(result)
        ctx.reporter.log("error", f"task {task.position} failed: {result.error}", task.id)
        if not spec.settings.continue_on_error:
            raise
        return
    result.status = TaskRunStatus.completed
    result.completed_at = utcnow()
    ctx.reporter.task_update(result)


def _close_open_tasks(results: list[TaskResult], status: TaskRunStatus, reporter: Reporter) -> None:
    for result in results:
        if result.status in (TaskRunStatus.running, TaskRunStatus.pending):
            result.status = status
            result.completed_at = utcnow()
            reporter.task_update(result)


@contextlib.contextmanager
def _open(endpoint: Endpoint | None, role: str, opener: Opener) -> Iterator[Connector]:
    if endpoint is None:
        raise ConfigurationError(f"the job has no {role} connection")
    connector = opener(endpoint.url, endpoint.options)
    try:
        yield connector
    finally:
        with contextlib.suppress(Exception):
            connector.close()


def _require(connector: Connector, capability: type, role: str, verb: str) -> Any:
    if not isinstance(connector, capability):
        raise ConfigurationError(f"the {role} connection cannot {verb} tables")
    return connector
