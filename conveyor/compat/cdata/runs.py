"""A run in CData Sync's words: its statuses, and the rows both APIs show it as.

CData has fewer statuses than Conveyor's queue: the final ones are named
(`SUCCESS`, `FAILED`, `CANCELLED`) and every active one — pending, in progress,
canceling, suspended — is `RUNNING`, so a client polling until the status is no longer
RUNNING stops only at the end. A job that never ran is `NONE`.

Every row here is built from the runs service's `RunOut` (the same run
`/api/v1/runs/{id}` shows): v1's HistoryInfo and executeJob rows (PascalCase), v2's
history items and task results (lower snake_case).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from conveyor.crypto import redact
from conveyor.domain import RunStatus, TaskRunStatus
from conveyor.schemas.runs import RunOut, RunTaskOut

Row = dict[str, Any]
RUN_STATUS = {
    RunStatus.completed: "SUCCESS",
    RunStatus.error: "FAILED",
    RunStatus.canceled: "CANCELLED",
}
TASK_STATUS = {
    TaskRunStatus.completed: "SUCCESS",
    TaskRunStatus.error: "FAILED",
    TaskRunStatus.canceled: "CANCELLED",
    TaskRunStatus.skipped: "SKIPPED",
}
NEVER_RUN = "NONE"
DETAILS = {
    "completed": "Completed",
    "canceled": "Canceled",
    "pending": "Queued",
    "in_progress": "Running",
    "canceling": "Canceling",
    "suspended": "Suspended; it resumes when a worker is available",
}


def run_status(status: str | None) -> str:
    """A run's status in CData's words; `NONE` for a job that never ran."""
    if status is None or status == "idle":
        return NEVER_RUN
    return RUN_STATUS.get(RunStatus(status), "RUNNING")


def task_status(status: str) -> str:
    """A task result's status in CData's words."""
    return TASK_STATUS.get(TaskRunStatus(status), "RUNNING")


def runtime_ms(run: RunOut) -> int | None:
    """How long a run took (or has been taking), in milliseconds."""
    if run.started_at is None:
        return None
    end = run.completed_at or dt.datetime.now(dt.UTC)
    return max(0, int((end - run.started_at).total_seconds() * 1000))


def run_details(run: RunOut) -> str:
    """The one-line outcome CData shows in history: Completed, the error, or the state."""
    if run.error:
        return redact(run.error)
    return DETAILS.get(run.status.value, run.status.value)


# --- v1 (OData, PascalCase) ----------------------------------------------------------------


def history_row(run: RunOut) -> Row:
    """A run as CData's HistoryInfo: one row per run, `Id` and `InstanceId` its id."""
    return {
        "Id": run.id,
        "InstanceId": run.id,
        "JobId": run.job_id or run.transformation_id,
        "JobName": run.job_name,
        "RunStartDate": run.started_at or run.created_at,
        "RunEndDate": run.completed_at,
        "Status": run_status(run.status),
        "Details": run_details(run),
        "Runtime": runtime_ms(run),
        "RecordsAffected": run.stats.rows_written,
        "RowsRead": run.stats.rows_read,
        "RowsDeleted": run.stats.rows_deleted,
        "LogFile": f"{run.job_name}_{run.id}.log",
        "Trigger": run.trigger_method.value,
        "Kind": run.kind,
        "WorkspaceId": run.workspace_id,
    }


def query_row(run: RunOut, result: RunTaskOut) -> Row:
    """One query of a run, as CData's executeJob output row."""
    finished = result.status not in (TaskRunStatus.pending, TaskRunStatus.running)
    if finished:
        cdata = task_status(result.status)
    else:
        cdata = run_status(run.status) if run.status.is_final else "RUNNING"
    detail = (
        redact(result.error)
        if result.error
        else {"completed": "Completed", "skipped": "Skipped", "canceled": "Canceled"}.get(
            result.status.value, run_details(run)
        )
    )
    return {
        "JobName": run.job_name,
        "JobId": run.job_id or run.transformation_id,
        "RunId": run.id,
        "TaskId": result.task_id,
        "Query": result.query,
        "Table": result.table,
        "Status": cdata,
        "Result": result.rows_written if result.status is TaskRunStatus.completed else None,
        "Detail": detail,
        "RecordsAffected": result.rows_written,
        "RunStartDate": result.started_at or run.started_at or run.created_at,
    }


# --- v2 (lower snake_case) ------------------------------------------------------------------


def task_result(result: RunTaskOut) -> Row:
    """One task's outcome in one run."""
    return {
        "run_id": result.run_id,
        "task_id": result.task_id,
        "index": result.index,
        "query": result.query,
        "table": result.table,
        "status": task_status(result.status),
        "records_affected": result.rows_written,
        "rows_read": result.rows_read,
        "rows_deleted": result.rows_deleted,
        "error": result.error,
        "started_at": result.started_at,
        "completed_at": result.completed_at,
    }


def history_item(run: RunOut) -> Row:
    """A run as a v2 history entry."""
    return {
        "id": run.id,
        "job_id": run.job_id,
        "job_name": run.job_name,
        "status": run_status(run.status),
        "details": run_details(run),
        "run_start_date": run.started_at or run.created_at,
        "run_end_date": run.completed_at,
        "runtime": runtime_ms(run),
        "records_affected": run.stats.rows_written,
        "rows_read": run.stats.rows_read,
        "rows_deleted": run.stats.rows_deleted,
        "trigger": run.trigger_method.value,
        "tasks": [task_result(result) for result in run.tasks],
    }
