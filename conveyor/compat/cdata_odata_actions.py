"""CData v1 actions: run, watch and cancel jobs, read their logs, explore connections.

    POST /api.rsc/executeJob       JobName|JobId, WaitForResults, Timeout → one row per query
    POST /api.rsc/executeQuery     … and Query#1…n: only those of the job's tasks
    POST /api.rsc/cancelJob        JobName|JobId
    POST /api.rsc/getJobStatus     JobName|JobId (none: every job)
    POST /api.rsc/getJobLog        JobName|JobId, Days (or RunId): the log as text
    POST /api.rsc/getlogs          the same (what the MCP client calls)
    POST /api.rsc/testConnection, getConnectionTables, getConnectionTableColumns,
         getAddingTablesForJob, createUsers

A job name may also name a transformation, as in CData ("execute a job or a
transformation"). `getJobStatus` answers in both shapes clients read: the job's `JobId`,
`JobName`, `Status` and `Queries` at the top level (CData's MCP client reads them there),
and one row per query in `value` (where an OData client looks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from conveyor.compat.cdata_common import (
    RT,
    CDataJSONResponse,
    Fields,
    JSONBody,
    V1Caller,
    V1Ctx,
    drain,
    iso,
    odata_error,
    requested_workspace,
    run_details,
    run_status,
    task_status,
    to_bool,
    to_int,
    to_text,
)
from conveyor.compat.cdata_odata_resources import create_user, user_row
from conveyor.crypto import redact
from conveyor.domain import RunStatus, TaskRunStatus
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.schemas.runs import ExecuteRequest
from conveyor.services import connections, jobs, runs, tasks, transformations
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, RunLog, RunTask, Transformation

router = APIRouter(tags=["CData Sync v1 (OData)"])
MAX_WAIT = 3600.0
Row = dict[str, Any]


def _context(request: Request, fragment: str) -> str:
    return f"{request.base_url}api.rsc/$metadata#{fragment}"


def _collection(request: Request, output: str, rows: list[Row], **top: Any) -> Response:
    body = {"@odata.context": _context(request, f"Collection(CData.{output})"), **top}
    body["value"] = rows
    return CDataJSONResponse(body)


def _target(ctx: Context, fields: Fields, workspace_id: str | None) -> Job | Transformation:
    """The job (or else the transformation) named by `JobId` or `JobName`."""
    key = to_text(fields.get("JobId")) or to_text(fields.get("JobName"))
    if not key:
        raise InvalidInput("JobName or JobId is required", field="JobName")
    try:
        return jobs.find(ctx, key, workspace_id)
    except NotFound:
        try:
            return transformations.get(ctx, key, workspace_id)
        except NotFound:
            raise NotFound(f"job {key} not found") from None


def query_row(run: Run, result: RunTask) -> Row:
    """One query of a run, as CData's executeJob output row."""
    status = TaskRunStatus(result.status)
    finished = status not in (TaskRunStatus.pending, TaskRunStatus.running)
    if finished:
        cdata = task_status(result.status)
    else:
        cdata = run_status(run.status) if RunStatus(run.status).is_final else "RUNNING"
    detail = (
        redact(result.error)
        if result.error
        else {"completed": "Completed", "skipped": "Skipped", "canceled": "Canceled"}.get(
            result.status, run_details(run)
        )
    )
    return {
        "JobName": run.job_name,
        "JobId": run.job_id or run.transformation_id,
        "RunId": run.id,
        "TaskId": result.task_id,
        "Query": result.query,
        "Table": result.table_name,
        "Status": cdata,
        "Result": result.rows_written if status is TaskRunStatus.completed else None,
        "Detail": detail,
        "RecordsAffected": result.rows_written,
        "RunStartDate": result.started_at or run.started_at or run.created_at,
    }


async def _execute(
    rt: RT, principal: V1Caller, request: Request, body: dict[str, Any], *, subset: bool
) -> Response:
    fields = Fields(body)
    wait = to_bool(fields.get("WaitForResults", default=True), "WaitForResults")
    timeout = float(to_int(fields.get("Timeout", default=0), "Timeout")) or MAX_WAIT

    def enqueue() -> str:
        with rt.unit(principal) as ctx:
            target = _target(ctx, fields, requested_workspace(ctx, request, fields))
            if isinstance(target, Transformation):
                return transformations.execute(ctx, target.id).id
            chosen = fields.numbered("Query") if subset else None
            if subset and not chosen:
                raise InvalidInput("executeQuery needs Query#1…", field="Query#1")
            return runs.execute(ctx, target.id, ExecuteRequest(tasks=chosen)).id

    run_id = await run_in_threadpool(enqueue)
    if wait:
        await runs.wait_until_final(rt.factory, run_id, min(timeout, MAX_WAIT))

    def read() -> list[Row]:
        with rt.unit(principal) as ctx:
            run = runs.get(ctx, run_id)
            return [query_row(run, result) for result in run.task_results]

    return _collection(request, "executeJobOutput", await run_in_threadpool(read))


