"""Request and response bodies of runs.

How a run loads is `load` (full | incremental). Runs called it `job_type` before, the word
jobs use for their own type (standard, sync_all, …); `job_type` stays on runs as a
deprecated alias, in and out, for clients written against the earlier field.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from conveyor.domain import ExportFormat, RunLoad, RunStatus, TaskRunStatus, TriggerMethod
from conveyor.schemas.common import OutModel, StrictModel
from conveyor.schemas.tasks import TaskPlace


class ExecuteRequest(StrictModel):
    """Start a run of a job."""

    tasks: list[str] | None = Field(
        default=None,
        description="The tasks to run, each named by its id, its statement (spacing and case "
        "aside) or its table (every task loading that table); default: every active task.",
    )
    load: RunLoad | None = Field(
        default=None,
        description="incremental (default) or full: copy everything again, reset cursors.",
    )
    job_type: RunLoad | None = Field(
        default=None,
        json_schema_extra={"deprecated": True},  # in the docs, without runtime warnings
        description="Deprecated alias of `load`; a request giving both with different "
        "values is refused (422).",
    )
    priority: int | None = Field(default=None, ge=-1000, le=1000)
    format: ExportFormat | None = Field(
        default=None,
        description="Export jobs only: the format this run writes, instead of the job's "
        "export_format (see GET /api/v1/files/formats).",
    )
    wait: bool = Field(default=False, description="Answer when the run is final.")
    timeout: float = Field(default=60.0, gt=0, le=3600, description="Seconds to wait.")


class CdcStatus(OutModel):
    """Where a change data capture run stands in the source's log."""

    position: str | None = Field(default=None, description="The log position applied up to.")
    lag_seconds: float | None = Field(
        default=None, description="How far the destination is behind the source's commits."
    )
    retained_bytes: int | None = Field(
        default=None, description="WAL the job's slot keeps on the source."
    )


class RunStats(OutModel):
    """What a run moved."""

    rows_read: int
    rows_written: int
    rows_deleted: int
    rows_inserted: int = Field(default=0, description="CDC: inserts read from the log.")
    rows_updated: int = Field(default=0, description="CDC: updates read from the log.")
    bytes_written: int
    tasks_total: int
    tasks_done: int


class RunTaskOut(TaskPlace):
    """One task's outcome within a run."""

    run_id: str
    task_id: str
    status: TaskRunStatus
    rows_read: int
    rows_written: int
    rows_deleted: int
    rows_inserted: int = 0
    rows_updated: int = 0
    cdc: CdcStatus | None = None
    error: str | None
    started_at: dt.datetime | None
    completed_at: dt.datetime | None


class RunOut(OutModel):
    """A run: one execution of a job, from queue to final status."""

    id: str
    workspace_id: str
    kind: str = Field(description="job, or transformation")
    job_id: str | None
    transformation_id: str | None
    job_name: str
    load: RunLoad = Field(description="How the run loads: full or incremental.")
    job_type: RunLoad = Field(
        validation_alias="load",
        json_schema_extra={"deprecated": True},  # in the docs, without runtime warnings
        description="Deprecated alias of `load`, with the same value.",
    )
    trigger_method: TriggerMethod
    status: RunStatus
    priority: int
    unicity: str | None = Field(description="At most one active run per key (the job's id).")
    executor: str = Field(description="conveyor (its workers), or external (Elastic's).")
    attempt: int
    max_attempts: int
    created_by: str | None = Field(description="The user who started it; none when scheduled.")
    scheduled_at: dt.datetime
    created_at: dt.datetime
    updated_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    canceled_at: dt.datetime | None
    cancelation_requested_at: dt.datetime | None
    last_seen: dt.datetime | None
    worker_hostname: str | None
    progress: float
    error: str | None
    stats: RunStats
    cdc: CdcStatus | None = Field(
        default=None, description="Change data capture runs: where the run stands in the log."
    )
    tasks: list[RunTaskOut]


class RunBrief(OutModel):
    """A run as a list shows it: what it is, how it stands, what it moved — without its
    tasks' outcomes, which a list of a hundred runs would read a hundred times over."""

    id: str
    kind: str
    job_id: str | None
    transformation_id: str | None
    job_name: str
    status: RunStatus
    trigger_method: TriggerMethod
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    error: str | None
    stats: RunStats


class RunLogOut(OutModel):
    """One log line of a run."""

    id: int
    ts: dt.datetime
    level: str
    message: str
    task_id: str | None


class JobLogOut(RunLogOut):
    """One log line of one of a job's runs."""

    run_id: str
