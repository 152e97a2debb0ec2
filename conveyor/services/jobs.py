"""Jobs: what to copy, from where to where, when, and who hears of it.

A job's engine settings and notification settings are validated as one typed model
(`JobFields`); changing a job while one of its runs is active answers 409.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import bindparam, func, select

from conveyor.connectors.base import Capability
from conveyor.connectors.registry import resolve
from conveyor.domain import EngineSettings, JobType, Role, utcnow
from conveyor.errors import Conflict, InvalidInput
from conveyor.files import store as artifact_store
from conveyor.scheduler.cron import effective_since, first_fire_from
from conveyor.schemas.jobs import JobBrief, JobCreate, JobFields, JobOut, LastRun
from conveyor.services import (
    audit,
    cdc_jobs,
    check_columns,
    connections,
    freshness,
    idle,
    lookup,
    pipeline_steps,
    reach,
    row_models,
    tasks,
    workspaces,
)
from conveyor.services.context import Context, Principal, Units
from conveyor.store.models import Connection, Job, Run, Task

FIELDS = {
    "id": Job.id,
    "name": Job.name,
    "type": Job.type,
    "workspace_id": Job.workspace_id,
    "source_connection_id": Job.source_connection_id,
    "destination_connection_id": Job.destination_connection_id,
    "external_key": Job.external_key,
    "pipeline_id": Job.pipeline_id,
    "created_at": Job.created_at,
    "updated_at": Job.updated_at,
}
ENGINE_FIELDS = frozenset(EngineSettings.model_fields) - {"export_format"}  # its own column
NOTIFICATION_FIELDS = frozenset(
    {
        "send_email",
        "email_to",
        "email_subject",
        "email_error_only",
        "pre_job_event",
        "post_job_event",
    }
)


JOBS = lookup.Resource(Job, "job", FIELDS)
get, find, ref, list_, search = JOBS.get, JOBS.find, JOBS.ref, JOBS.list_, JOBS.search


def fields_of(job: Job) -> JobFields:
    """The job's stored definition as the typed model."""
    schedule = {"enabled": job.schedule_enabled, "cron": job.schedule_cron}
    return row_models.read(JobFields, job, job.settings, job.notifications, schedule=schedule)


def engine_settings(job: Job) -> EngineSettings:
    """The job's engine settings."""
    return EngineSettings.model_validate(job.settings)


EVENT_FIELDS = ("pre_job_event", "post_job_event")
"""Notification fields that make Conveyor connect somewhere: checked by the policy."""


def _check(ctx: Context, workspace_id: str, data: JobFields, job_id: str | None = None) -> None:
    if data.type is JobType.change_data_capture:
        cdc_jobs.check(ctx, data, job_id)
    for role, connection_id, needed in (
        ("source", data.source_connection_id, Capability.read),
        ("destination", data.destination_connection_id, Capability.write),
    ):
        if connection_id is None:
            continue
        connection = connections.CONNECTIONS.referenced(
            ctx, connection_id, f"{role}_connection_id", f"{role} connection"
        )
        if connection.workspace_id != workspace_id:
            raise InvalidInput(
                f"{role} connection {connection_id} is in another workspace",
                field=f"{role}_connection_id",
            )
        if needed not in resolve(connection.url).capabilities:
            raise InvalidInput(
                f"{role} connection {connection.name!r} cannot {needed.value}",
                field=f"{role}_connection_id",
            )
    if data.destination_connection_id is None and data.export_format is None:
        raise InvalidInput(
            "a job needs a destination_connection_id, or an export_format to write files",
            field="destination_connection_id",
        )
    clash = ctx.session.scalar(
        select(Job.id).where(Job.workspace_id == workspace_id, Job.name == data.name)
    )
    if clash is not None and clash != job_id:
        raise Conflict(f"a job named {data.name!r} already exists in this workspace")
    if data.external_key is not None:
        clash = ctx.session.scalar(select(Job.id).where(Job.external_key == data.external_key))
        if clash is not None and clash != job_id:
            raise Conflict(f"external_key {data.external_key!r} is used by another job")


