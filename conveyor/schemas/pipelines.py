"""Request and response bodies of pipelines and their runs."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field, model_validator

from conveyor.domain import Schedule
from conveyor.schemas.common import OutModel, StrictModel, partial


class OnError(StrEnum):
    """What a pipeline run does when one of its steps fails."""

    stop = "stop"
    """The steps not started yet are skipped, and the pipeline run fails."""
    continue_ = "continue"
    """The other steps go on; those depending on the failed one are skipped."""


class PipelineRunStatus(StrEnum):
    """Where a pipeline run stands."""

    in_progress = "in_progress"
    completed = "completed"
    completed_with_errors = "completed_with_errors"
    error = "error"
    canceled = "canceled"

    @property
    def is_final(self) -> bool:
        """Whether nothing more happens to the pipeline run."""
        return self is not PipelineRunStatus.in_progress


class StepStatus(StrEnum):
    """Where one step of a pipeline run stands; `pending` and `in_progress` are its
    run's, while it runs."""

    waiting = "waiting"
    pending = "pending"
    in_progress = "in_progress"
    completed = "completed"
    error = "error"
    canceled = "canceled"
    skipped = "skipped"


class Step(StrictModel):
    """One job of a pipeline and the steps it waits for."""

    job_id: str = Field(description="A job of the pipeline's workspace (by id or name).")
    depends_on: list[str] | None = Field(
        default=None,
        description="The jobs (of this pipeline) that must complete before this one "
        "starts; null means the step before it, [] none (it starts at once).",
    )


class PipelineFields(StrictModel):
    """A named graph of jobs run as one, optionally on a schedule."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    steps: list[Step] = Field(
        default_factory=list, description="The jobs in order; a job appears at most once."
    )
    on_error: OnError = Field(
        default=OnError.stop,
        description="stop: skip the steps not started and fail; continue: only the "
        "steps depending on the failed one are skipped.",
    )
    schedule: Schedule = Field(default_factory=Schedule, description="{enabled, cron}.")

    @model_validator(mode="after")
    def _consistent(self) -> PipelineFields:
        if self.schedule.enabled and not self.schedule.cron:
            raise ValueError("an enabled schedule needs a cron expression")
        return self


class PipelineCreate(PipelineFields):
    """A new pipeline."""

    workspace_id: str | None = None


PipelineUpdate = partial(PipelineFields, "PipelineUpdate")


class StepOut(OutModel):
    """A step of a pipeline as stored: job ids, dependencies resolved."""

    job_id: str
    job_name: str
    depends_on: list[str]


class StepRunOut(OutModel):
    """A step of a pipeline run: its status and the run that did it."""

    job_id: str
    job_name: str
    depends_on: list[str]
    status: StepStatus
    run_id: str | None = None
    error: str | None = None


class PipelineRunOut(OutModel):
    """One execution of a pipeline, with each step's status and run."""

    id: str
    pipeline_id: str
    pipeline_name: str
    workspace_id: str
    status: PipelineRunStatus
    on_error: OnError
    trigger_method: str
    steps: list[StepRunOut]
    error: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None
    canceled_at: dt.datetime | None


class LastPipelineRun(OutModel):
    """The newest run of a pipeline, in brief."""

    id: str
    status: PipelineRunStatus
    created_at: dt.datetime
    completed_at: dt.datetime | None


class PipelineOut(OutModel):
    """A pipeline as stored, with its status: its newest run's, or idle."""

    id: str
    workspace_id: str
    name: str
    steps: list[StepOut]
    on_error: OnError
    schedule: Schedule
    status: str = Field(description="The newest run's status, or idle.")
    last_run: LastPipelineRun | None
    next_run_at: dt.datetime | None = Field(
        default=None, description="When the schedule fires next; none while it is disabled."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
