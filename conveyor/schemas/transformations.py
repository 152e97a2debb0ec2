"""Request and response bodies of transformations."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from conveyor.header_values import EmailAddresses, HeaderText
from conveyor.schemas.common import StrictModel, partial


class TriggerMode(StrEnum):
    """When a transformation runs."""

    manual = "manual"
    after_job = "after_job"
    scheduled = "scheduled"


class TransformationFields(StrictModel):
    """SQL statements run, in order, on a destination connection."""

    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
    connection_id: str = Field(description="The connection the SQL runs on.")
    queries: list[Annotated[str, Field(min_length=1, max_length=100_000)]] = Field(
        min_length=1, description="SQL statements in the connection's dialect, run in order."
    )
    trigger_mode: TriggerMode = Field(default=TriggerMode.manual)
    trigger_after_job_id: str | None = Field(default=None, description="after_job: which job.")
    trigger_tasks: list[str] = Field(
        default_factory=list, description="after_job: only when one of these tasks loaded rows."
    )
    schedule_cron: str = Field(default="", description="scheduled: a cron expression.")
    send_email: bool = False
    email_to: EmailAddresses = Field(default_factory=list)
    email_subject: HeaderText = Field(default="", max_length=500)
    email_error_only: bool = False
    verbosity: Literal[1, 2, 3, 5] = 2
    command_timeout: int | None = Field(default=None, ge=1)
    max_attempts: int = Field(default=1, ge=1, le=100)

    @field_validator("schedule_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        value = value.strip()
        if value and not croniter.is_valid(value):
            raise ValueError(f"{value!r} is not a valid cron expression")
        return value

    @model_validator(mode="after")
    def _trigger_complete(self) -> TransformationFields:
        if self.trigger_mode is TriggerMode.after_job and not self.trigger_after_job_id:
            raise ValueError("trigger_mode after_job needs trigger_after_job_id")
        if self.trigger_mode is TriggerMode.scheduled and not self.schedule_cron:
            raise ValueError("trigger_mode scheduled needs schedule_cron")
        if self.send_email and not self.email_to:
            raise ValueError("send_email needs email_to")
        return self


class TransformationCreate(TransformationFields):
    """A new transformation."""

    workspace_id: str | None = None


TransformationUpdate = partial(TransformationFields, "TransformationUpdate")


class TransformationOut(TransformationFields):
    """A transformation as stored, with its latest run's status."""

    id: str
    workspace_id: str
    # Shown as stored: a value stored before the header checks must not break reading it.
    email_to: list[str] = Field(default_factory=list)
    email_subject: str = ""
    status: str
    last_run_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
