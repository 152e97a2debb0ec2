"""Tasks: the ordered REPLICATE statements of a job.

A statement is parsed when the task is created or changed, so a bad one is refused
with its position (400) before any run could trip on it. Positions are 0-based and
kept contiguous through inserts, moves and deletes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import contains_eager

from conveyor.domain import MAX_TASKS_PER_JOB, JobType
from conveyor.engine.cdc import statements as cdc_statements
from conveyor.engine.replicate import ReplicateStatement, parse
from conveyor.errors import BadStatement, InvalidInput, NotFound
from conveyor.header_values import breaking_character
from conveyor.schemas.runs import RunTaskOut
from conveyor.schemas.tasks import TaskCreate, TaskMove, TaskOut, TaskUpdate
from conveyor.services import audit, check_columns, idle, listing, lookup
from conveyor.services.context import Context, Principal, Units
from conveyor.store.models import Job, RunTask, Task

HISTORY_FIELDS = {
    "id": RunTask.id,
    "run_id": RunTask.run_id,
    "status": RunTask.status,
    "started_at": RunTask.started_at,
    "completed_at": RunTask.completed_at,
}


def _job(ctx: Context, job_id: str) -> Job:
    return lookup.get(ctx, Job, job_id, "job")


def checked_statement(query: str, field: str = "query") -> ReplicateStatement:
    """Parse a statement; a bad one is a 400 naming the field and the position."""
    if "\0" in query:  # no store keeps it (PostgreSQL text refuses NUL), no file name may hold it
        raise BadStatement(
            f"{field}: a statement cannot contain NUL characters",
            position=query.index("\0"),
            field=field,
        )
    try:
        statement = parse(query)
    except BadStatement as exc:
        raise BadStatement(f"{field}: {exc.message}", position=exc.position, field=field) from exc
    target = statement.target
    for name in (target.name, target.schema or "") if target else ():
        if (bad := breaking_character(name)) is not None:
            raise InvalidInput(
                f"{field}: the destination name {name!r} contains {bad!r}; a destination "
                "names files and download headers, so it must be one line without control "
                "characters",
                field=field,
            )
    return statement


def check_for_cdc(statement: ReplicateStatement, field: str) -> None:
    """A change data capture job's task must follow single rows of one table (400)."""
    if (why := cdc_statements.problem(statement)) is not None:
        raise BadStatement(f"{field}: {why}", position=0, field=field)


def _check_kind(job: Job, statement: ReplicateStatement, field: str) -> None:
    if job.type == JobType.change_data_capture.value:
        check_for_cdc(statement, field)


def table_label(statement: ReplicateStatement) -> str:
    """What a task shows as its table: the destination, or `*` for REPLICATE ALL."""
    return "*" if statement.replicate_all or statement.target is None else str(statement.target)


def ordered(ctx: Context, job: Job) -> list[Task]:
    """A job's tasks in order."""
    return list(
        ctx.session.scalars(
            select(Task).where(Task.job_id == job.id).order_by(Task.position, Task.created_at)
        )
    )


def _renumber(tasks: list[Task]) -> None:
    for position, task in enumerate(tasks):
        task.position = position


def to_out(task: Task) -> TaskOut:
    """The task as shown."""
    return TaskOut.model_validate(task)


def result_out(result: RunTask) -> RunTaskOut:
    """One run's result for a task, as shown."""
    return RunTaskOut.model_validate(result)


def get(ctx: Context, job_id: str, task_id: str) -> Task:
    """A task of a visible job, or 404."""
    job = _job(ctx, job_id)
    task = ctx.session.get(Task, task_id)
    if task is None or task.job_id != job.id:
        raise NotFound(f"task {task_id} not found in job {job_id}")
    return task


def list_(ctx: Context, job_id: str) -> list[Task]:
    """The job's tasks in order."""
    return ordered(ctx, _job(ctx, job_id))


