"""CData v1 entity sets `jobs` and `tasks`.

A job row is CData's JobInfo (`JobId`, `JobName`, `Source`, `Destination`, `Status`, the
settings in v1's PascalCase); a job body is translated by `cdata.jobs`, as v2's are. Tasks
are addressed the ways CData's clients address them: `tasks('<JobName>')` (the job's
tasks), `tasks(JobName='…',TaskId='…')`, or keyless with `JobName` and `TaskId` in the
body (`PUT /tasks`) or the query (`DELETE /tasks?JobName=&TaskId=`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import case

from conveyor.compat.cdata.bodies import Fields, model, to_bool, to_int, to_text
from conveyor.compat.cdata.jobs import DELETION_NAMES, JOB_TYPE_NAMES, JobBody, job_fields
from conveyor.compat.cdata.odata.entities import EntitySet, Key, Row, can_write, status_column
from conveyor.compat.cdata.odata.query import QueryOptions
from conveyor.compat.cdata.odata.sql import Columns, column
from conveyor.compat.cdata.runs import NEVER_RUN, run_status
from conveyor.domain import DeletionBehavior
from conveyor.errors import InvalidInput
from conveyor.schemas.common import Ref
from conveyor.schemas.jobs import JobOut
from conveyor.schemas.tasks import TaskCreate, TaskOut, TaskUpdate
from conveyor.services import connections, jobs, listing, tasks, workspaces
from conveyor.services.context import Context

# --- jobs --------------------------------------------------------------------------------

JOB_PROPERTIES = (
    *("JobId", "JobName", "Source", "Destination", "Status", "Type", "Scheduled"),
    *("ScheduledCron", "Verbosity", "SendEmailNotification", "NotifyEmailTo"),
    *("NotifyEmailSubject", "EmailErrorOnly", "TableNamePrefix", "UseGmtDateTime"),
    *("TruncateTableData", "DropTable", "AutoTruncateStrings", "ContinueOnError"),
    *("AlterSchema", "ReplicateInterval", "ReplicateIntervalUnit", "ReplicateStartDate"),
    *("BatchSize", "CommandTimeout", "SkipDeleted", "DeletionBehavior", "DestinationSchema"),
    *("HistoryMode", "EnableParallelProcessing", "WorkerPool", "IncrementalCheckColumns"),
    *("Labels", "PreJob", "PostJob", "WorkspaceId", "LastRunId", "LastRunDate"),
    *("CreationTime", "LastModified", "CanUpdate", "CanRemove", "CanExecute"),
)


def _connection_name(ctx: Context, connection_id: str | None) -> str | None:
    return connections.ref(ctx, connection_id).name if connection_id else None


def job_row(ctx: Context, job: JobOut) -> Row:
    """A job as CData's JobInfo."""
    data = job_fields(job)
    run = job.last_run
    writable = can_write(ctx)
    return {
        "JobId": job.id,
        "JobName": job.name,
        "Source": _connection_name(ctx, job.source_connection_id),
        "Destination": _connection_name(ctx, job.destination_connection_id),
        "Status": run_status(job.status),
        "Type": JOB_TYPE_NAMES[data.type],
        "Scheduled": data.schedule.enabled,
        "ScheduledCron": data.schedule.cron,
        "Verbosity": data.verbosity,
        "SendEmailNotification": data.send_email,
        "NotifyEmailTo": ",".join(data.email_to),
        "NotifyEmailSubject": data.email_subject,
        "EmailErrorOnly": data.email_error_only,
        "TableNamePrefix": data.table_name_prefix,
        "UseGmtDateTime": data.use_gmt_datetime,
        "TruncateTableData": data.truncate_table_data,
        "DropTable": data.drop_table,
        "AutoTruncateStrings": data.auto_truncate_strings,
        "ContinueOnError": data.continue_on_error,
        "AlterSchema": data.alter_schema,
        "ReplicateInterval": data.replicate_interval,
        "ReplicateIntervalUnit": data.replicate_interval_unit,
        "ReplicateStartDate": data.replicate_start_date,
        "BatchSize": data.batch_size,
        "CommandTimeout": data.command_timeout,
        "SkipDeleted": data.deletion_behavior is DeletionBehavior.skip_delete,
        "DeletionBehavior": DELETION_NAMES[DeletionBehavior(data.deletion_behavior)],
        "DestinationSchema": data.destination_schema,
        "HistoryMode": data.history_mode,
        "EnableParallelProcessing": data.enable_parallel_processing,
        "WorkerPool": data.worker_pool,
        "IncrementalCheckColumns": ",".join(data.incremental_check_columns),
        "Labels": ",".join(data.labels),
        "PreJob": data.pre_job_event.url if data.pre_job_event else None,
        "PostJob": data.post_job_event.url if data.post_job_event else None,
        "WorkspaceId": job.workspace_id,
        "LastRunId": run.id if run else None,
        "LastRunDate": (run.started_at or run.created_at) if run else None,
        "CreationTime": job.created_at,
        "LastModified": job.updated_at,
        "CanUpdate": writable,
        "CanRemove": writable,
        "CanExecute": writable,
    }


