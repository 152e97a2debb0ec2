"""CData v1 actions on jobs: run, watch and cancel them, read their logs.

    POST /api.rsc/executeJob       JobName|JobId, WaitForResults, Timeout → one row per query
    POST /api.rsc/executeQuery     … and Query#1…n: only those of the job's tasks
    POST /api.rsc/cancelJob        JobName|JobId
    POST /api.rsc/getJobStatus     JobName|JobId (none: every job)
    POST /api.rsc/getJobLog        JobName|JobId, Days (or RunId): the log as text
    POST /api.rsc/getlogs          the same (what the MCP client calls)

Each is a native call in CData's words: `executeQuery`'s `Query#n` name tasks by
statement, id or table as the native execute's `tasks` do, `getJobLog`'s `Days` is the
native job logs' `since`. A job name may also name a transformation, as in CData
("execute a job or a transformation"). `getJobStatus` answers in both shapes clients
read: the job's `JobId`, `JobName`, `Status` and `Queries` at the top level (CData's MCP
client reads them there), and one row per query in `value` (where an OData client looks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from conveyor.api.deps import RT, Caller, Ctx, UnitRoute
from conveyor.compat.cdata.bodies import (
    Fields,
    JSONBody,
    requested_workspace,
    to_bool,
    to_int,
    to_text,
)
from conveyor.compat.cdata.responses import collection, iso, output
from conveyor.compat.cdata.runs import Row, query_row, run_details, run_status
from conveyor.crypto import redact
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.schemas.jobs import JobOut
from conveyor.schemas.runs import ExecuteRequest, JobLogOut, RunOut
from conveyor.schemas.transformations import TransformationOut
from conveyor.services import jobs, listing, run_wait, runs, tasks, transformations
from conveyor.services.context import Context

router = APIRouter(route_class=UnitRoute, tags=["CData Sync v1 (OData)"])
MAX_WAIT = 3600.0
Target = JobOut | TransformationOut


def _target(ctx: Context, fields: Fields, workspace_id: str | None) -> Target:
    """The job (or else the transformation) named by `JobId` or `JobName`."""
    key = to_text(fields.get("JobId")) or to_text(fields.get("JobName"))
    if not key:
        raise InvalidInput("JobName or JobId is required", field="JobName")
    try:
        return jobs.to_out(ctx, jobs.find(ctx, key, workspace_id))
    except NotFound:
        try:
            return transformations.to_out(ctx, transformations.get(ctx, key, workspace_id))
        except NotFound:
            raise NotFound(f"job {key} not found") from None


def _last_run(ctx: Context, target: Target) -> RunOut | None:
    if isinstance(target, JobOut):
        run_id = target.last_run.id if target.last_run else None
    else:
        run_id = target.last_run_id
    return runs.read(ctx, run_id) if run_id else None


async def _execute(
    rt: RT, principal: Caller, request: Request, body: dict[str, Any], *, subset: bool
) -> Response:
    fields = Fields(body)
    wait = to_bool(fields.get("WaitForResults", default=True), "WaitForResults")
    timeout = float(to_int(fields.get("Timeout", default=0), "Timeout")) or MAX_WAIT

    def enqueue() -> str:
        with rt.unit(principal) as ctx:
            target = _target(ctx, fields, requested_workspace(ctx, request, fields))
            if isinstance(target, TransformationOut):
                return transformations.execute(ctx, target.id).id
            chosen = fields.numbered("Query") if subset else None
            if subset and not chosen:
                raise InvalidInput("executeQuery needs Query#1…", field="Query#1")
            return runs.execute(ctx, target.id, ExecuteRequest(tasks=chosen)).id

    run_id = await run_in_threadpool(enqueue)
    if wait:
        await run_wait.wait_until_final(rt.factory, run_id, min(timeout, MAX_WAIT))

    def read() -> list[Row]:
        with rt.unit(principal) as ctx:
            run = runs.read(ctx, run_id)
            return [query_row(run, result) for result in run.tasks]

    return collection(request, output("executeJob"), await run_in_threadpool(read))


@router.post("/api.rsc/executejob", name="cdata_execute_job")
async def execute_job(rt: RT, principal: Caller, request: Request, body: JSONBody) -> Response:
    """Start a job (or transformation); with WaitForResults, answer when it is final."""
    return await _execute(rt, principal, request, body, subset=False)


@router.post("/api.rsc/executequery", name="cdata_execute_query")
async def execute_query(rt: RT, principal: Caller, request: Request, body: JSONBody) -> Response:
    """Run only some of a job's queries (`Query#1…`)."""
    return await _execute(rt, principal, request, body, subset=True)


