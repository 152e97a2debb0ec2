"""The vocabulary shared by every layer: statuses, job types, and a job's engine settings.

This module has no I/O and imports nothing of Conveyor's but `header_values` (a leaf
with the checks of header-bound text), so the store, the queue, the engine and the API
can all speak it without depending on one another.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from conveyor.header_values import HeaderText


class RunStatus(StrEnum):
    """The status of a run; the machine is Elastic's sync job machine."""

    pending = "pending"
    in_progress = "in_progress"
    canceling = "canceling"
    canceled = "canceled"
    completed = "completed"
    error = "error"
    suspended = "suspended"

    @property
    def is_final(self) -> bool:
        """Whether nothing can happen to the run any more."""
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({RunStatus.completed, RunStatus.canceled, RunStatus.error})
ACTIVE_STATUSES = frozenset(set(RunStatus) - FINAL_STATUSES)

TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.pending: frozenset({RunStatus.in_progress, RunStatus.canceled}),
    RunStatus.in_progress: frozenset(
        {RunStatus.canceling, RunStatus.completed, RunStatus.error, RunStatus.suspended}
    ),
    RunStatus.suspended: frozenset({RunStatus.in_progress, RunStatus.canceled}),
    RunStatus.canceling: frozenset({RunStatus.canceled, RunStatus.error}),
    RunStatus.completed: frozenset(),
    RunStatus.canceled: frozenset(),
    RunStatus.error: frozenset(),
}
"""Which status may follow which; anything else is an illegal transition."""


def can_transition(current: RunStatus, target: RunStatus) -> bool:
    """Whether a run in `current` may move to `target`."""
    return target in TRANSITIONS[current]


class RunLoad(StrEnum):
    """How a run loads: everything again (`full`), or only what changed (`incremental`).

    Called `job_type` on runs before (the run's `job_type` field stays, as an alias): the
    word now belongs to jobs alone (`standard`, `sync_all`, …)."""

    full = "full"
    incremental = "incremental"


class TriggerMethod(StrEnum):
    """What started a run."""

    on_demand = "on_demand"
    scheduled = "scheduled"
    retry = "retry"
    datafeed = "datafeed"


class TaskRunStatus(StrEnum):
    """The outcome of one task inside a run."""

    pending = "pending"
    running = "running"
    completed = "completed"
    error = "error"
    skipped = "skipped"
    canceled = "canceled"


MAX_TASKS_PER_JOB = 1000
"""A job's tasks at most: past that, REPLICATE ALL (one task for every table) is the tool,
and a run's plan, its log and the task lists of every surface stay a readable size."""


class JobType(StrEnum):
    """What a job does with its tasks (CData Sync's job types)."""

    standard = "standard"
    sync_all = "sync_all"
    load_folder = "load_folder"
    change_data_capture = "change_data_capture"
    reverse_etl = "reverse_etl"


class DeletionBehavior(StrEnum):
    """What happens in the destination to rows deleted in the source, found by key (a
    history load ends their versions instead, unless they are skipped)."""

    hard_delete = "hard_delete"
    """They are deleted from the destination too."""
    soft_delete = "soft_delete"
    """They stay, flagged in the column `_conveyor_deleted`."""
    skip_delete = "skip_delete"
    """They stay as they are: deletes are not looked for."""


class IntervalUnit(StrEnum):
    """Unit of `replicate_interval`."""

    minutes = "minutes"
    hours = "hours"
    days = "days"
    weeks = "weeks"
    months = "months"
    years = "years"


class ExportFormat(StrEnum):
    """File formats an export job can write."""

    csv = "csv"
    xlsx = "xlsx"
    json = "json"
    ndjson = "ndjson"
    parquet = "parquet"


class Role(StrEnum):
    """What a user may do: admin everything, standard all but users, viewer only read."""

    admin = "admin"
    standard = "standard"
    viewer = "viewer"


class JobEvent(BaseModel):
    """An HTTP hook called before or after a job run."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[
        HeaderText, Field(pattern=r"^https?://\S+$", description="Where the event is POSTed.")
    ]
    secret: str | None = Field(
        default=None, description="HMAC-SHA256 key for the signature header (write-only)."
    )
    timeout: float = Field(default=10.0, gt=0, le=300, description="Seconds to wait.")


class CdcEngineSettings(BaseModel):
    """Settings of the change data capture engine (CData's CDC_Engine_Settings).

    `name` names the job's replication slot and publication on the source, so it must be
    a valid slot name there (lower-case letters, digits and `_`); by default it is derived
    from the job id, which keeps two jobs from ever sharing a slot."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(
        default=None,
        pattern=r"^[a-z_][a-z0-9_]*$",
        max_length=50,
        description="The source's replication slot and publication name (default: from the "
        "job id); lower-case letters, digits and underscores.",
    )
    schema_: str | None = Field(default=None, alias="schema", description="CData's Schema.")
    continuous: bool = Field(
        default=False,
        description="Stream until canceled instead of draining the log up to the run's start.",
    )
    flush_interval: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description="Continuous mode: seconds at most between two destination commits.",
    )