def _job_columns() -> Columns:
    """The job properties in the store; the settings (inside a JSON document) are not."""
    c = jobs.COLUMNS
    types = {name: (kind.value,) for kind, name in JOB_TYPE_NAMES.items()}
    return {
        "JobId": column(c["id"]),
        "JobName": column(c["name"]),
        "Source": column(c["source_name"], str),
        "Destination": column(c["destination_name"], str),
        "Status": status_column(c["last_run_status"], NEVER_RUN),
        "Type": column(
            case(*((c["type"] == kind.value, name) for kind, name in JOB_TYPE_NAMES.items())),
            str,
            words=(c["type"], types),
        ),
        "Scheduled": column(c["schedule_enabled"]),
        "ScheduledCron": column(c["schedule_cron"]),
        "WorkspaceId": column(c["workspace_id"]),
        "LastRunId": column(c["last_run_id"], str),
        "LastRunDate": column(c["last_run_start"], dt.datetime),
        "CreationTime": column(c["created_at"]),
        "LastModified": column(c["updated_at"]),
    }


def _job_rows(ctx: Context, workspace_id: str | None, options: QueryOptions) -> list[Row]:
    return JOBS.select(ctx, workspace_id, options).rows


def _search_jobs(
    ctx: Context, workspace_id: str | None, query: listing.Query
) -> listing.Found[Row]:
    found = jobs.search(ctx, query, workspace_id)
    return listing.Found([job_row(ctx, job) for job in jobs.to_outs(ctx, found.rows)], found.total)


def _job_key(key: Key) -> str:
    value = key.get("JobName", "JobId")
    if value is None:
        raise InvalidInput("a job key is its JobName or JobId", field="key")
    return value


def _create_job(ctx: Context, fields: Fields, workspace_id: str | None) -> Row:
    workspace = workspaces.resolve(ctx, workspace_id)
    data = JobBody(ctx, fields, workspace).new_job()
    return job_row(ctx, jobs.to_out(ctx, jobs.create(ctx, data)))


def _update_job(ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None) -> Row:
    name = _job_key(key) if key else to_text(fields.get("JobId", "JobName"))
    job = jobs.to_out(ctx, jobs.find(ctx, name, workspace_id))
    fields.get("JobId")
    body = JobBody(ctx, fields, job.workspace_id)
    changes = body.changes_to(job_fields(job), ("Query", "the tasks entity set"))
    return job_row(ctx, jobs.to_out(ctx, jobs.update(ctx, job.id, changes)))


def _delete_job(ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None) -> None:
    name = _job_key(key) if key else to_text(fields.get("JobName", "JobId"))
    jobs.delete(ctx, jobs.ref(ctx, name, workspace_id).id)


JOBS = EntitySet(
    name="jobs",
    properties=JOB_PROPERTIES,
    key=("JobName",),
    rows=_job_rows,
    get=lambda ctx, key, ws: job_row(ctx, jobs.to_out(ctx, jobs.find(ctx, _job_key(key), ws))),
    create=_create_job,
    update=_update_job,
    delete=_delete_job,
    columns=_job_columns(),
    search=_search_jobs,
)

# --- tasks -------------------------------------------------------------------------------