def add(
    ctx: Context, job: Job, query: str, is_active: bool, index: int | None, field: str = "query"
) -> Task:
    """Insert a task at `index` (default: last), shifting the ones after it."""
    statement = checked_statement(query, field)
    _check_kind(job, statement, field)
    tasks = ordered(ctx, job)
    _check_room(len(tasks) + 1, field)
    position = len(tasks) if index is None else min(index, len(tasks))
    task = _task(job, query, statement, position, is_active)
    tasks.insert(position, task)
    ctx.session.add(task)
    _renumber(tasks)
    ctx.session.flush()
    return task


def add_all(ctx: Context, job: Job, queries: Sequence[str], field: str = "queries") -> list[Task]:
    """Append active tasks for `queries` in one go: each is checked first (a bad one is
    named `queries[i]`), then all are written in one flush, so N tasks cost O(N)."""
    start = len(ordered(ctx, job))
    _check_room(start + len(queries), field)
    statements = [checked_statement(q, f"{field}[{i}]") for i, q in enumerate(queries)]
    for i, statement in enumerate(statements):
        _check_kind(job, statement, f"{field}[{i}]")
    added = [
        _task(job, query, statement, start + offset, is_active=True)
        for offset, (query, statement) in enumerate(zip(queries, statements, strict=True))
    ]
    ctx.session.add_all(added)
    ctx.session.flush()
    return added


def _task(
    job: Job, query: str, statement: ReplicateStatement, position: int, is_active: bool
) -> Task:
    return Task(
        job_id=job.id,
        query=query.strip(),
        is_active=is_active,
        table_name=table_label(statement),
        position=position,
    )


def _check_room(count: int, field: str) -> None:
    if count > MAX_TASKS_PER_JOB:
        raise InvalidInput(
            f"a job holds at most {MAX_TASKS_PER_JOB} tasks ({count} asked); "
            "REPLICATE ALL copies every table in one task",
            field=field,
        )


def create(ctx: Context, job_id: str, data: TaskCreate) -> Task:
    """Add a task to a job; refused (409) while the job runs."""
    ctx.principal.require_write()
    job = _job(ctx, job_id)
    idle.ensure_idle(ctx, job, "change the tasks of")
    task = add(ctx, job, data.query, data.is_active, data.index)
    audit.note(task.id, job.workspace_id)
    return task


def create_vetted(units: Units, principal: Principal, job_id: str, data: TaskCreate) -> TaskOut:
    """Add a task (`create`) whose check column was first vetted against the job's source,
    with no transaction open while the source is asked (`check_columns`)."""
    check_columns.vet(units, principal, job_id, check_columns.to_vet("query", data.query))
    with units.unit(principal) as ctx:
        return to_out(create(ctx, job_id, data))


def update_vetted(
    units: Units, principal: Principal, job_id: str, task_id: str, data: TaskUpdate
) -> TaskOut:
    """Change a task (`update`); a new statement's check column is first vetted against
    the job's source, with no transaction open while the source is asked."""
    if data.query is not None:
        check_columns.vet(units, principal, job_id, check_columns.to_vet("query", data.query))
    with units.unit(principal) as ctx:
        return to_out(update(ctx, job_id, task_id, data))


def update(ctx: Context, job_id: str, task_id: str, data: TaskUpdate) -> Task:
    """Change a task's statement, activity or position."""
    ctx.principal.require_write()
    task = get(ctx, job_id, task_id)
    idle.ensure_idle(ctx, task.job, "change the tasks of")
    if data.query is not None:
        statement = checked_statement(data.query)
        _check_kind(task.job, statement, "query")
        task.table_name = table_label(statement)
        task.query = data.query.strip()
    if data.is_active is not None:
        task.is_active = data.is_active
    if data.index is not None and data.index != task.position:
        _move(ctx, task, data.index)
    ctx.session.flush()
    audit.note(task.id, task.job.workspace_id)
    return task


def move(ctx: Context, job_id: str, task_id: str, data: TaskMove) -> Task:
    """Move a task to another position."""
    ctx.principal.require_write()
    task = get(ctx, job_id, task_id)
    idle.ensure_idle(ctx, task.job, "change the tasks of")
    if data.from_index is not None and data.from_index != task.position:
        raise InvalidInput(
            f"task {task_id} is at index {task.position}, not {data.from_index}", field="from_index"
        )
    _move(ctx, task, data.to_index)
    ctx.session.flush()
    audit.note(task.id, task.job.workspace_id)
    return task


