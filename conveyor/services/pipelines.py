"""Pipelines: named graphs of jobs of one workspace, run as one, by hand or on a schedule.

A pipeline's steps are its jobs in order; each step waits for the steps it depends on
(by default, the one before it). Its runs are `pipeline_runs`. Who may do what is the
same as for jobs: everyone who sees the workspace reads, viewers change nothing, and a
pipeline of a workspace the caller cannot see is not found.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select

from conveyor.domain import Schedule, utcnow
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.scheduler.cron import effective_since, first_fire_from
from conveyor.schemas.pipelines import (
    PipelineCreate,
    PipelineFields,
    PipelineOut,
    PipelineRunStatus,
    Step,
)
from conveyor.services import audit, freshness, jobs, lookup, pipeline_steps, workspaces
from conveyor.services.context import Context
from conveyor.store.models import Job, Pipeline, PipelineRun, new_id

FIELDS = {
    "id": Pipeline.id,
    "name": Pipeline.name,
    "workspace_id": Pipeline.workspace_id,
    "on_error": Pipeline.on_error,
    "schedule_enabled": Pipeline.schedule_enabled,
    "created_at": Pipeline.created_at,
    "updated_at": Pipeline.updated_at,
}

PIPELINES = lookup.Resource(Pipeline, "pipeline", FIELDS)
# A pipeline is named by id or name wherever one is asked for, as a transformation is.
get, ref, list_ = PIPELINES.find, PIPELINES.ref, PIPELINES.list_


def fields_of(pipeline: Pipeline) -> PipelineFields:
    """The stored definition as the typed model."""
    return PipelineFields.model_validate(
        {
            "name": pipeline.name,
            "steps": [dict(step) for step in pipeline.steps or []],
            "on_error": pipeline.on_error,
            "schedule": {"enabled": pipeline.schedule_enabled, "cron": pipeline.schedule_cron},
        }
    )


def _job_in(ctx: Context, workspace_id: str, key: str, field: str) -> Job:
    try:
        return jobs.JOBS.find(ctx, key, workspace_id)
    except NotFound:
        raise InvalidInput(
            f"job {key} not found in the pipeline's workspace", field=field
        ) from None


def _steps(ctx: Context, workspace_id: str, steps: Sequence[Step]) -> list[dict[str, Any]]:
    """The steps as stored (job ids), checked: jobs of the workspace, each once, depending
    only on other steps, and no step waiting for itself through others (422 naming it)."""
    ids: list[str] = []
    for index, step in enumerate(steps):
        job = _job_in(ctx, workspace_id, step.job_id, f"steps[{index}].job_id")
        if job.id in ids:
            raise InvalidInput(
                f"job {job.name!r} is already a step of this pipeline",
                field=f"steps[{index}].job_id",
            )
        ids.append(job.id)
    stored: list[dict[str, Any]] = []
    for index, step in enumerate(steps):
        field = f"steps[{index}].depends_on"
        depends_on = None
        if step.depends_on is not None:
            depends_on = []
            for key in step.depends_on:
                found = _job_in(ctx, workspace_id, key, field).id
                if found not in ids or found == ids[index]:
                    raise InvalidInput(
                        f"a step depends only on other steps of its pipeline; {key} is not one",
                        field=field,
                    )
                depends_on.append(found)
            depends_on = list(dict.fromkeys(depends_on))
        stored.append({"job_id": ids[index], "depends_on": depends_on})
    _acyclic(stored)
    return stored


def _acyclic(steps: list[dict[str, Any]]) -> None:
    """422 when steps wait for one another in a circle (nothing could ever start)."""
    waits = dict(pipeline_steps.dependencies(steps))
    done: set[str] = set()
    while len(done) < len(waits):
        ready = [job for job, deps in waits.items() if job not in done and set(deps) <= done]
        if not ready:
            raise InvalidInput(
                "steps depend on one another in a circle: none of them could start",
                field="steps",
            )
        done.update(ready)


def _check_name(ctx: Context, workspace_id: str, name: str, own_id: str | None = None) -> None:
    clash = ctx.session.scalar(
        select(Pipeline.id).where(Pipeline.workspace_id == workspace_id, Pipeline.name == name)
    )
    if clash is not None and clash != own_id:
        raise Conflict(f"a pipeline named {name!r} already exists in this workspace")


def _store(ctx: Context, pipeline: Pipeline, data: PipelineFields) -> None:
    steps = _steps(ctx, pipeline.workspace_id, data.steps)
    pipeline.name, pipeline.on_error = data.name, data.on_error.value
    before = (bool(pipeline.schedule_enabled), pipeline.schedule_cron or "")
    pipeline.schedule_enabled, pipeline.schedule_cron = data.schedule.enabled, data.schedule.cron
    pipeline.schedule_since = effective_since(
        pipeline.schedule_since,
        before,
        (pipeline.schedule_enabled, pipeline.schedule_cron),
        utcnow(),
    )
    pipeline_steps.adopt(ctx.session, pipeline, steps)


def create(ctx: Context, data: PipelineCreate) -> Pipeline:
    """A new pipeline; the jobs of its steps leave any pipeline they were in."""
    ctx.principal.require_write()
    workspace_id = workspaces.resolve(ctx, data.workspace_id)
    _check_name(ctx, workspace_id, data.name)
    pipeline = Pipeline(
        id=new_id(), workspace_id=workspace_id, created_by=ctx.principal.user_id, steps=[]
    )
    _store(ctx, pipeline, data)  # its jobs name it by the id it is given here
    ctx.session.add(pipeline)
    ctx.session.flush()
    audit.note(pipeline.id, workspace_id)
    return pipeline


def update(ctx: Context, pipeline_id: str, changes: Mapping[str, Any]) -> Pipeline:
    """Apply a partial change, validated as a whole. A run under way keeps the steps it
    started with."""
    ctx.principal.require_write()
    pipeline = get(ctx, pipeline_id)
    try:
        data = PipelineFields.model_validate({**fields_of(pipeline).model_dump(), **changes})
    except ValidationError as exc:
        raise InvalidInput.from_validation(exc) from exc
    _check_name(ctx, pipeline.workspace_id, data.name, pipeline.id)
    _store(ctx, pipeline, data)
    ctx.session.flush()
    audit.note(pipeline.id, pipeline.workspace_id)
    return pipeline


def active_run(ctx: Context, pipeline: Pipeline) -> PipelineRun | None:
    """The pipeline's run under way, if any."""
    return ctx.session.scalars(
        select(PipelineRun).where(
            PipelineRun.pipeline_id == pipeline.id,
            PipelineRun.status == PipelineRunStatus.in_progress.value,
        )
    ).first()