def _store(job: Job, data: JobFields) -> None:
    dumped = data.model_dump(mode="json")
    job.name, job.type = data.name, data.type.value
    job.source_connection_id = data.source_connection_id
    job.destination_connection_id = data.destination_connection_id
    job.settings = {k: v for k, v in dumped.items() if k in ENGINE_FIELDS}
    job.notifications = {k: v for k, v in dumped.items() if k in NOTIFICATION_FIELDS}
    before = (bool(job.schedule_enabled), job.schedule_cron or "")
    job.schedule_enabled, job.schedule_cron = data.schedule.enabled, data.schedule.cron
    job.schedule_since = effective_since(
        job.schedule_since, before, (job.schedule_enabled, job.schedule_cron), utcnow()
    )
    job.labels = list(data.labels)
    job.external_key = data.external_key
    job.export_format = data.export_format.value if data.export_format else None
    job.max_attempts, job.priority = data.max_attempts, data.priority


def create(ctx: Context, data: JobCreate) -> Job:
    """A new job with its tasks (`queries`), checked up front."""
    ctx.principal.require_write()
    workspace_id = workspaces.resolve(ctx, data.workspace_id)
    _check(ctx, workspace_id, data)
    pipeline_id = pipeline_steps.referenced(ctx, workspace_id, data.pipeline_id, "pipeline_id")
    reach.check_events(ctx, workspace_id, data.model_dump(include=set(EVENT_FIELDS)))
    job = Job(
        workspace_id=workspace_id,
        created_by=ctx.principal.user_id,
        events_admin_configured=ctx.principal.role is Role.admin,
    )
    _store(job, data)
    ctx.session.add(job)
    ctx.session.flush()
    pipeline_steps.move(ctx.session, job, pipeline_id)
    tasks.add_all(ctx, job, data.queries)
    audit.note(job.id, job.workspace_id)
    return job


def create_vetted(units: Units, principal: Principal, data: JobCreate) -> JobOut:
    """Create a job (`create`) whose queries' check columns were first vetted against its
    source, with no transaction open while the source is asked (`check_columns`)."""
    proposed = [
        item
        for i, query in enumerate(data.queries)
        for item in check_columns.to_vet(f"queries[{i}]", query)
    ]
    check_columns.vet_new_job(
        units, principal, data, data.source_connection_id, data.type.value, proposed
    )
    with units.unit(principal) as ctx:
        return to_out(ctx, create(ctx, data))


def update(ctx: Context, job_id: str, changes: Mapping[str, Any]) -> Job:
    """Apply a partial change; the result is validated as a whole."""
    job = idle.for_change(ctx, get, job_id, "change")
    merged = {**fields_of(job).model_dump(), **changes}
    try:
        data = JobFields.model_validate(merged)
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from exc
    _check(ctx, job.workspace_id, data, job.id)
    pipeline_id = pipeline_steps.referenced(ctx, job.workspace_id, data.pipeline_id, "pipeline_id")
    cdc_jobs.release_if_moved(ctx, job, data)
    events = {name: job.notifications.get(name) for name in EVENT_FIELDS}
    _store(job, data)
    pipeline_steps.move(ctx.session, job, pipeline_id)
    if any(job.notifications.get(name) != events[name] for name in EVENT_FIELDS):
        # New event URLs: checked as the caller's, and from now on they fire as the caller's.
        reach.check_events(ctx, job.workspace_id, job.notifications)
        job.events_admin_configured = ctx.principal.role is Role.admin
    ctx.session.flush()
    audit.note(job.id, job.workspace_id)
    return job


def delete(ctx: Context, job_id: str) -> None:
    """Delete a job with its tasks, runs and their files; refused (409) while it runs."""
    job = idle.for_change(ctx, get, job_id, "delete")
    cdc_jobs.release(ctx, job)  # its slot would otherwise hold the source's WAL forever
    run_ids = list(ctx.session.scalars(select(Run.id).where(Run.job_id == job.id)))
    audit.note(job.id, job.workspace_id)
    pipeline_steps.leave(ctx.session, job)
    ctx.session.delete(job)
    artifact_store.discard_after_commit(ctx.session, ctx.settings.files_dir, run_ids)


def latest(value: Any) -> Any:
    """`value` (an expression over `Run`) of each job's newest run, as a scalar subquery
    correlated to `Job`: what lists filter and sort a job's status and last run by."""
    return (
        select(value)
        .where(Run.job_id == Job.id)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
        .correlate(Job)
        .scalar_subquery()
    )


def _connection_name(connection_id: Any) -> Any:
    return select(Connection.name).where(Connection.id == connection_id).scalar_subquery()


COLUMNS: dict[str, Any] = {
    **FIELDS,
    "type": Job.type,
    "source_name": _connection_name(Job.source_connection_id),
    "destination_name": _connection_name(Job.destination_connection_id),
    "schedule_enabled": Job.schedule_enabled,
    "schedule_cron": Job.schedule_cron,
    "workspace_id": Job.workspace_id,
    "created_at": Job.created_at,
    "updated_at": Job.updated_at,
    "last_run_status": latest(Run.status),
    "last_run_id": latest(Run.id),
    "last_run_start": latest(func.coalesce(Run.started_at, Run.created_at)),
}
"""SQL expressions of a job that facades filter and sort by (`search`), beyond `FIELDS`."""