def _move(ctx: Context, task: Task, to_index: int) -> None:
    tasks = ordered(ctx, task.job)
    if to_index >= len(tasks):
        raise InvalidInput(f"to_index must be below {len(tasks)}", field="to_index")
    tasks.remove(task)
    tasks.insert(to_index, task)
    _renumber(tasks)


def delete(ctx: Context, job_id: str, task_id: str) -> None:
    """Remove a task; refused (409) while the job runs."""
    ctx.principal.require_write()
    task = get(ctx, job_id, task_id)
    idle.ensure_idle(ctx, task.job, "change the tasks of")
    job = task.job
    audit.note(task.id, job.workspace_id)
    ctx.session.delete(task)
    ctx.session.flush()
    _renumber(ordered(ctx, job))


def last_runs(ctx: Context, job_id: str) -> list[tuple[Task, RunTask | None]]:
    """Each task of the job with its most recent result."""
    job = _job(ctx, job_id)
    tasks = ordered(ctx, job)
    latest = (
        select(RunTask.task_id, func.max(RunTask.id).label("last_id"))
        .where(RunTask.task_id.in_([t.id for t in tasks]), RunTask.started_at.is_not(None))
        .group_by(RunTask.task_id)
        .subquery()
    )
    rows = {
        r.task_id: r
        for r in ctx.session.scalars(select(RunTask).join(latest, RunTask.id == latest.c.last_id))
    }
    return [(task, rows.get(task.id)) for task in tasks]


def history(
    ctx: Context, job_id: str, task_id: str, query: Mapping[str, str]
) -> listing.Paged[RunTask]:
    """Every run's result for one task, newest first."""
    task = get(ctx, job_id, task_id)
    params = listing.ListParams.parse(query)
    statement = select(RunTask).where(RunTask.task_id == task.id)
    return listing.page(
        ctx.session, listing.apply(statement, params, HISTORY_FIELDS, ("-id",)), params
    )


def visible(ctx: Context, workspace_id: str | None = None) -> list[tuple[str, TaskOut]]:
    """Every task of every job the caller sees (of one workspace, when given), job by job,
    with its job's name."""
    statement = select(Task).join(Job, Task.job_id == Job.id).options(contains_eager(Task.job))
    if workspace_id is not None:
        statement = statement.where(Job.workspace_id == workspace_id)
    statement = lookup.visible(ctx, statement, Job.workspace_id)
    found = ctx.session.scalars(statement.order_by(Job.name, Job.id, Task.position))
    return [(task.job.name, to_out(task)) for task in found]


def source_tables(ctx: Context, job: Job) -> set[str]:
    """The source tables a job's tasks read (lower case; `*` when one replicates all)."""
    found: set[str] = set()
    for task in ordered(ctx, job):
        statement = parse(task.query)
        if statement.replicate_all:
            found.add("*")
        source = statement.source_table or statement.target
        if source is not None:
            found.add(source.name.lower())
    return found


def tables_to_add(
    units: Units, principal: Principal, job_id: str, connection_id: str | None = None
) -> list[dict[str, Any]]:
    """The tables of a connection (the job's source by default) that the job does not
    replicate yet; none when one of its tasks replicates them all. The connection is
    listed with no transaction open."""
    from conveyor.services import connections

    with units.unit(principal, read_only=True) as ctx:
        job = _job(ctx, job_id)
        connection_id = connection_id or job.source_connection_id
        if connection_id is None:
            raise InvalidInput(
                f"job {job.name!r} has no source connection: name one", field="connection_id"
            )
        connection = connections.get(ctx, connection_id)
        taken = source_tables(ctx, job)
        if "*" in taken:
            return []
        loaded = connections.target(ctx, connection.id)
    return [t for t in connections.list_tables(loaded) if t["name"].lower() not in taken]
