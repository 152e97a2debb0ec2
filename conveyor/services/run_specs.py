"""The worker's side of runs: a claimed run turned into the plain values the engine executes.

A worker claims a run by id (`ClaimedRun`); `build_spec` reads the run's job (or
transformation), tasks, cursors and connections in a short transaction of its own and
returns a `RunSpec`, an immutable value that needs no session afterwards. It is the only
service a worker calls before executing (through `queue.hooks.RunHooks`, which the
runtime implements), so it lives apart from the request services of `runs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from conveyor.domain import EngineSettings, JobEvent, RunLoad, TaskRunStatus
from conveyor.engine.spec import RunSpec, TaskSpec
from conveyor.errors import ConfigurationError
from conveyor.queue.manager import ClaimedRun
from conveyor.services import connections, jobs, reach
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, Task, TaskState, Transformation


def build_spec(ctx: Context, claimed: ClaimedRun) -> RunSpec:
    """What a claimed run executes: its job's (or transformation's) tasks, cursors and
    connections, read on `ctx` (the system's, in a transaction of its own)."""
    session = ctx.session
    run = session.get(Run, claimed.id)
    if run is not None and run.kind == "transformation":
        return _transformation_spec(ctx, run)
    job = session.get(Job, claimed.job_id) if claimed.job_id else None
    if run is None or job is None:
        raise ConfigurationError(f"run {claimed.id} or its job no longer exists")
    # A resumed run (its worker shut down) skips the tasks it had already completed.
    pending = [
        r
        for r in run.task_results
        if not (claimed.resumed and r.status == TaskRunStatus.completed.value)
    ]
    task_ids = [r.task_id for r in pending]
    tasks = {t.id: t for t in session.scalars(select(Task).where(Task.id.in_(task_ids)))}
    states = {
        s.task_id: s.state
        for s in session.scalars(select(TaskState).where(TaskState.task_id.in_(task_ids)))
    }
    specs = tuple(
        TaskSpec(
            id=r.task_id,
            position=r.position,
            query=tasks[r.task_id].query if r.task_id in tasks else r.query,
            state=states.get(r.task_id, {}),
        )
        for r in pending
    )
    source = connections.get(ctx, job.source_connection_id) if job.source_connection_id else None
    destination = (
        connections.get(ctx, job.destination_connection_id)
        if job.destination_connection_id
        else None
    )
    return RunSpec(
        run_id=run.id,
        job_id=job.id,
        job_name=job.name,
        job_type=job.type,
        load=RunLoad(run.load),
        settings=jobs.engine_settings(job),
        source=connections.endpoint(ctx, source) if source else None,
        destination=connections.endpoint(ctx, destination) if destination else None,
        tasks=specs,
        attempt=run.attempt,
        export_format=run.export_format or job.export_format,
        artifacts_dir=str(Path(ctx.settings.files_dir) / run.id),
        resumed=claimed.resumed,
        pre_job_event=_event(job.notifications.get("pre_job_event")),
        event_reach=reach.for_job_events(ctx, job),
    )


def _event(stored: dict[str, Any] | None) -> JobEvent | None:
    """A job's stored event hook (validated when the job was written)."""
    return JobEvent.model_validate(stored) if stored else None


def _transformation_spec(ctx: Context, run: Run) -> RunSpec:
    item = ctx.session.get(Transformation, run.transformation_id) if run.transformation_id else None
    if item is None:
        raise ConfigurationError(f"the transformation of run {run.id} no longer exists")
    return RunSpec(
        run_id=run.id,
        job_id=item.id,
        job_name=item.name,
        job_type="transformation",
        load=RunLoad.full,
        settings=EngineSettings.model_validate(
            {k: v for k, v in item.settings.items() if k in EngineSettings.model_fields}
        ),
        source=None,
        destination=connections.endpoint(ctx, connections.get(ctx, item.connection_id)),
        tasks=tuple(
            TaskSpec(id=r.task_id, position=r.position, query=r.query) for r in run.task_results
        ),
        attempt=run.attempt,
        kind="transformation",
    )