@router.post("/api.rsc/canceljob", name="cdata_cancel_job")
def cancel_job(ctx: Ctx, request: Request, body: JSONBody) -> Response:
    """Cancel the job's active run: a queued one at once, a running one within seconds."""
    fields = Fields(body)
    target = _target(ctx, fields, requested_workspace(ctx, request, fields))
    if isinstance(target, TransformationOut):
        last = _last_run(ctx, target)
        if last is None or last.status.is_final:
            raise Conflict(f"transformation {target.name!r} has no active run to cancel")
        run = runs.to_out(runs.cancel(ctx, last.id))
    else:
        run = runs.to_out(runs.cancel_job(ctx, target.id))
    row = {
        "JobId": target.id,
        "JobName": target.name,
        "RunId": run.id,
        "Status": run_status(run.status),
        "Detail": "Canceled" if run.status == "canceled" else "Cancellation requested",
    }
    return collection(request, output("cancelJob"), [row], top=row)


def _status_rows(ctx: Context, target: Target) -> tuple[Row, list[Row]]:
    run = _last_run(ctx, target)
    top: Row = {
        "JobId": target.id,
        "JobName": target.name,
        "Status": run_status(run.status if run else None),
        "RunId": run.id if run else None,
        "RunStartDate": (run.started_at or run.created_at) if run else None,
        "Detail": run_details(run) if run else "The job has not run yet",
        "RecordsAffected": run.stats.rows_written if run else 0,
    }
    if run is not None:
        queries = [query_row(run, result) for result in run.tasks]
    elif isinstance(target, JobOut):
        queries = [
            {
                "JobName": target.name,
                "JobId": target.id,
                "TaskId": t.id,
                "Query": t.query,
                "Table": t.table,
                "Status": run_status(None),
                "Result": None,
                "Detail": "The job has not run yet",
                "RecordsAffected": 0,
                "RunStartDate": None,
            }
            for t in map(tasks.to_out, tasks.list_(ctx, target.id))
        ]
    else:
        queries = []
    return top, queries


@router.post("/api.rsc/getjobstatus", name="cdata_get_job_status")
def get_job_status(ctx: Ctx, request: Request, body: JSONBody) -> Response:
    """A job's status with one row per query, or (no job named) every job's status."""
    fields = Fields(body)
    fields.get("PushOnQuery")
    workspace = requested_workspace(ctx, request, fields)
    fragment = output("getJobStatus")
    if fields.has("JobId", "JobName"):
        top, queries = _status_rows(ctx, _target(ctx, fields, workspace))
        return collection(request, fragment, queries or [top], top={**top, "Queries": queries})
    query = {"workspace_id": workspace} if workspace else {}
    found = listing.every(lambda q: jobs.list_(ctx, q), query)
    rows = [_status_rows(ctx, jobs.to_out(ctx, job))[0] for job in found]
    return collection(request, fragment, rows)


def _log_lines(ctx: Context, fields: Fields, workspace_id: str | None) -> list[JobLogOut]:
    """The lines of the run `RunId`, or of the job's runs of the last `Days` days."""
    run_id = to_text(fields.get("RunId", "HistoryId", "Id"))
    if run_id:
        return [
            runs.log_out(line) for line in listing.every(lambda q: runs.logs(ctx, run_id, q), {})
        ]
    target = _target(ctx, fields, workspace_id)
    if not isinstance(target, JobOut):
        raise InvalidInput("logs of a transformation are read by RunId", field="RunId")
    days = to_int(fields.get("Days", default=1), "Days")
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=max(days, 1))
    found = listing.every(lambda q: runs.job_logs(ctx, target.id, since, q), {})
    return [runs.log_out(line) for line in found]


def _log_text(ctx: Context, lines: list[JobLogOut]) -> str:
    """The lines run by run, each run headed by its id, job and status."""
    by_run: dict[str, list[JobLogOut]] = {}
    for line in lines:
        by_run.setdefault(line.run_id, []).append(line)
    text: list[str] = []
    for run_id, run_lines in by_run.items():
        run = runs.read(ctx, run_id)
        text.append(f"=== run {run.id} of {run.job_name}: {run_status(run.status)} ===")
        text.extend(
            f"{iso(line.ts)} [{line.level.upper()}] {redact(line.message)}" for line in run_lines
        )
    return "\n".join(text) + ("\n" if text else "")


def _job_log(ctx: Context, request: Request, body: dict[str, Any]) -> Response:
    fields = Fields(body)
    lines = _log_lines(ctx, fields, requested_workspace(ctx, request, fields))
    return PlainTextResponse(_log_text(ctx, lines))


@router.post("/api.rsc/getjoblog", name="cdata_get_job_log")
def get_job_log(ctx: Ctx, request: Request, body: JSONBody) -> Response:
    """The log lines of the job's runs of the last `Days` days, as text."""
    return _job_log(ctx, request, body)


@router.post("/api.rsc/getlogs", name="cdata_get_logs")
def get_logs(ctx: Ctx, request: Request, body: JSONBody) -> Response:
    """The same as getJobLog, where the MCP client asks for it."""
    return _job_log(ctx, request, body)
