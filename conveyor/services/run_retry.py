"""Retrying a run: a new run doing what a failed or canceled one did.

A retry copies the original's tasks, job type and priority and is triggered `retry`;
any other run (still active, or completed) answers 409. It reaches every kind of run
the queue holds — a job's, a transformation's, and an Elastic sync job run by an
external worker — so it sits above `runs`, `transformations` and `sync_jobs`: the
Elastic sync jobs service builds on `runs`, which therefore cannot call back into it.
"""

from __future__ import annotations

from conveyor.domain import RunLoad, RunStatus, TriggerMethod
from conveyor.errors import Conflict
from conveyor.queue.manager import EXTERNAL
from conveyor.services import audit, jobs, runs, transformations
from conveyor.services.context import Context
from conveyor.services.elastic import sync_jobs
from conveyor.services.elastic.documents import SyncJobType
from conveyor.store.models import ElasticSyncJob, Run

RETRYABLE = frozenset({RunStatus.error.value, RunStatus.canceled.value})


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
        kind = SyncJobType(ext.job_type) if ext else SyncJobType(run.load)
        return sync_jobs.enqueue(ctx, run.job_id, kind, TriggerMethod.retry.value)
    job = jobs.get(ctx, run.job_id)
    return runs.enqueue(
        ctx,
        job,
        run.task_ids,
        RunLoad(run.load),
        run.priority,
        TriggerMethod.retry,
        run.export_format,
    )
