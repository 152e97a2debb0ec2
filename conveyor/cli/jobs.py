"""`conveyor jobs`: list, show, create, execute (and wait for, or follow) and cancel jobs.

conveyor jobs create orders --source shop --destination lake -q "REPLICATE [orders]"
conveyor jobs execute orders --wait          # exit 0 completed, 1 error, 3 canceled
"""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli import output
from conveyor.cli.output import ago, console, errors, fields, print_json, table
from conveyor.cli.remote import ByName, Json, Offset, connected
from conveyor.cli.runs import Timeout, exit_code, follow, summary, wait_for

app = typer.Typer(
    help="Jobs on the server: list, show, create, execute, cancel.", no_args_is_help=True
)

JobKey = Annotated[str, typer.Argument(metavar="JOB", help="The job's id or name.")]


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    limit: ByName = 50,
    offset: Offset = 0,
    json: Json = False,
) -> None:
    """The jobs, by name, with their latest run."""
    with connected(ctx) as client:
        page = client.jobs.list(limit=limit, offset=offset, sort="name")
    output.print_page(
        page,
        json,
        ("NAME", "TYPE", "TASKS", "STATUS", "LAST RUN", "SCHEDULE", "ID"),
        lambda job: (
            job.name,
            job.type.value + (f" → {job.export_format.value}" if job.export_format else ""),
            job.tasks_count,
            output.status(job.status),
            ago(job.last_run.created_at) if job.last_run else None,
            job.schedule.cron if job.schedule.enabled else None,
            job.id,
        ),
    )


@app.command()
def show(ctx: typer.Context, job: JobKey, json: Json = False) -> None:
    """A job: its settings in brief, its latest run, and its tasks in order."""
    with connected(ctx) as client:
        found = client.jobs.find(job)
        tasks = client.tasks.list(found.id)
        names = {
            key: client.connections.get(key).name
            for key in (found.source_connection_id, found.destination_connection_id)
            if key
        }
    if json:
        print_json({**found.model_dump(mode="json"), "tasks": output.plain(tasks)})
        return
    last = found.last_run
    fields(
        (
            ("name", found.name),
            ("id", found.id),
            ("type", found.type.value),
            ("source", names.get(found.source_connection_id or "")),
            (
                "destination",
                names.get(found.destination_connection_id or "")
                or (found.export_format and f"{found.export_format.value} files"),
            ),
            ("schedule", found.schedule.cron if found.schedule.enabled else "off"),
            ("status", output.status(found.status)),
            ("last run", f"{last.id} ({ago(last.created_at)})" if last else None),
            ("next run", ago(found.next_run_at) if found.next_run_at else None),
        )
    )
    table(
        ("#", "TABLE", "ACTIVE", "STATEMENT"),
        ((t.index, t.table, t.is_active, t.query) for t in tasks),
    )


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The job's name.")],
    source: Annotated[str, typer.Option(metavar="CONNECTION", help="Source (id or name).")],
    destination: Annotated[
        str | None,
        typer.Option(metavar="CONNECTION", help="Destination (id or name); none for exports."),
    ] = None,
    query: Annotated[
        list[str] | None,
        typer.Option(
            "--query", "-q", metavar="STATEMENT", help="A REPLICATE statement (repeatable)."
        ),
    ] = None,
    export_format: Annotated[
        str | None,
        typer.Option(
            metavar="FORMAT", help="Write files instead: csv, xlsx, json, ndjson, parquet."
        ),
    ] = None,
    cron: Annotated[str | None, typer.Option(metavar="CRON", help="Run on this schedule.")] = None,
    workspace: Annotated[str | None, typer.Option(metavar="ID", help="Its workspace.")] = None,
    json: Json = False,
) -> None:
    """Create a job from a source to a destination (or to files), with its statements."""
    with connected(ctx) as client:
        body: dict[str, object] = {
            "name": name,
            "source_connection_id": client.connections.find(source).id,
            "queries": query or [],
        }
        if destination:
            body["destination_connection_id"] = client.connections.find(destination).id
        if export_format:
            body["export_format"] = export_format
        if cron:
            body["schedule"] = {"enabled": True, "cron": cron}
        if workspace:
            body["workspace_id"] = workspace
        job = client.jobs.create(body)
    if json:
        print_json(job)
        return
    console.print(f"created job [bold]{job.name}[/bold] ({job.id}), {job.tasks_count} task(s)")


@app.command()
def execute(
    ctx: typer.Context,
    job: JobKey,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Wait until the run ends; exit 0 completed, 1 error, 3 canceled."
        ),
    ] = False,
    follow_logs: Annotated[
        bool, typer.Option("--follow", "-f", help="Print the run's log lines until it ends.")
    ] = False,
    full: Annotated[bool, typer.Option("--full", help="Copy everything again.")] = False,
    task: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TASK", help="Only this task: its id, statement or table (repeatable)."
        ),
    ] = None,
    timeout: Timeout = None,
    json: Json = False,
) -> None:
    """Start a run of a job; with --wait or --follow, until it ends."""
    with connected(ctx) as client:
        found = client.jobs.find(job)
        run = client.jobs.execute(found.id, tasks=task, load="full" if full else None)
        if follow_logs:
            follow(run, json)
        elif wait:
            wait_for(run, timeout, bar=not json and errors.is_terminal)
    if json and not follow_logs:
        print_json(run)
    elif not (wait or follow_logs):
        console.print(f"started run {run.id} of {found.name}:", output.status(run.status))
    elif not json:
        summary(run)
    if wait or follow_logs:
        raise typer.Exit(exit_code(run))


@app.command()
def cancel(ctx: typer.Context, job: JobKey, json: Json = False) -> None:
    """Cancel the job's active run."""
    with connected(ctx) as client:
        run = client.jobs.cancel(client.jobs.find(job).id)
    if json:
        print_json(run)
        return
    console.print(f"run {run.id}:", output.status(run.status), highlight=False)


@app.command()
def delete(ctx: typer.Context, job: JobKey) -> None:
    """Delete a job, its tasks and its runs' history."""
    with connected(ctx) as client:
        found = client.jobs.find(job)
        client.jobs.delete(found.id)
    console.print(f"deleted job {found.name} ({found.id})")
