"""Runs: executions of jobs — start, watch, cancel, inspect, forget.

Starting a run enqueues it in the same transaction as whatever caused it; the worker
pool picks it up after commit (and builds what it executes with `run_specs`). A run may
do only some of its job's tasks — named by id, table or statement, as CData's
`executeQuery` names them — and an export job's run may write another format than the
job's. Retrying a failed run is `run_retry`, which also reaches Elastic's sync jobs;
waiting for a run to end is `run_wait`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from conveyor.connectors.files.formats import FORMATS
from conveyor.domain import ACTIVE_STATUSES, RunLoad, RunStatus, TriggerMethod
from conveyor.errors import Conflict, InvalidInput, NotFound
from conveyor.files import store as artifact_store
from conveyor.schemas.runs import ExecuteRequest, JobLogOut, RunBrief, RunOut
from conveyor.services import audit, jobs, listing, log_counts, run_counts
from conveyor.services.context import Context
from conveyor.store.models import Job, Run, RunLog, RunTask, Task

FIELDS = {
    "id": Run.id,
    "job_id": Run.job_id,
    "kind": Run.kind,
    "transformation_id": Run.transformation_id,
    "job_name": Run.job_name,
    "workspace_id": Run.workspace_id,
    "status": Run.status,
    "load": Run.load,
    "job_type": Run.load,  # the deprecated name of `load`
    "trigger_method": Run.trigger_method,
    "priority": Run.priority,
    "attempt": Run.attempt,
    "created_at": Run.created_at,
    "started_at": Run.started_at,
    "completed_at": Run.completed_at,
    "scheduled_at": Run.scheduled_at,
    "updated_at": Run.updated_at,
    "worker_hostname": Run.worker_hostname,
}
RUN_START = func.coalesce(Run.started_at, Run.created_at)
"""When a run started, or was queued if it has not (indexed: `ix_runs_run_start`)."""
COLUMNS = {
    **FIELDS,
    "definition_id": func.coalesce(Run.job_id, Run.transformation_id),
    "run_start": RUN_START,
    "rows_read": Run.rows_read,
    "rows_written": Run.rows_written,
    "rows_deleted": Run.rows_deleted,
    "log_file": Run.job_name + "_" + Run.id + ".log",
}
"""SQL expressions of a run that facades filter and sort by (`search`), beyond `FIELDS`."""
LOG_FIELDS = {"id": RunLog.id, "level": RunLog.level, "task_id": RunLog.task_id, "ts": RunLog.ts}


def get(ctx: Context, run_id: str) -> Run:
    """A visible run, or 404."""
    run = ctx.session.get(Run, run_id)
    if run is None or not ctx.principal.sees(run.workspace_id):
        raise NotFound(f"run {run_id} not found")
    return run


def read(ctx: Context, run_id: str) -> RunOut:
    """A visible run as shown, or 404."""
    return to_out(get(ctx, run_id))


def read_many(ctx: Context, run_ids: Iterable[str]) -> list[RunOut]:
    """The visible runs among `run_ids`, as shown."""
    ids = sorted(set(run_ids))
    statement = select(Run).where(Run.id.in_(ids))
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    return [to_out(run) for run in ctx.session.scalars(statement)] if ids else []


def list_(
    ctx: Context, query: Mapping[str, str], job_id: str | None = None, *, tasks: bool = True
) -> listing.Paged[Run]:
    """Visible runs, newest first by default; with `tasks`, their task results loaded in
    one more query (`to_out` shows them; a list of `to_brief`s does not)."""
    params = listing.ListParams.parse(query)
    statement = select(Run)
    if tasks:
        statement = statement.options(selectinload(Run.task_results))
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    if job_id is not None:
        statement = statement.where(Run.job_id == job_id)
    statement = listing.apply(statement, params, FIELDS)
    count = run_counts.counter(ctx.session, params.filters, ctx.principal.workspace_ids, job_id)
    return listing.page(ctx.session, statement, params, count)


def in_progress(
    ctx: Context, limit: int, where: Mapping[str, str] | None = None, *, tasks: bool = True
) -> tuple[list[Run], int]:
    """Visible runs not final yet, newest first (at most `limit`), and how many there are;
    `where` narrows them as a list query's filters do (`workspace_id=…`).

    One indexed query per active status: a `status IN (…)` list ordered by time makes
    SQLite walk every run by time instead (tens of milliseconds at 100,000 runs). The run
    counters say first which statuses have runs at all (when `where` narrows by nothing
    but a workspace): usually none or one, so one statement instead of one per status."""
    found: list[Run] = []
    total = 0
    statuses = sorted(status.value for status in ACTIVE_STATUSES)
    if set(where or {}) <= {"workspace_id"}:
        scope = list(ctx.principal.workspace_ids)
        chosen = (where or {}).get("workspace_id")
        if chosen is not None and (not scope or chosen in scope):
            scope = [chosen]  # (one not visible: the lists below find nothing anyway)
        present = run_counts.by_status(ctx.session, statuses, scope)
        statuses = [status for status in statuses if present.get(status)]
    for status in statuses:
        query = {**(where or {}), "status": status, "sort": "-created_at"}
        paged = list_(ctx, {**query, "limit": str(limit)}, tasks=tasks)
        found.extend(paged.rows)
        total += paged.total
    found.sort(key=lambda run: (run.created_at, run.id), reverse=True)
    return found[:limit], total


def search(
    ctx: Context, query: listing.Query, workspace_id: str | None = None
) -> listing.Found[Run]:
    """Visible runs (of one workspace, when given) as a facade's query asks: newest first
    where it leaves ties, with their task results."""
    statement = select(Run).options(selectinload(Run.task_results))
    if ctx.principal.workspace_ids:
        statement = statement.where(Run.workspace_id.in_(ctx.principal.workspace_ids))
    where = list(query.where)
    if workspace_id is not None:
        statement = statement.where(Run.workspace_id == workspace_id)
        where.append(Run.workspace_id == workspace_id)
    count = run_counts.counter_of(ctx.session, where, ctx.principal.workspace_ids)
    tiebreak = (Run.created_at.desc(), Run.id.desc())  # ix_runs_created, read backwards
    return listing.search(ctx.session, statement, query, tiebreak, count)


def execute(
    ctx: Context,
    job_id: str,
    request: ExecuteRequest,
    trigger: TriggerMethod = TriggerMethod.on_demand,
) -> Run:
    """Enqueue a run of a job; 409 naming the active run when the job already has one."""
    ctx.principal.require_write()
    job = jobs.get(ctx, job_id)
    chosen = select_tasks(ctx, job, request.tasks) if request.tasks else None
    fmt = export_format(job, request.format.value if request.format else None)
    load = requested_load(request)
    run = enqueue(ctx, job, chosen, load, request.priority, trigger, fmt)
    audit.note(job.id, job.workspace_id)
    return run


def requested_load(request: ExecuteRequest) -> RunLoad:
    """How the requested run loads: `load`, or its deprecated alias `job_type`; 422 naming
    `job_type` when both are given and differ."""
    if request.load and request.job_type and request.load is not request.job_type:
        raise InvalidInput(
            f"job_type ({request.job_type.value}) is the deprecated name of load "
            f"({request.load.value}): give load only",
            field="job_type",
        )
    return request.load or request.job_type or RunLoad.incremental


def _statement(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def select_tasks(ctx: Context, job: Job, keys: Sequence[str]) -> list[str]:
    """The ids of the tasks `keys` name, in the order named: each key is a task's id, else
    its statement (spacing and case aside), else its table (every task loading it)."""
    tasks = list(
        ctx.session.scalars(select(Task).where(Task.job_id == job.id).order_by(Task.position))
    )
    chosen: list[str] = []
    unknown: list[str] = []
    for key in keys:
        found = (
            [t for t in tasks if t.id == key]
            or [t for t in tasks if _statement(t.query) == _statement(key)]
            or [t for t in tasks if t.table_name.lower() == key.strip().lower()]
        )
        chosen.extend(t.id for t in found)
        if not found:
            unknown.append(key)
    if unknown:
        raise InvalidInput(f"tasks not in job {job.name!r}: {', '.join(unknown)}", field="tasks")
    return list(dict.fromkeys(chosen))


def export_format(job: Job, fmt: str | None, field: str = "format") -> str | None:
    """The format a run of `job` should write when asked for `fmt`; None for the job's own.

    Only export jobs (no destination connection) write files: a format asked of another
    job is a 422, as is a format Conveyor cannot write.
    """
    if fmt is None:
        return None
    if job.destination_connection_id is not None:
        raise InvalidInput(
            f"job {job.name!r} copies into a connection; only export jobs (no "
            "destination_connection_id) write files",
            field=field,
        )
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", field="format")
    return None if fmt == job.export_format else fmt


def enqueue(
    ctx: Context,
    job: Job,
    task_ids: list[str] | None,
    load: RunLoad = RunLoad.incremental,
    priority: int | None = None,
    trigger: TriggerMethod = TriggerMethod.on_demand,
    export_format: str | None = None,
    pipeline_run_id: str | None = None,
) -> Run:
    """Create a run of `job` (all active tasks, or the given ones) and queue it; with
    `export_format`, the run writes that format instead of the job's; with
    `pipeline_run_id`, the run is a step of that pipeline run."""
    all_tasks = list(
        ctx.session.scalars(select(Task).where(Task.job_id == job.id).order_by(Task.position))
    )
    if task_ids:
        by_id = {t.id: t for t in all_tasks}
        unknown = [t for t in task_ids if t not in by_id]
        if unknown:
            raise InvalidInput(
                f"tasks not in job {job.name!r}: {', '.join(unknown)}", field="tasks"
            )
        chosen = [by_id[t] for t in dict.fromkeys(task_ids)]
    else:
        chosen = [t for t in all_tasks if t.is_active]
    if not chosen:
        raise InvalidInput(f"job {job.name!r} has no active tasks to run", field="tasks")
    run = Run(
        workspace_id=job.workspace_id,
        job_id=job.id,
        job_name=job.name,
        load=load.value,
        trigger_method=trigger.value,
        priority=job.priority if priority is None else priority,
        unicity=job.id,
        max_attempts=job.max_attempts,
        task_ids=[t.id for t in chosen] if task_ids else None,
        tasks_total=len(chosen),
        created_by=ctx.principal.user_id,
        export_format=export_format,
        pipeline_run_id=pipeline_run_id,
    )
    run.task_results = [
        RunTask(task_id=t.id, position=t.position, query=t.query, table_name=t.table_name)
        for t in chosen
    ]
    return ctx.queue.enqueue(ctx.session, run)


def cancel(ctx: Context, run_id: str) -> Run:
    """Cancel a run: a waiting one at once, a running one within seconds; 409 when final."""
    ctx.principal.require_write()
    run = get(ctx, run_id)
    audit.note(run.id, run.workspace_id)
    return ctx.queue.request_cancel(ctx.session, run)


def active_run(ctx: Context, job: Job) -> Run | None:
    """The job's active run, if any."""
    return ctx.session.scalars(
        select(Run)
        .where(Run.job_id == job.id, Run.status.in_(ACTIVE_STATUSES))
        .order_by(Run.created_at.desc())
    ).first()


