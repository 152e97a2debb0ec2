"""Request and response bodies of jobs: every CData Sync v2 job parameter, typed.

Field names are CData's v2 body parameters in lower snake_case, at the top level of the
job object; the engine settings among them come from `conveyor.domain.EngineSettings`.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field, field_validator, model_validator

from conveyor.domain import (
    MAX_TASKS_PER_JOB,
    EngineSettings,
    ExportFormat,
    JobEvent,
    JobType,
    RunStatus,
    Schedule,
)
from conveyor.header_values import EmailAddresses, HeaderText
from conveyor.schemas.common import OutModel, partial


class JobFields(EngineSettings):
    """Everything a job is: what it copies, from where to where, when, and who hears of it."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    type: JobType = Field(default=JobType.standard, description="What the job does.")
    source_connection_id: str | None = Field(default=None, description="Where data comes from.")
    destination_connection_id: str | None = Field(
        default=None, description="Where data goes; none for export jobs (files)."
    )
    schedule: Schedule = Field(default_factory=Schedule, description="{enabled, cron}.")
    send_email: bool = Field(default=False, description="Email after each run.")
    email_to: EmailAddresses = Field(
        default_factory=list,
        description="Addresses to email (a list, or one comma-separated string).",
    )
    email_subject: HeaderText = Field(
        default="", max_length=500, description="The emails' subject (one line)."
    )
    email_error_only: bool = Field(default=False, description="Email only when a run fails.")
    pre_job_event: JobEvent | None = Field(default=None, description="HTTP hook before a run.")
    post_job_event: JobEvent | None = Field(default=None, description="HTTP hook after a run.")
    labels: list[str] = Field(default_factory=list)
    pipeline_id: str | None = Field(default=None, max_length=200)
    external_key: str | None = Field(
        default=None, max_length=200, description="Unique key for the SCAPI datafeed."
    )
    export_format: ExportFormat | None = Field(
        default=None, description="Export jobs: the format of the files written."
    )
    max_attempts: int = Field(default=1, ge=1, le=100, description="Attempts per run.")
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher runs first.")

    @model_validator(mode="after")
    def _consistent(self) -> JobFields:
        if self.send_email and not self.email_to:
            raise ValueError("send_email needs email_to")
        if self.schedule.enabled and not self.schedule.cron:
            raise ValueError("an enabled schedule needs a cron expression")
        if (self.replicate_interval is None) != (self.replicate_interval_unit is None):
            raise ValueError("replicate_interval and replicate_interval_unit go together")
        return self


class JobCreate(JobFields):
    """A new job, optionally with its tasks (`queries`)."""

    workspace_id: str | None = Field(default=None, description="Default: the default workspace.")
    queries: list[str] = Field(
        default_factory=list,
        max_length=MAX_TASKS_PER_JOB,
        description=f"REPLICATE statements, at most {MAX_TASKS_PER_JOB}.",
    )


JobUpdate = partial(JobFields, "JobUpdate")


class LastRun(OutModel):
    """The latest run of a job, in brief."""

    id: str
    status: RunStatus
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    rows_written: int
    error: str | None


class JobBrief(OutModel):
    """A job as a list of jobs shows it: what it is and how it last ran, without the
    settings a list of a hundred jobs would validate a hundred times over."""

    id: str
    name: str
    type: JobType
    tasks_count: int
    status: str
    last_run: LastRun | None
    next_run_at: dt.datetime | None


class JobOut(JobFields):
    """A job as stored, with its latest run."""

    id: str
    workspace_id: str
    # Shown as stored: a value stored before the header checks must not break reading it.
    email_to: list[str] = Field(default_factory=list)
    email_subject: str = ""
    status: str = Field(description="The latest run's status, or idle.")
    tasks_count: int
    last_run: LastRun | None
    next_run_at: dt.datetime | None = Field(
        default=None, description="When the schedule fires next; none while it is disabled."
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @field_validator("pre_job_event", "post_job_event", mode="after")
    @classmethod
    def _hide_secret(cls, value: JobEvent | None) -> JobEvent | None:
        if value is not None and value.secret:
            return value.model_copy(update={"secret": "***"})
        return value
