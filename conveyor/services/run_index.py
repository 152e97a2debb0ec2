"""Runs as a queue of jobs: their class, retry count, listing and retry.

The JSON:API sync service shows every run as a job of a *class* with a *retry count*;
both are SQL expressions here so that they filter and sort like any column:

- `job_class`: `replicate` (a job's run on Conveyor's workers), `transformation`, or
  `connector_sync` (a self-managed Elastic connector's sync job, run by an external
  worker);
- `retry_count`: attempts before this one (`attempt - 1`).

`retry` queues a new run of what a failed or canceled run did: the same tasks, job type
and priority, `trigger_method = retry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import case, select
from sqlalchemy.orm import InstrumentedAttribute

from conveyor.domain import RunJobType, RunStatus, TriggerMethod
from conveyor.errors import Conflict
from conveyor.queue.manager import EXTERNAL
from conveyor.services import audit, jobs, listing, runs, transformations
from conveyor.services.context import Context
from conveyor.services.elastic import sync_jobs
from conveyor.services.elastic.documents import SyncJobType
from conveyor.store.models import ElasticSyncJob, Job, Run, Transformation, User, Workspace

JOB_CLASS = case(
    (Run.kind == "transformation", "transformation"),
    (Run.executor == EXTERNAL, "connector_sync"),
    else_="replicate",
)
RETRY_COUNT = Run.attempt - 1
FIELDS: dict[str, InstrumentedAttribute[Any]] = {
    "id": Run.id,
    "job_class": cast(InstrumentedAttribute[Any], JOB_CLASS),
    "priority": Run.priority,
    "status": Run.status,
    "progress": Run.progress,
    "retry_count": cast(InstrumentedAttribute[Any], RETRY_COUNT),
    "error": Run.error,
    "unicity": Run.unicity,
    "scheduled_at": Run.scheduled_at,
    "created_at": Run.created_at,
    "updated_at": Run.updated_at,
    "started_at": Run.started_at,
    "completed_at": Run.completed_at,
    "job_id": Run.job_id,
    "job_name": Run.job_name,
}
"""What runs filter and sort by, under the JSON:API service's names."""
RETRYABLE = frozenset({RunStatus.error.value, RunStatus.canceled.value})


def job_class(run: Run) -> str:
    """The class of a run (as `JOB_CLASS` computes it in SQL)."""
    if run.kind == "transformation":
        return "transformation"
    return "connector_sync" if run.executor == EXTERNAL else "replicate"


def list_(ctx: Context, params: listing.ListParams) -> listing.Paged[Run]:
    """Visible runs, filtered and sorted by `FIELDS`, oldest first by default."""
    statement = select(Run)
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    return listing.page(
        ctx.session, listing.apply(statement, params, FIELDS, ("created_at",)), params
    )


def retry(ctx: Context, run_id: str) -> Run:
    """A new run doing what a failed or canceled run did; 409 for any other run."""
    ctx.principal.require_write()
    run = runs.get(ctx, run_id)
    if run.status not in RETRYABLE:
        raise Conflict(f"run {run_id} is {run.status}; only failed or canceled runs are retried")
    audit.note(run.id, run.workspace_id)
    if run.kind == "transformation" and run.transformation_id:
        item = transformations.get(ctx, run.transformation_id)
        return transformations.enqueue(ctx, item, TriggerMethod.retry)
    if run.job_id is None:
        raise Conflict(f"run {run_id} has no job any more: there is nothing to retry")
    if run.executor == EXTERNAL:
        ext = ctx.session.get(ElasticSyncJob, run.id)
        kind = SyncJobType(ext.job_type) if ext else SyncJobType(run.job_type)
        return sync_jobs.enqueue(ctx, run.job_id, kind, TriggerMethod.retry.value)
    job = jobs.get(ctx, run.job_id)
    return runs.enqueue(
        ctx, job, run.task_ids, RunJobType(run.job_type), run.priority, TriggerMethod.retry
    )


def related(ctx: Context, items: Iterable[Run]) -> dict[str, dict[str, Any]]:
    """The workspaces, jobs, transformations and users the runs refer to, by kind and id."""
    items = list(items)
    found: dict[str, dict[str, Any]] = {
        "project": {},
        "definition": {},
        "transformation": {},
        "created_by": {},
    }
    wanted: dict[str, tuple[Any, set[str]]] = {
        "project": (Workspace, {r.workspace_id for r in items}),
        "definition": (Job, {r.job_id for r in items if r.job_id}),
        "transformation": (Transformation, {r.transformation_id or "" for r in items} - {""}),
        "created_by": (User, {r.created_by for r in items if r.created_by}),
    }
    for kind, (model, ids) in wanted.items():
        if ids:
            rows = ctx.session.scalars(select(model).where(model.id.in_(ids)))
            found[kind] = {row.id: row for row in rows}
    return found