TASK_PROPERTIES = (
    "TaskId",
    "JobId",
    "JobName",
    "Index",
    "Query",
    "Table",
    "IsActive",
    "RowVersion",
)


def task_row(job_name: str, task: TaskOut) -> Row:
    """A task as CData's TaskInfo."""
    return {
        "TaskId": task.id,
        "JobId": task.job_id,
        "JobName": job_name,
        "Index": task.index,
        "Query": task.query,
        "Table": task.table,
        "IsActive": task.is_active,
        "RowVersion": int(task.updated_at.timestamp() * 1000),
    }


def _task_query(fields: Fields) -> str | None:
    """`Query`, or a `Table` to copy as it is (`REPLICATE [Table]`)."""
    query, table = fields.get("Query"), fields.get("Table")
    if query not in (None, ""):
        return to_text(query)
    if table not in (None, ""):
        return "REPLICATE [" + to_text(table).replace("]", "]]") + "]"
    return None


def _task_job(ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None) -> Ref:
    name = (key.get("JobName", "JobId") if key else None) or to_text(fields.get("JobName", "JobId"))
    if not name:
        raise InvalidInput("JobName (or JobId) is required", field="JobName")
    return jobs.ref(ctx, name, workspace_id)


def _get_tasks(ctx: Context, key: Key, workspace_id: str | None) -> Row | list[Row]:
    job = _task_job(ctx, key, Fields({}), workspace_id)
    task_id = key.values.get("taskid")
    if task_id is not None:
        return task_row(job.name, tasks.to_out(tasks.get(ctx, job.id, task_id)))
    return [task_row(job.name, tasks.to_out(task)) for task in tasks.list_(ctx, job.id)]


def _create_task(ctx: Context, fields: Fields, workspace_id: str | None) -> Row:
    job = _task_job(ctx, None, fields, workspace_id)
    return _add_task(ctx, job, fields)


TASK_NAMES = {"query": "Query", "is_active": "IsActive", "index": "Index"}
"""Task fields: native → CData."""


def _add_task(ctx: Context, job: Ref, fields: Fields) -> Row:
    query = _task_query(fields)
    if query is None:
        raise InvalidInput("a task needs a Query (or a Table)", field="Query")
    index = fields.get("Index")
    data = model(
        TaskCreate,
        TASK_NAMES,
        query=query,
        is_active=to_bool(fields.get("IsActive", default=True), "IsActive"),
        index=None if index in (None, "") else to_int(index, "Index"),
    )
    fields.refuse_unknown("WorkspaceId")
    return task_row(job.name, tasks.to_out(tasks.create(ctx, job.id, data)))


def _update_task(ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None) -> Row:
    job = _task_job(ctx, key, fields, workspace_id)
    task_id = (key.values.get("taskid") if key else None) or to_text(fields.get("TaskId"))
    if not task_id:
        return _add_task(ctx, job, fields)  # PUT /tasks('<JobName>') without a TaskId adds one
    index, active = fields.get("Index"), fields.get("IsActive")
    data = model(
        TaskUpdate,
        TASK_NAMES,
        query=_task_query(fields),
        is_active=None if active is None else to_bool(active, "IsActive"),
        index=None if index in (None, "") else to_int(index, "Index"),
    )
    fields.refuse_unknown("WorkspaceId", "RowVersion")
    return task_row(job.name, tasks.to_out(tasks.update(ctx, job.id, task_id, data)))


def _delete_task(ctx: Context, key: Key | None, fields: Fields, workspace_id: str | None) -> None:
    job = _task_job(ctx, key, fields, workspace_id)
    task_id = (key.values.get("taskid") if key else None) or to_text(fields.get("TaskId"))
    if not task_id:
        raise InvalidInput("TaskId is required to delete a task", field="TaskId")
    tasks.delete(ctx, job.id, task_id)


TASKS = EntitySet(
    name="tasks",
    properties=TASK_PROPERTIES,
    key=("TaskId",),
    rows=lambda ctx, ws, _o: [task_row(name, task) for name, task in tasks.visible(ctx, ws)],
    get=_get_tasks,
    create=_create_task,
    update=_update_task,
    delete=_delete_task,
)
