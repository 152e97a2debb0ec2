"""Transformations: SQL run on a destination after a job, on a cron, or on demand.

Each execution is a run (kind `transformation`) in the same queue, with the same
lifecycle, logs and cancelation as a job's runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select

from conveyor.connectors.base import Capability
from conveyor.connectors.registry import resolve
from conveyor.domain import RunLoad, TriggerMethod, utcnow
from conveyor.errors import Conflict, InvalidInput
from conveyor.scheduler.cron import effective_since
from conveyor.schemas.transformations import (
    TransformationCreate,
    TransformationFields,
    TransformationOut,
)
from conveyor.services import audit, connections, idle, jobs, lookup, row_models, workspaces
from conveyor.services.context import Context
from conveyor.store.models import Run, RunTask, Transformation

FIELDS = {
    "id": Transformation.id,
    "name": Transformation.name,
    "workspace_id": Transformation.workspace_id,
    "connection_id": Transformation.connection_id,
    "trigger_mode": Transformation.trigger_mode,
    "trigger_after_job_id": Transformation.trigger_after_job_id,
    "created_at": Transformation.created_at,
    "updated_at": Transformation.updated_at,
}
NOTIFICATION_FIELDS = ("send_email", "email_to", "email_subject", "email_error_only")
SETTING_FIELDS = ("verbosity", "command_timeout")


TRANSFORMATIONS = lookup.Resource(Transformation, "transformation", FIELDS)
# A transformation is named by id or name wherever one is asked for.
get, ref, list_ = TRANSFORMATIONS.find, TRANSFORMATIONS.ref, TRANSFORMATIONS.list_


def fields_of(item: Transformation) -> TransformationFields:
    """The stored definition as the typed model."""
    return row_models.read(TransformationFields, item, item.notifications, item.settings)


def _check(
    ctx: Context, workspace_id: str, data: TransformationFields, own_id: str | None = None
) -> None:
    connection = connections.CONNECTIONS.referenced(ctx, data.connection_id, "connection_id")
    if connection.workspace_id != workspace_id:
        raise InvalidInput("the connection is in another workspace", field="connection_id")
    if Capability.write not in resolve(connection.url).capabilities:
        raise InvalidInput(f"connection {connection.name!r} cannot run SQL", field="connection_id")
    if data.trigger_after_job_id is not None:
        job = jobs.JOBS.referenced(ctx, data.trigger_after_job_id, "trigger_after_job_id")
        known = {t.id for t in job.tasks}
        unknown = [t for t in data.trigger_tasks if t not in known]
        if unknown:
            raise InvalidInput(
                f"tasks not in job {job.name!r}: {', '.join(unknown)}", field="trigger_tasks"
            )
    clash = ctx.session.scalar(
        select(Transformation.id).where(
            Transformation.workspace_id == workspace_id, Transformation.name == data.name
        )
    )
    if clash is not None and clash != own_id:
        raise Conflict(f"a transformation named {data.name!r} already exists in this workspace")


def _store(item: Transformation, data: TransformationFields) -> None:
    dumped = data.model_dump(mode="json")
    item.name, item.connection_id, item.queries = data.name, data.connection_id, list(data.queries)
    before = (item.trigger_mode == "scheduled", item.schedule_cron or "")
    item.trigger_mode = data.trigger_mode.value
    item.trigger_after_job_id = data.trigger_after_job_id
    item.trigger_tasks = list(data.trigger_tasks)
    item.schedule_cron = data.schedule_cron
    item.schedule_since = effective_since(
        item.schedule_since,
        before,
        (item.trigger_mode == "scheduled", item.schedule_cron),
        utcnow(),
    )
    item.notifications = {k: dumped[k] for k in NOTIFICATION_FIELDS}
    item.settings = {k: dumped[k] for k in SETTING_FIELDS}
    item.max_attempts = data.max_attempts


def create(ctx: Context, data: TransformationCreate) -> Transformation:
    """A new transformation."""
    ctx.principal.require_write()
    workspace_id = workspaces.resolve(ctx, data.workspace_id)
    _check(ctx, workspace_id, data)
    item = Transformation(workspace_id=workspace_id, created_by=ctx.principal.user_id)
    _store(item, data)
    ctx.session.add(item)
    ctx.session.flush()
    audit.note(item.id, item.workspace_id)
    return item


def update(ctx: Context, transformation_id: str, changes: Mapping[str, Any]) -> Transformation:
    """Apply a partial change, validated as a whole."""
    item = idle.for_change(ctx, get, transformation_id, "change")
    try:
        data = TransformationFields.model_validate({**fields_of(item).model_dump(), **changes})
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from exc
    _check(ctx, item.workspace_id, data, item.id)
    _store(item, data)
    ctx.session.flush()
    audit.note(item.id, item.workspace_id)
    return item


def delete(ctx: Context, transformation_id: str) -> None:
    """Delete a transformation and its runs; refused while one runs."""
    item = idle.for_change(ctx, get, transformation_id, "delete")
    audit.note(item.id, item.workspace_id)
    ctx.session.delete(item)


def last_run(ctx: Context, item: Transformation) -> Run | None:
    """The newest run of a transformation."""
    return ctx.session.scalars(
        select(Run).where(Run.transformation_id == item.id).order_by(Run.created_at.desc()).limit(1)
    ).first()


def to_out(ctx: Context, item: Transformation) -> TransformationOut:
    """The transformation as shown."""
    run = last_run(ctx, item)
    return _out(item, (run.id, run.status) if run else None)


def to_outs(ctx: Context, items: Sequence[Transformation]) -> list[TransformationOut]:
    """Transformations as shown, their latest runs read in one query for all of them (a
    page of a list, not one query per row)."""
    if not items:
        return []
    newest = (
        select(
            Run.transformation_id,
            Run.id,
            Run.status,
            func.row_number()
            .over(partition_by=Run.transformation_id, order_by=Run.created_at.desc())
            .label("rank"),
        )
        .where(Run.transformation_id.in_([item.id for item in items]))
        .subquery()
    )
    latest = {
        row[0]: (row[1], row[2])
        for row in ctx.session.execute(
            select(newest.c.transformation_id, newest.c.id, newest.c.status).where(
                newest.c.rank == 1
            )
        )
    }
    return [_out(item, latest.get(item.id)) for item in items]


def _out(item: Transformation, run: tuple[str, str] | None) -> TransformationOut:
    return TransformationOut.model_validate(
        {
            **fields_of(item).model_dump(),
            "id": item.id,
            "workspace_id": item.workspace_id,
            "status": run[1] if run else "idle",
            "last_run_id": run[0] if run else None,
            "created_at": item.created_at,
            "updated_at": item.updated_at,
        }
    )


def enqueue(
    ctx: Context, item: Transformation, trigger: TriggerMethod = TriggerMethod.on_demand
) -> Run:
    """Queue a run of the transformation: one task result per statement."""
    run = Run(
        workspace_id=item.workspace_id,
        kind="transformation",
        transformation_id=item.id,
        job_name=item.name,
        load=RunLoad.full.value,
        trigger_method=trigger.value,
        unicity=f"transformation:{item.id}",
        max_attempts=item.max_attempts,
        tasks_total=len(item.queries),
        created_by=ctx.principal.user_id,
    )
    run.task_results = [
        RunTask(task_id=f"{item.id}:{index}", position=index, query=query, table_name="")
        for index, query in enumerate(item.queries)
    ]
    return ctx.queue.enqueue(ctx.session, run)


def execute(ctx: Context, transformation_id: str) -> Run:
    """Run a transformation now."""
    ctx.principal.require_write()
    item = get(ctx, transformation_id)
    run = enqueue(ctx, item)
    audit.note(item.id, item.workspace_id)
    return run


def after_job(ctx: Context, job_id: str, loaded_task_ids: set[str]) -> list[Run]:
    """Queue the transformations that follow a job that just completed."""
    queued = []
    for item in ctx.session.scalars(
        select(Transformation).where(
            Transformation.trigger_mode == "after_job",
            Transformation.trigger_after_job_id == job_id,
        )
    ):
        if item.trigger_tasks and not loaded_task_ids.intersection(item.trigger_tasks):
            continue
        try:
            queued.append(enqueue(ctx, item, TriggerMethod.scheduled))
        except Conflict:
            continue  # already queued or running: it will see this job's data
    return queued