def cancel_job(ctx: Context, job_id: str) -> Run:
    """Cancel the job's active run; 409 when it has none."""
    ctx.principal.require_write()
    job = jobs.get(ctx, job_id)
    run = active_run(ctx, job)
    if run is None:
        raise Conflict(f"job {job.name!r} has no active run to cancel")
    audit.note(job.id, job.workspace_id)
    return ctx.queue.request_cancel(ctx.session, run)


def delete(ctx: Context, run_id: str) -> None:
    """Forget a finished run with its logs, results and files; 409 while it is active."""
    ctx.principal.require_write()
    run = get(ctx, run_id)
    if RunStatus(run.status) in ACTIVE_STATUSES:
        raise Conflict(f"run {run_id} is {run.status}; cancel it before deleting it")
    audit.note(run.id, run.workspace_id)
    ctx.session.delete(run)
    artifact_store.discard_after_commit(ctx.session, ctx.settings.files_dir, [run.id])


def logs(ctx: Context, run_id: str, query: Mapping[str, str]) -> listing.Paged[RunLog]:
    """A run's log lines in order; `?after=<id>` returns only newer lines (for tailing)."""
    run = get(ctx, run_id)
    params = listing.ListParams.parse(query, ignore=frozenset({"after"}))
    statement = select(RunLog).where(RunLog.run_id == run.id)
    if after := query.get("after"):
        try:
            statement = statement.where(RunLog.id > int(after))
        except ValueError:
            raise InvalidInput("after must be a log line id", field="after") from None
    whole = not after and not params.filters
    count = log_counts.of_run(ctx.session, run.id) if whole else None
    statement = listing.apply(statement, params, LOG_FIELDS, ("id",))
    return listing.page(ctx.session, statement, params, count)


