"""Runs: executions of jobs — start, watch, cancel, inspect, forget.

Starting a run enqueues it in the same transaction as whatever caused it; the worker
pool picks it up after commit. `build_spec` is what a worker calls to turn a claimed
run into the plain values the engine executes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conveyor.domain import (
    ACTIVE_STATUSES,
    RunJobType,
    RunStatus,
    TriggerMethod,
)
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.files import store as artifact_store
from conveyor.schemas.runs import ExecuteRequest, RunOut, RunStats, RunTaskOut
from conveyor.services import audit, jobs, listing
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, RunLog, RunTask, Task
from conveyor.store.session import unit_of_work

FIELDS = {
    "id": Run.id,
    "job_id": Run.job_id,
    "kind": Run.kind,
    "transformation_id": Run.transformation_id,
    "job_name": Run.job_name,
    "workspace_id": Run.workspace_id,
    "status": Run.status,
    "job_type": Run.job_type,
    "trigger_method": Run.trigger_method,
    "priority": Run.priority,
    "attempt": Run.attempt,
    "created_at": Run.created_at,
    "started_at": Run.started_at,
    "completed_at": Run.completed_at,
    "scheduled_at": Run.scheduled_at,
    "updated_at": Run.updated_at,
    "worker_hostname": Run.worker_hostname,
}
LOG_FIELDS = {"id": RunLog.id, "level": RunLog.level, "task_id": RunLog.task_id, "ts": RunLog.ts}


def get(ctx: Context, run_id: str) -> Run:
    """A visible run, or 404."""
    run = ctx.session.get(Run, run_id)
    if run is None or not ctx.principal.sees(run.workspace_id):
        raise NotFound(f"run {run_id} not found")
    return run


def list_(ctx: Context, query: Mapping[str, str], job_id: str | None = None) -> listing.Paged[Run]:
    """Visible runs, newest first by default."""
    params = listing.ListParams.parse(query)
    statement = select(Run)
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    if job_id is not None:
        statement = statement.where(Run.job_id == job_id)
    return listing.page(ctx.session, listing.apply(statement, params, FIELDS), params)


def execute(
    ctx: Context,
    job_id: str,
    request: ExecuteRequest,
    trigger: TriggerMethod = TriggerMethod.on_demand,
) -> Run:
    """Enqueue a run of a job; 409 naming the active run when the job already has one."""
    ctx.principal.require_write()
    job = jobs.get(ctx, job_id)
    run = enqueue(ctx, job, request.tasks, request.job_type, request.priority, trigger)
    audit.note(job.id, job.workspace_id)
    return run


def enqueue(
    ctx: Context,
    job: Job,
    task_ids: list[str] | None,
    job_type: RunJobType = RunJobType.incremental,
    priority: int | None = None,
    trigger: TriggerMethod = TriggerMethod.on_demand,
) -> Run:
    """Create a run of `job` (all active tasks, or the given ones) and queue it."""
    all_tasks = list(
        ctx.session.scalars(select(Task).where(Task.job_id == job.id).order_by(Task.position))
    )
    if task_ids:
        by_id = {t.id: t for t in all_tasks}
        unknown = [t for t in task_ids if t not in by_id]
        if unknown:
            raise InvalidInput(
                f"tasks not in job {job.name!r}: {', '.join(unknown)}", field="tasks"
            )
        chosen = [by_id[t] for t in dict.fromkeys(task_ids)]
    else:
        chosen = [t for t in all_tasks if t.is_active]
    if not chosen:
        raise InvalidInput(f"job {job.name!r} has no active tasks to run", field="tasks")
    run = Run(
        workspace_id=job.workspace_id,
        job_id=job.id,
        job_name=job.name,
        job_type=job_type.value,
        trigger_method=trigger.value,
        priority=job.priority if priority is None else priority,
        unicity=job.id,
        max_attempts=job.max_attempts,
        task_ids=[t.id for t in chosen] if task_ids else None,
        tasks_total=len(chosen),
        created_by=ctx.principal.user_id,
    )
    run.task_results = [
        RunTask(task_id=t.id, position=t.position, query=t.query, table_name=t.table_name)
        for t in chosen
    ]
    return ctx.queue.enqueue(ctx.session, run)


def cancel(ctx: Context, run_id: str) -> Run:
    """Cancel a run: a waiting one at once, a running one within seconds; 409 when final."""
    ctx.principal.require_write()
    run = get(ctx, run_id)
    audit.note(run.id, run.workspace_id)
    return ctx.queue.request_cancel(ctx.session, run)


def active_run(ctx: Context, job: Job) -> Run | None:
    """The job's active run, if any."""
    return ctx.session.scalars(
        select(Run)
        .where(Run.job_id == job.id, Run.status.in_(ACTIVE_STATUSES))
        .order_by(Run.created_at.desc())
    ).first()