def _split_columns(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class EngineSettings(BaseModel):
    """The job settings that change how data is copied; a task may override each one.

    Field names are CData Sync's v2 body parameters in lower snake_case.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    truncate_table_data: bool = Field(
        default=False, description="Delete all destination rows before each load."
    )
    drop_table: bool = Field(
        default=False, description="Drop and recreate the destination table before each load."
    )
    alter_schema: bool = Field(
        default=True,
        description="Add columns and widen types when the source's columns change.",
    )
    auto_truncate_strings: bool = Field(
        default=False, description="Cut strings that are too long for the destination column."
    )
    continue_on_error: bool = Field(
        default=False, description="Go on with the next task when one fails."
    )
    destination_schema: str | None = Field(
        default=None, max_length=128, description="Schema of the destination tables."
    )
    table_name_prefix: HeaderText = Field(
        default="",
        max_length=64,
        description="Prefix for every destination table name (and export file name).",
    )
    use_gmt_datetime: bool = Field(
        default=False, description="Write timestamps in GMT rather than the server's zone."
    )
    history_mode: bool = Field(
        default=False, description="Keep every version of a row (SCD type 2)."
    )
    deletion_behavior: DeletionBehavior = Field(
        default=DeletionBehavior.hard_delete,
        description="hard_delete, soft_delete (column _conveyor_deleted) or skip_delete.",
    )
    replicate_interval: int | None = Field(
        default=None, ge=1, description="Size of each window of a chunked load."
    )
    replicate_interval_unit: IntervalUnit | None = Field(
        default=None, description="Unit of replicate_interval."
    )
    replicate_start_date: dt.date | None = Field(
        default=None, description="Only rows from this date on (yyyy-MM-dd)."
    )
    batch_size: int | None = Field(
        default=None, ge=1, le=10_000_000, description="Rows per batch read and written."
    )
    enable_parallel_processing: bool = Field(
        default=False, description="Run the job's tasks in parallel."
    )
    worker_pool: int = Field(
        default=1, ge=1, le=64, description="How many tasks run at once in parallel mode."
    )
    incremental_check_columns: Annotated[list[str], BeforeValidator(_split_columns)] = Field(
        default_factory=list,
        description="Candidate check columns for incremental loads, first existing one wins: "
        "a timestamp, date, number or ISO-8601 text (compared as text); a column of another "
        "type is refused.",
    )
    command_timeout: int | None = Field(
        default=None,
        ge=1,
        description="Seconds a single source or destination command may take: each statement "
        "(lookups, DDL, swaps, merges, transformations) is stopped past it; a bulk read or load, "
        "when no batch moves for that long. None: no limit.",
    )
    verbosity: Literal[1, 2, 3, 5] = Field(
        default=2,
        description="What a run logs and mails (CData's scale): 1 errors and warnings, "
        "2 info (the default), 3 detail, 5 debug.",
    )
    cdc_engine_settings: CdcEngineSettings | None = Field(
        default=None,
        description="Change data capture jobs: {name, continuous, flush_interval}.",
    )
    export_format: ExportFormat | None = Field(
        default=None,
        description="Export jobs: the format of the files written; a task may write another "
        "(`REPLICATE [t] WITH ExportFormat='csv' …`), so one run can deliver several formats.",
    )


class Schedule(BaseModel):
    """When a job runs by itself."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    cron: str = ""

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        value = value.strip()
        if value:
            from croniter import croniter

            if not croniter.is_valid(value):
                raise ValueError(f"{value!r} is not a valid cron expression")
        return value


LOG_VERBOSITY: dict[str, int] = {"error": 1, "warning": 1, "info": 2, "detail": 3, "debug": 5}
"""The least verbosity (CData's scale: 1, 2, 3, 5) at which a run keeps a line of each level."""


def logged_at(level: str, verbosity: int) -> bool:
    """Whether a run at `verbosity` keeps a log line of `level` (unknown levels count as info)."""
    return LOG_VERBOSITY.get(level, 2) <= verbosity


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)