def log_out(line: RunLog) -> JobLogOut:
    """A log line as shown, with the run it belongs to."""
    return JobLogOut.model_validate(line)


SHOWN = tuple(name for name in RunOut.model_fields if hasattr(Run, name))
"""The fields of `RunOut` read from the run's columns of the same name."""


def to_out(run: Run) -> RunOut:
    """The run as shown, validated once: its columns, its stats and its tasks' outcomes
    read from the row and its task rows by their attributes."""
    return RunOut.model_validate(
        {
            **{name: getattr(run, name) for name in SHOWN},
            "stats": run,
            "tasks": run.task_results,
        }
    )


def to_brief(run: Run) -> RunBrief:
    """The run as a list shows it (no task results: `list_(…, tasks=False)` loads none)."""
    return RunBrief.model_validate({**{name: getattr(run, name) for name in BRIEF}, "stats": run})


BRIEF = tuple(name for name in RunBrief.model_fields if name != "stats")


def job_logs(
    ctx: Context, job_id: str, since: dt.datetime | None, query: Mapping[str, str]
) -> listing.Paged[RunLog]:
    """The log lines of a job's runs, oldest first; with `since`, those logged from then on.

    Only the runs that can hold the page's lines are read (`log_counts.runs_of`): with
    `since`, those that logged since then; in the default order, those whose lines start
    before the page's reach; newest first (`sort=-id`), those whose lines end after it."""
    job = jobs.get(ctx, job_id)
    params = listing.ListParams.parse(query, ignore=frozenset({"since"}))
    whole = since is None and not params.filters
    up_to = down_to = None
    wanted = params.offset + params.limit + 1
    if whole and params.sort in ((), ("id",), ("+id",)):
        up_to = log_counts.reach(ctx.session, job.id, wanted)
    elif whole and params.sort == ("-id",):
        down_to = log_counts.reach_back(ctx.session, job.id, wanted)
    runs = log_counts.runs_of(job.id, since, up_to, down_to)
    statement = select(RunLog).where(RunLog.run_id.in_(runs))
    if since is not None:
        statement = statement.where(RunLog.ts >= since)
    if up_to is not None:
        statement = statement.where(RunLog.id <= up_to)
    if down_to is not None:
        statement = statement.where(RunLog.id >= down_to)
    fields = {**LOG_FIELDS, "run_id": RunLog.run_id}
    count = log_counts.of_job(ctx.session, job.id) if whole else None
    return listing.page(
        ctx.session, listing.apply(statement, params, fields, ("id",)), params, count
    )