def delete(ctx: Context, pipeline_id: str) -> None:
    """Delete a pipeline and its history (its jobs stay, in no pipeline); 409 while it runs."""
    ctx.principal.require_write()
    pipeline = get(ctx, pipeline_id)
    running = active_run(ctx, pipeline)
    if running is not None:
        raise Conflict(
            f"cannot delete pipeline {pipeline.name!r} while its run {running.id} is under way",
            active_pipeline_run_id=running.id,
        )
    audit.note(pipeline.id, pipeline.workspace_id)
    pipeline_steps.release_all(ctx.session, pipeline)
    ctx.session.delete(pipeline)


def to_out(ctx: Context, pipeline: Pipeline) -> PipelineOut:
    """The pipeline as shown: its steps with their jobs' names, its newest run and when
    its schedule fires next."""
    return to_outs(ctx, [pipeline])[0]


def to_outs(ctx: Context, items: Sequence[Pipeline]) -> list[PipelineOut]:
    """Pipelines as shown, their jobs' names and newest runs read in one query each for
    all of them (a page of a list, not queries per row)."""
    if not items:
        return []
    graphs = {item.id: pipeline_steps.dependencies(item.steps or []) for item in items}
    job_ids = sorted({job_id for graph in graphs.values() for job_id, _ in graph})
    names = pipeline_steps.job_names(ctx.session, job_ids) if job_ids else {}
    ranked = (
        select(
            PipelineRun.id,
            func.row_number()
            .over(
                partition_by=PipelineRun.pipeline_id,
                order_by=(PipelineRun.created_at.desc(), PipelineRun.id.desc()),
            )
            .label("rank"),
        )
        .where(PipelineRun.pipeline_id.in_([item.id for item in items]))
        .subquery()
    )
    newest = {
        run.pipeline_id: run
        for run in ctx.session.scalars(
            select(PipelineRun)
            .join(ranked, ranked.c.id == PipelineRun.id)
            .where(ranked.c.rank == 1)
        )
    }
    return [_out(item, graphs[item.id], names, newest.get(item.id)) for item in items]


def _out(
    pipeline: Pipeline,
    steps: list[tuple[str, list[str]]],
    names: Mapping[str, str],
    run: PipelineRun | None,
) -> PipelineOut:
    return PipelineOut.model_validate(
        {
            "id": pipeline.id,
            "workspace_id": pipeline.workspace_id,
            "name": pipeline.name,
            "steps": [
                {"job_id": job_id, "job_name": names.get(job_id, ""), "depends_on": deps}
                for job_id, deps in steps
            ],
            "on_error": pipeline.on_error,
            # stored, so validated when saved: parsing the cron again per row of a list
            # was most of the list's time
            "schedule": Schedule.model_construct(
                enabled=bool(pipeline.schedule_enabled), cron=pipeline.schedule_cron or ""
            ),
            "status": run.status if run else "idle",
            "last_run": run,
            "next_run_at": next_run_at(pipeline),
            "created_at": pipeline.created_at,
            "updated_at": pipeline.updated_at,
        }
    )


def next_run_at(pipeline: Pipeline) -> dt.datetime | None:
    """When the pipeline's schedule fires next (none while it is disabled)."""
    if not (pipeline.schedule_enabled and pipeline.schedule_cron):
        return None
    since = pipeline.schedule_since or pipeline.created_at
    fires = first_fire_from(pipeline.schedule_cron, since, utcnow())
    if fires is not None:
        freshness.holds_until(fires)
    return fires
