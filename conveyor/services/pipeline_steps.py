"""Which pipeline a job belongs to, kept the same from both sides.

A job is a step of at most one pipeline: the pipeline's `steps` list it, and the job's
`pipeline_id` (CData v2's `Pipeline Id`, "the pipeline in which the job is used") names
it. Setting a job's `pipeline_id` appends the job as the pipeline's last step (and takes
it out of the pipeline it was in); listing a job in a pipeline's steps sets its
`pipeline_id`. Jobs import this module; it imports no other service, so the pipelines'
service can in turn use the jobs'.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conveyor.errors import InvalidInput, NotFound
from conveyor.services import lookup
from conveyor.services.context import Context
from conveyor.store.models import Job, Pipeline

StepRow = dict[str, Any]
"""A stored step: {"job_id": str, "depends_on": list[str] | None}."""


def dependencies(steps: Sequence[StepRow]) -> list[tuple[str, list[str]]]:
    """Each step's job and the jobs it waits for: `depends_on` as stored, or the step
    before it when that is null (none for the first step)."""
    resolved = []
    for index, step in enumerate(steps):
        depends_on = step.get("depends_on")
        if depends_on is None:
            depends_on = [steps[index - 1]["job_id"]] if index else []
        resolved.append((str(step["job_id"]), [str(d) for d in depends_on]))
    return resolved


def job_names(session: Session, job_ids: Sequence[str]) -> dict[str, str]:
    """The names of these jobs, by id (a deleted job is missing)."""
    found = session.execute(select(Job.id, Job.name).where(Job.id.in_(job_ids)))
    return {job_id: name for job_id, name in found}


def referenced(ctx: Context, workspace_id: str, key: str | None, field: str) -> str | None:
    """The id of the pipeline of `workspace_id` a body names by id or name in `field`;
    a 422 naming the field when there is none."""
    if key is None or key == "":
        return None
    try:
        return lookup.find(ctx, Pipeline, key, "pipeline", workspace_id).id
    except NotFound:
        raise InvalidInput(
            f"pipeline {key} not found in the job's workspace", field=field
        ) from None


def without(steps: Sequence[StepRow], job_id: str) -> list[StepRow]:
    """`steps` with the job's step taken out and no step waiting for it any more."""
    kept = []
    for step in steps:
        if step["job_id"] == job_id:
            continue
        depends_on = step.get("depends_on")
        if depends_on is not None:
            depends_on = [d for d in depends_on if d != job_id]
        kept.append({"job_id": step["job_id"], "depends_on": depends_on})
    return kept


def leave(session: Session, job: Job) -> None:
    """Take the job out of its pipeline (if any): it is deleted, or moves elsewhere."""
    if job.pipeline_id is None:
        return
    pipeline = session.get(Pipeline, job.pipeline_id)
    if pipeline is not None:
        pipeline.steps = without(pipeline.steps, job.id)
    job.pipeline_id = None


def move(session: Session, job: Job, pipeline_id: str | None) -> None:
    """Make the job a step of `pipeline_id` (appended last unless already a step), or of
    no pipeline."""
    pipeline = session.get(Pipeline, pipeline_id) if pipeline_id else None
    listed = pipeline is not None and any(s["job_id"] == job.id for s in pipeline.steps)
    if job.pipeline_id == pipeline_id and (pipeline is None or listed):
        return
    leave(session, job)
    if pipeline is not None:
        if not listed:
            pipeline.steps = [*pipeline.steps, {"job_id": job.id, "depends_on": None}]
        job.pipeline_id = pipeline.id


def adopt(session: Session, pipeline: Pipeline, steps: list[StepRow]) -> None:
    """Give the pipeline these steps: their jobs name it (leaving any other pipeline),
    and the jobs it no longer lists name none."""
    listed = {s["job_id"] for s in steps}
    for job in session.scalars(select(Job).where(Job.pipeline_id == pipeline.id)):
        if job.id not in listed:
            job.pipeline_id = None
    for job_id in listed:
        member = session.get(Job, job_id)
        if member is not None and member.pipeline_id != pipeline.id:
            leave(session, member)
            member.pipeline_id = pipeline.id
    pipeline.steps = steps


def release_all(session: Session, pipeline: Pipeline) -> None:
    """The pipeline is deleted: its jobs name no pipeline any more."""
    for job in session.scalars(select(Job).where(Job.pipeline_id == pipeline.id)):
        job.pipeline_id = None