def cancel_job(ctx: Context, job_id: str) -> Run:
    """Cancel the job's active run; 409 when it has none."""
    ctx.principal.require_write()
    job = jobs.get(ctx, job_id)
    run = active_run(ctx, job)
    if run is None:
        raise Conflict(f"job {job.name!r} has no active run to cancel")
    audit.note(job.id, job.workspace_id)
    return ctx.queue.request_cancel(ctx.session, run)


def delete(ctx: Context, run_id: str) -> None:
    """Forget a finished run with its logs, results and files; 409 while it is active."""
    ctx.principal.require_write()
    run = get(ctx, run_id)
    if RunStatus(run.status) in ACTIVE_STATUSES:
        raise Conflict(f"run {run_id} is {run.status}; cancel it before deleting it")
    audit.note(run.id, run.workspace_id)
    ctx.session.delete(run)
    artifact_store.discard_after_commit(ctx.session, ctx.settings.files_dir, [run.id])


def logs(ctx: Context, run_id: str, query: Mapping[str, str]) -> listing.Paged[RunLog]:
    """A run's log lines in order; `?after=<id>` returns only newer lines (for tailing)."""
    run = get(ctx, run_id)
    params = listing.ListParams.parse(query, ignore=frozenset({"after"}))
    statement = select(RunLog).where(RunLog.run_id == run.id)
    if after := query.get("after"):
        try:
            statement = statement.where(RunLog.id > int(after))
        except ValueError:
            raise InvalidInput("after must be a log line id", field="after") from None
    return listing.page(ctx.session, listing.apply(statement, params, LOG_FIELDS, ("id",)), params)


def to_out(run: Run) -> RunOut:
    """The run as shown."""
    return RunOut.model_validate(
        {
            **{name: getattr(run, name) for name in RunOut.model_fields if hasattr(run, name)},
            "stats": RunStats.model_validate(run),
            "tasks": [RunTaskOut.model_validate(t) for t in run.task_results],
        }
    )


async def wait_until_final(factory: sessionmaker[Session], run_id: str, timeout: float) -> bool:
    """Poll until the run is final or `timeout` seconds passed; whether it is final."""
    import asyncio
    import time

    from starlette.concurrency import run_in_threadpool

    def status() -> str | None:
        with unit_of_work(factory) as session:
            return session.scalar(select(Run.status).where(Run.id == run_id))

    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        current = await run_in_threadpool(status)
        if current is None or RunStatus(current).is_final:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 1.5, 0.5)


def job_logs(ctx: Context, job_id: str, since: dt.datetime) -> list[tuple[Run, list[RunLog]]]:
    """The log lines of a job's runs created since `since`, oldest run first."""
    job = jobs.get(ctx, job_id)
    chosen = list(
        ctx.session.scalars(
            select(Run)
            .where(Run.job_id == job.id, Run.created_at >= since)
            .order_by(Run.created_at, Run.id)
        )
    )
    lines: dict[str, list[RunLog]] = {run.id: [] for run in chosen}
    if chosen:
        for line in ctx.session.scalars(
            select(RunLog).where(RunLog.run_id.in_(list(lines))).order_by(RunLog.id)
        ):
            lines[line.run_id].append(line)
    return [(run, lines[run.id]) for run in chosen]
