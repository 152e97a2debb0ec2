"""Pipeline runs: a pipeline executed once, its jobs started as their predecessors complete.

Starting a pipeline run queues the runs of its first steps, in the same transaction. Each
time a run that is a step reaches a final status, the queue calls `step_ended` in the
very transaction that records that status (the pipeline run's row locked, so two workers
finishing two steps at once go one after the other): the step's outcome is noted, the
steps whose predecessors have all completed are queued, and the steps that can no longer
run are skipped. A failed (or canceled) step stops the pipeline run (`on_error` stop: the
steps not started are skipped, and it ends in `error`) or not (`continue`: only the steps
depending on it, directly or not, are skipped; it ends `completed_with_errors`).
Canceling the pipeline run cancels its running steps, and nothing else starts.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from conveyor.domain import ACTIVE_STATUSES, RunLoad, RunStatus, TriggerMethod, utcnow
from conveyor.errors import Conflict, ConveyorError, InvalidInput, NotFound
from conveyor.schemas.pipelines import OnError, PipelineRunOut, PipelineRunStatus, StepStatus
from conveyor.services import audit, listing, lookup, pipeline_steps, pipelines, runs
from conveyor.services.context import Context
from conveyor.store.models import Job, Pipeline, PipelineRun, Run

FIELDS = {
    "id": PipelineRun.id,
    "pipeline_id": PipelineRun.pipeline_id,
    "pipeline_name": PipelineRun.pipeline_name,
    "workspace_id": PipelineRun.workspace_id,
    "status": PipelineRun.status,
    "trigger_method": PipelineRun.trigger_method,
    "created_at": PipelineRun.created_at,
    "completed_at": PipelineRun.completed_at,
}
FAILED = frozenset({StepStatus.error.value, StepStatus.canceled.value})
NOT_RUN = FAILED | {StepStatus.skipped.value}
UNDER_WAY = frozenset({StepStatus.waiting.value, StepStatus.pending.value})


def get(ctx: Context, pipeline_run_id: str) -> PipelineRun:
    """A visible pipeline run, or 404."""
    found = ctx.session.get(PipelineRun, pipeline_run_id)
    if found is None or not ctx.principal.sees(found.workspace_id):
        raise NotFound(f"pipeline run {pipeline_run_id} not found")
    return found


def list_(
    ctx: Context, query: Mapping[str, str], pipeline_id: str | None = None
) -> listing.Paged[PipelineRun]:
    """Visible pipeline runs (of one pipeline, when given), newest first by default."""
    params = listing.ListParams.parse(query)
    statement = lookup.visible(ctx, select(PipelineRun), PipelineRun.workspace_id)
    if pipeline_id is not None:
        statement = statement.where(PipelineRun.pipeline_id == pipeline_id)
    statement = listing.apply(statement, params, FIELDS, ("-created_at", "-id"))
    return listing.page(ctx.session, statement, params)


def history(
    ctx: Context, pipeline_key: str, query: Mapping[str, str]
) -> listing.Paged[PipelineRun]:
    """A pipeline's runs, newest first."""
    return list_(ctx, query, pipelines.get(ctx, pipeline_key).id)