def last_run(ctx: Context, job: Job) -> Run | None:
    """The job's newest run."""
    return ctx.session.scalars(
        select(Run)
        .where(Run.job_id == job.id)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
    ).first()


LAST_RUN = tuple(getattr(Run, name) for name in LastRun.model_fields)
"""The columns of a run that a job shows of its latest one (`LastRun`)."""
_RUN_KEYS = tuple(column.key for column in LAST_RUN)


def to_out(ctx: Context, job: Job) -> JobOut:
    """The job as shown."""
    run = ctx.session.execute(
        select(*LAST_RUN)
        .where(Run.job_id == job.id)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(1)
    ).first()
    count = ctx.session.scalar(select(func.count()).where(Task.job_id == job.id)) or 0
    return _out(job, run._asdict() if run is not None else None, count)


_SHOWN = (
    select(
        Job.id,
        select(func.count()).where(Task.job_id == Job.id).scalar_subquery(),
        *(column.label(f"run_{column.key}") for column in LAST_RUN),
    )
    .outerjoin(Run, Run.id == latest(Run.id))
    .where(Job.id.in_(bindparam("ids", expanding=True)))
)
"""Each job's task count and latest run (its `LastRun` columns, None when it has none),
by job id: one statement, built once."""


def to_outs(ctx: Context, found: Sequence[Job]) -> list[JobOut]:
    """Jobs as shown, with their latest runs and task counts read in one query in all
    (the runs as the columns `LastRun` shows, not as ORM objects)."""
    if not found:
        return []
    shown = {
        job_id: (count, None if run[0] is None else dict(zip(_RUN_KEYS, run, strict=True)))
        for job_id, count, *run in ctx.session.execute(_SHOWN, {"ids": [job.id for job in found]})
    }
    return [_out(job, shown[job.id][1], shown[job.id][0]) for job in found]


def briefs(ctx: Context, found: Sequence[Job]) -> list[JobBrief]:
    """Jobs as a list shows them (`JobBrief`), their latest runs and task counts read in
    the one query `to_outs` reads them with."""
    if not found:
        return []
    shown = {
        job_id: (count, None if run[0] is None else dict(zip(_RUN_KEYS, run, strict=True)))
        for job_id, count, *run in ctx.session.execute(_SHOWN, {"ids": [job.id for job in found]})
    }
    return [
        JobBrief(
            id=job.id,
            name=job.name,
            type=JobType(job.type),
            tasks_count=shown[job.id][0],
            status=str(run["status"]) if (run := shown[job.id][1]) else "idle",
            last_run=LastRun.model_validate(run) if run else None,
            next_run_at=_next_run_at(job),
        )
        for job in found
    ]


def _out(job: Job, run: Mapping[str, Any] | None, count: int) -> JobOut:
    """The job as shown, validated once: its stored definition (as `fields_of` reads it,
    defaults filling keys an older row lacks) with what is shown beside it."""
    return row_models.read(
        JobOut,
        job,
        job.settings,
        job.notifications,
        schedule={"enabled": job.schedule_enabled, "cron": job.schedule_cron},
        status=run["status"] if run else "idle",
        tasks_count=count,
        last_run=run,
        next_run_at=_next_run_at(job),
    )


def _next_run_at(job: Job) -> dt.datetime | None:
    """When the job's schedule fires next: true until then (`freshness`), by the clock."""
    if not (job.schedule_enabled and job.schedule_cron):
        return None
    fires = first_fire_from(job.schedule_cron, job.schedule_since or job.created_at, utcnow())
    if fires is not None:
        freshness.holds_until(fires)
    return fires


def status_warnings(ctx: Context, run: Run | None) -> list[str]:
    """What an operator must know of a job's latest run: a change data capture slot
    holding more of the source's WAL than `cdc_retained_warning_bytes`."""
    limit = ctx.settings.cdc_retained_warning_bytes
    retained = int((run.cdc or {}).get("retained_bytes") or 0) if run is not None else 0
    if not limit or retained <= limit:
        return []
    return [
        f"the job's replication slot keeps {retained:,} bytes of WAL on its source (more "
        f"than {limit:,}): run the job, or delete it if it is no longer needed"
    ]