@router.post("/api.rsc/executejob", name="cdata_execute_job")
async def execute_job(rt: RT, principal: V1Caller, request: Request, body: JSONBody) -> Response:
    """Start a job (or transformation); with WaitForResults, answer when it is final."""
    return await _execute(rt, principal, request, body, subset=False)


@router.post("/api.rsc/executequery", name="cdata_execute_query")
async def execute_query(rt: RT, principal: V1Caller, request: Request, body: JSONBody) -> Response:
    """Run only some of a job's queries (`Query#1…`)."""
    return await _execute(rt, principal, request, body, subset=True)


def _active_transformation_run(ctx: Context, item: Transformation) -> Run:
    run = transformations.last_run(ctx, item)
    if run is None or RunStatus(run.status).is_final:
        raise Conflict(f"transformation {item.name!r} has no active run to cancel")
    return runs.cancel(ctx, run.id)


@router.post("/api.rsc/canceljob", name="cdata_cancel_job")
def cancel_job(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """Cancel the job's active run: a queued one at once, a running one within seconds."""
    fields = Fields(body)
    target = _target(ctx, fields, requested_workspace(ctx, request, fields))
    if isinstance(target, Transformation):
        run = _active_transformation_run(ctx, target)
    else:
        run = runs.cancel_job(ctx, target.id)
    row = {
        "JobId": target.id,
        "JobName": target.name,
        "RunId": run.id,
        "Status": run_status(run.status),
        "Detail": "Canceled" if run.status == "canceled" else "Cancellation requested",
    }
    return _collection(request, "cancelJobOutput", [row], **row)


def _status_rows(ctx: Context, target: Job | Transformation) -> tuple[Row, list[Row]]:
    run = (
        jobs.last_run(ctx, target)
        if isinstance(target, Job)
        else transformations.last_run(ctx, target)
    )
    top: Row = {
        "JobId": target.id,
        "JobName": target.name,
        "Status": run_status(run.status if run else None),
        "RunId": run.id if run else None,
        "RunStartDate": (run.started_at or run.created_at) if run else None,
        "Detail": run_details(run) if run else "The job has not run yet",
        "RecordsAffected": run.rows_written if run else 0,
    }
    if run is not None:
        queries = [query_row(run, result) for result in run.task_results]
    elif isinstance(target, Job):
        queries = [
            {
                "JobName": target.name,
                "JobId": target.id,
                "TaskId": t.id,
                "Query": t.query,
                "Table": t.table_name,
                "Status": run_status(None),
                "Result": None,
                "Detail": "The job has not run yet",
                "RecordsAffected": 0,
                "RunStartDate": None,
            }
            for t in tasks.list_(ctx, target.id)
        ]
    else:
        queries = []
    return top, queries


@router.post("/api.rsc/getjobstatus", name="cdata_get_job_status")
def get_job_status(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """A job's status with one row per query, or (no job named) every job's status."""
    fields = Fields(body)
    fields.get("PushOnQuery")
    workspace = requested_workspace(ctx, request, fields)
    if fields.has("JobId", "JobName"):
        top, queries = _status_rows(ctx, _target(ctx, fields, workspace))
        return _collection(request, "getJobStatusOutput", queries or [top], **top, Queries=queries)
    query = {"workspace_id": workspace} if workspace else {}
    rows = [_status_rows(ctx, job)[0] for job in drain(lambda q: jobs.list_(ctx, q), query)]
    return _collection(request, "getJobStatusOutput", rows)


def _log_text(ctx: Context, fields: Fields, workspace_id: str | None) -> str:
    run_id = to_text(fields.get("RunId", "HistoryId", "Id"))
    if run_id:
        run = runs.get(ctx, run_id)
        lines = drain(lambda q: runs.logs(ctx, run.id, q), {})
    else:
        target = _target(ctx, fields, workspace_id)
        if not isinstance(target, Job):
            raise InvalidInput("logs of a transformation are read by RunId", field="RunId")
        days = to_int(fields.get("Days", default=1), "Days")
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=max(days, 1))
        lines = drain(lambda q: runs.job_logs(ctx, target.id, since, q), {})
    by_run: dict[str, list[RunLog]] = {}
    for line in lines:
        by_run.setdefault(line.run_id, []).append(line)
    text: list[str] = []
    for run_id, run_lines in by_run.items():
        run = runs.get(ctx, run_id)
        text.append(f"=== run {run.id} of {run.job_name}: {run_status(run.status)} ===")
        text.extend(
            f"{iso(line.ts)} [{line.level.upper()}] {redact(line.message)}" for line in run_lines
        )
    return "\n".join(text) + ("\n" if text else "")


def _job_log(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    fields = Fields(body)
    return PlainTextResponse(_log_text(ctx, fields, requested_workspace(ctx, request, fields)))


@router.post("/api.rsc/getjoblog", name="cdata_get_job_log")
def get_job_log(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """The log lines of the job's runs of the last `Days` days, as text."""
    return _job_log(ctx, request, body)


@router.post("/api.rsc/getlogs", name="cdata_get_logs")
def get_logs(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """The same as getJobLog, where the MCP client asks for it."""
    return _job_log(ctx, request, body)


def _connection(ctx: Context, request: Request, fields: Fields) -> Any:
    name = to_text(fields.get("ConnectionName", "Name", "ConnectionId"))
    if not name:
        raise InvalidInput("ConnectionName is required", field="ConnectionName")
    return connections.find(ctx, name, requested_workspace(ctx, request, fields))


@router.post("/api.rsc/testconnection", name="cdata_test_connection")
def test_connection(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """Test a connection; a failure is an error response (its outcome is still saved)."""
    fields = Fields(body)
    connection = _connection(ctx, request, fields)
    result = connections.test(ctx, connection.id)
    if not result.ok:
        return odata_error(400, "ConnectionTestFailed", f"{connection.name}: {result.error}")
    row = {
        "ConnectionName": connection.name,
        "Status": "SUCCESS",
        "Details": "The connection test succeeded",
        "DurationMs": round(result.duration_ms, 1),
    }
    return _collection(request, "testConnectionOutput", [row], **row)


def _table_rows(fields: Fields, found: list[dict[str, Any]]) -> list[Row]:
    kind = to_text(fields.get("TableOrView", default="ALL")).upper()
    schema = to_text(fields.get("Schema"))
    with_schema = to_bool(fields.get("IncludeSchema", default=False), "IncludeSchema")
    fields.get("IncludeCatalog")
    skip = to_int(fields.get("SkipTable", default=0), "SkipTable")
    top = fields.get("TopTable")
    rows = [
        {
            "TableName": f"{t['schema']}.{t['name']}" if with_schema and t["schema"] else t["name"],
            "SchemaName": t["schema"],
            "CatalogName": None,
            "TableType": "VIEW" if t["kind"] == "view" else "TABLE",
            "RowEstimate": t["row_estimate"],
        }
        for t in found
        if (not schema or t["schema"] == schema)
        and (kind in ("", "ALL") or (kind.startswith("VIEW") == (t["kind"] == "view")))
    ]
    end = None if top in (None, "") else skip + to_int(top, "TopTable")
    return rows[skip:end]


@router.post("/api.rsc/getconnectiontables", name="cdata_get_connection_tables")
def get_connection_tables(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """The tables (and views, or files) a connection holds."""
    fields = Fields(body)
    connection = _connection(ctx, request, fields)
    rows = _table_rows(fields, connections.tables(ctx, connection.id))
    return _collection(request, "getConnectionTablesOutput", rows)


@router.post("/api.rsc/getaddingtablesforjob", name="cdata_get_adding_tables_for_job")
def get_adding_tables_for_job(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """The tables of a connection the job does not replicate yet."""
    fields = Fields(body)
    connection = _connection(ctx, request, fields)
    job = _target(ctx, fields, connection.workspace_id)
    if not isinstance(job, Job):
        raise NotFound(f"job {job.name} not found")
    rows = _table_rows(fields, tasks.tables_to_add(ctx, job.id, connection.id))
    return _collection(request, "getAddingTablesForJobOutput", rows)


@router.post("/api.rsc/getconnectiontablecolumns", name="cdata_get_connection_table_columns")
def get_connection_table_columns(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """The columns of one table, with their types."""
    fields = Fields(body)
    connection = _connection(ctx, request, fields)
    table = to_text(fields.get("Table", "TableName"))
    schema = to_text(fields.get("Schema")) or None
    if schema is None and "." in table:
        schema, table = table.split(".", 1)
    rows = [
        {
            "ColumnName": c["name"],
            "DataType": c["native_type"] or c["type"],
            "ArrowType": c["type"],
            "IsNullable": c["nullable"],
            "IsKey": c["primary_key"],
            "Ordinal": index,
        }
        for index, c in enumerate(connections.columns(ctx, connection.id, table, schema))
    ]
    return _collection(request, "getConnectionTableColumnsOutput", rows)


@router.post("/api.rsc/createusers", name="cdata_create_users")
def create_users(ctx: V1Ctx, request: Request, body: JSONBody) -> Response:
    """Several users at once (`User#1`, `Password#1`, `Roles#1`, …), all or none."""
    fields = Fields(body)
    fields.get("WorkspaceId")
    created = []
    number = 1
    while fields.has(f"User#{number}"):
        created.append(user_row(create_user(ctx, fields, f"#{number}")))
        number += 1
    if not created:
        raise InvalidInput("createUsers needs User#1, Password#1, Roles#1…", field="User#1")
    if unknown := fields.unused():
        raise InvalidInput(f"unknown field {unknown[0]!r}", field=unknown[0])
    return _collection(request, "createUsersOutput", created)