def _locked(ctx: Context, pipeline_run_id: str) -> PipelineRun | None:
    ctx.session.flush()
    return ctx.session.scalars(
        select(PipelineRun)
        .where(PipelineRun.id == pipeline_run_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()


def start(
    ctx: Context, pipeline_key: str, trigger: TriggerMethod = TriggerMethod.on_demand
) -> PipelineRun:
    """Run a pipeline: its first steps are queued now, the others as their predecessors
    complete; 409 naming the run under way when there is one."""
    ctx.principal.require_write()
    pipeline = pipelines.get(ctx, pipeline_key)
    ctx.session.execute(select(Pipeline.id).where(Pipeline.id == pipeline.id).with_for_update())
    running = pipelines.active_run(ctx, pipeline)
    if running is not None:
        raise Conflict(
            f"pipeline {pipeline.name!r} already has a run under way: {running.id}",
            active_pipeline_run_id=running.id,
        )
    graph = pipeline_steps.dependencies(pipeline.steps or [])
    if not graph:
        raise InvalidInput(f"pipeline {pipeline.name!r} has no steps to run", field="steps")
    names = pipeline_steps.job_names(ctx.session, [job_id for job_id, _ in graph])
    started = PipelineRun(
        workspace_id=pipeline.workspace_id,
        pipeline_id=pipeline.id,
        pipeline_name=pipeline.name,
        status=PipelineRunStatus.in_progress.value,
        on_error=pipeline.on_error,
        trigger_method=trigger.value,
        created_by=ctx.principal.user_id,
        steps=[],
    )
    ctx.session.add(started)
    ctx.session.flush()
    steps = [
        {
            "job_id": job_id,
            "job_name": names.get(job_id, ""),
            "depends_on": deps,
            "status": StepStatus.waiting.value,
            "run_id": None,
            "error": None,
        }
        for job_id, deps in graph
    ]
    _advance(ctx, started, steps)
    started.steps = steps
    audit.note(started.id, started.workspace_id)
    return started


def step_ended(ctx: Context, run: Run) -> None:
    """A run reached a final status: if it is a step of a pipeline run, note its outcome
    and go on (called by the queue, in the transaction that finalized the run)."""
    if run.pipeline_run_id is None:
        return
    found = _locked(ctx, run.pipeline_run_id)
    if found is None:
        return
    steps = copy.deepcopy(found.steps)
    step = next((s for s in steps if s.get("run_id") == run.id), None)
    if step is None or step["status"] != StepStatus.pending.value:
        return  # already noted: finalizing twice changes nothing
    step["status"], step["error"] = run.status, run.error
    if found.status == PipelineRunStatus.in_progress.value:
        _advance(ctx, found, steps)
    found.steps = steps


def _advance(ctx: Context, found: PipelineRun, steps: list[dict[str, Any]]) -> None:
    """Queue the waiting steps whose predecessors all completed, skip those that can no
    longer run, and end the pipeline run when no step is left under way."""
    stop = found.on_error == OnError.stop.value
    changed = True
    while changed:
        changed = False
        by_job = {s["job_id"]: s for s in steps}
        failed = [s for s in steps if s["status"] in FAILED]
        for step in steps:
            if step["status"] != StepStatus.waiting.value:
                continue
            before = [by_job[d] for d in step["depends_on"] if d in by_job]
            blocked = [d for d in before if d["status"] in NOT_RUN]
            if stop and failed:
                _skip(step, f"step {failed[0]['job_name']!r} failed")
            elif blocked:
                _skip(step, f"step {blocked[0]['job_name']!r} did not complete")
            elif all(d["status"] == StepStatus.completed.value for d in before):
                _queue(ctx, found, step)
            else:
                continue
            changed = True
    if any(s["status"] in UNDER_WAY for s in steps):
        return
    failed = [s for s in steps if s["status"] in FAILED]
    if stop and failed:
        found.status = PipelineRunStatus.error.value
        found.error = f"step {failed[0]['job_name']!r} ended {failed[0]['status']}"
    elif failed or any(s["status"] == StepStatus.skipped.value for s in steps):
        found.status = PipelineRunStatus.completed_with_errors.value
        found.error = f"{len(failed)} step(s) failed"
    else:
        found.status = PipelineRunStatus.completed.value
    found.completed_at = utcnow()


def _skip(step: dict[str, Any], why: str) -> None:
    step["status"], step["error"] = StepStatus.skipped.value, why


def _queue(ctx: Context, found: PipelineRun, step: dict[str, Any]) -> None:
    """Queue the step's job; a job that cannot start (deleted, busy, no active task) is
    a failed step, with the reason."""
    job = ctx.session.get(Job, step["job_id"])
    if job is None:
        step["status"], step["error"] = StepStatus.error.value, "the job was deleted"
        return
    trigger = TriggerMethod(found.trigger_method)
    try:
        with ctx.session.begin_nested():
            run = runs.enqueue(
                ctx, job, None, RunLoad.incremental, None, trigger, pipeline_run_id=found.id
            )
    except ConveyorError as exc:
        step["status"], step["error"] = StepStatus.error.value, exc.message
        return
    step["status"], step["run_id"] = StepStatus.pending.value, run.id


def cancel(ctx: Context, pipeline_run_id: str) -> PipelineRun:
    """Cancel a pipeline run under way: its running steps are canceled, the waiting ones
    skipped, and nothing further starts; 409 when it has ended."""
    ctx.principal.require_write()
    found = get(ctx, pipeline_run_id)
    _require_under_way(found)
    # The step runs first, then the pipeline run: the order a finishing worker locks them
    # in. Read again once the pipeline run is locked: a step that ended meanwhile may have
    # queued the next ones.
    _active_steps(ctx, found.id)
    locked = _locked(ctx, found.id)
    if locked is None:
        raise NotFound(f"pipeline run {pipeline_run_id} not found")
    _require_under_way(locked)
    active = _active_steps(ctx, found.id)
    now = utcnow()
    locked.status = PipelineRunStatus.canceled.value
    locked.canceled_at = locked.completed_at = now
    steps = copy.deepcopy(locked.steps)
    for step in steps:
        if step["status"] == StepStatus.waiting.value:
            _skip(step, "the pipeline run was canceled")
    locked.steps = steps
    ctx.session.flush()
    for run in active:
        if run.status != RunStatus.canceling.value:
            ctx.queue.request_cancel(ctx.session, run)
    audit.note(locked.id, locked.workspace_id)
    return locked


def _active_steps(ctx: Context, pipeline_run_id: str) -> list[Run]:
    """The pipeline run's step runs that have not ended, locked in id order."""
    return list(
        ctx.session.scalars(
            select(Run)
            .where(Run.pipeline_run_id == pipeline_run_id, Run.status.in_(ACTIVE_STATUSES))
            .order_by(Run.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def cancel_pipeline(ctx: Context, pipeline_key: str) -> PipelineRun:
    """Cancel the pipeline's run under way; 409 when it has none."""
    ctx.principal.require_write()
    pipeline = pipelines.get(ctx, pipeline_key)
    running = pipelines.active_run(ctx, pipeline)
    if running is None:
        raise Conflict(f"pipeline {pipeline.name!r} has no run under way to cancel")
    return cancel(ctx, running.id)


def _require_under_way(found: PipelineRun) -> None:
    if found.status != PipelineRunStatus.in_progress.value:
        raise Conflict(f"pipeline run {found.id} is {found.status}: it cannot be canceled")


LIVE = {
    RunStatus.pending.value: StepStatus.pending.value,
    RunStatus.suspended.value: StepStatus.pending.value,
    RunStatus.in_progress.value: StepStatus.in_progress.value,
    RunStatus.canceling.value: StepStatus.in_progress.value,
}
"""A started step's status while its run is active: the run's."""


def to_out(ctx: Context, found: PipelineRun) -> PipelineRunOut:
    """The pipeline run as shown; a step under way shows its run's live status."""
    started = [s["run_id"] for s in found.steps if s["status"] == StepStatus.pending.value]
    live = (
        {
            run_id: status
            for run_id, status in ctx.session.execute(
                select(Run.id, Run.status).where(Run.id.in_(started))
            )
        }
        if started
        else {}
    )
    steps = [{**s, "status": LIVE.get(live.get(s["run_id"], ""), s["status"])} for s in found.steps]
    return PipelineRunOut.model_validate(
        {
            **{name: getattr(found, name) for name in FIELDS},
            "on_error": found.on_error,
            "steps": steps,
            "error": found.error,
            "updated_at": found.updated_at,
            "canceled_at": found.canceled_at,
        }
    )
