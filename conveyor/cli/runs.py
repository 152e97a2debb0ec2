"""`conveyor runs`: list, show, follow the logs of, wait for and cancel a server's runs.

`wait_for` and `exit_code` serve `conveyor jobs execute --wait` as well: the exit code
says how the run ended (0 completed, 1 error, 3 canceled, 4 still running at the
timeout), so a script or a CI step can act on it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from conveyor.cli import output
from conveyor.cli.output import ago, console, duration, errors, fields, print_json, table
from conveyor.cli.remote import EXIT_CANCELED, EXIT_REFUSED, Json, Offset, connected

if TYPE_CHECKING:
    from conveyor.client import Run
    from conveyor.schemas.runs import RunLogOut

app = typer.Typer(help="Runs on the server: list, show, logs, wait, cancel.", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="The run's id.")]
Timeout = Annotated[
    float | None,
    typer.Option(metavar="SECONDS", help="Stop waiting after this long (exit code 4)."),
]
LEVEL_STYLE = {"error": "red", "warning": "yellow", "debug": "dim"}


def exit_code(run: Run) -> int:
    """0 completed, 1 error, 3 canceled (and, not final, 4 from the timeout)."""
    return {"completed": 0, "canceled": EXIT_CANCELED}.get(run.status.value, EXIT_REFUSED)


def summary(run: Run) -> None:
    """One line saying how a run ended (stdout), and its error (stderr)."""
    stats = run.stats
    console.print(
        output.status(run.status),
        f"{run.job_name}: {stats.rows_written:,} rows written, {stats.tasks_done} of "
        f"{stats.tasks_total} tasks, {duration(run.started_at, run.completed_at)}",
        highlight=False,
    )
    if run.error:
        output.error(run.error)


def print_line(line: RunLogOut) -> None:
    """A log line: its time, level and message."""
    style = LEVEL_STYLE.get(line.level, "")
    stamp = line.ts.astimezone().strftime("%H:%M:%S")
    console.print(
        f"[dim]{stamp}[/dim] [{style}]{line.level:<7}[/] {escape(line.message)}"
        if style
        else f"[dim]{stamp}[/dim] {line.level:<7} {escape(line.message)}",
        soft_wrap=True,
        highlight=False,
    )


def wait_for(run: Run, timeout: float | None, bar: bool) -> Run:
    """Wait until the run is final; with `bar`, a progress bar on stderr, determinate
    from the run's own progress (the share of estimated rows its tasks have read)."""
    if not bar:
        return run.wait(timeout)
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as progress:
        shown = progress.add_task(run.job_name, total=1.0, rows=0)
        while not run.status.is_final:
            if deadline is not None and time.monotonic() >= deadline:
                return run.wait(0)  # raises WaitTimeout
            progress.update(
                shown,
                completed=run.progress,
                rows=run.stats.rows_read,
                description=f"{run.job_name} ({run.status.value})",
            )
            time.sleep(0.5)
            run.refresh()
    return run


def follow(run: Run, json: bool) -> None:
    """Print the run's log lines as they come, until it is final."""
    for line in run.follow():
        if json:
            output.print_json_line(line)
        else:
            print_line(line)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    job: Annotated[
        str | None, typer.Option(metavar="JOB", help="Only this job's (id or name).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(metavar="STATUS", help="Only runs with this status (repeatable)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 20,
    offset: Offset = 0,
    json: Json = False,
) -> None:
    """The latest runs, newest first."""
    with connected(ctx) as client:
        filters: dict[str, object] = {}
        if job:
            filters["job_id"] = client.jobs.find(job).id
        if status:
            filters["status__in"] = status
        page = client.runs.list(limit=limit, offset=offset, sort="-created_at", **filters)
    output.print_page(
        page,
        json,
        ("ID", "JOB", "STATUS", "ROWS", "TASKS", "CREATED", "DURATION"),
        lambda run: (
            run.id,
            run.job_name,
            output.status(run.status),
            run.stats.rows_written,
            f"{run.stats.tasks_done}/{run.stats.tasks_total}",
            ago(run.created_at),
            duration(run.started_at, run.completed_at),
        ),
    )


@app.command()
def show(ctx: typer.Context, run_id: RunId, json: Json = False) -> None:
    """A run: its status, counts, times and each task's outcome."""
    with connected(ctx) as client:
        run = client.runs.get(run_id)
    if json:
        print_json(run)
        return
    fields(
        (
            ("id", run.id),
            ("job", f"{run.job_name} ({run.job_id or run.transformation_id})"),
            ("status", output.status(run.status)),
            ("load", run.load.value),
            ("trigger", run.trigger_method.value),
            ("progress", f"{run.progress:.0%}"),
            ("rows read / written", f"{run.stats.rows_read:,} / {run.stats.rows_written:,}"),
            ("created", ago(run.created_at)),
            ("duration", duration(run.started_at, run.completed_at)),
            ("attempt", f"{run.attempt} of {run.max_attempts}"),
            ("error", run.error),
        )
    )
    if run.tasks:
        table(
            ("#", "TABLE", "STATUS", "ROWS", "ERROR"),
            (
                (t.index, t.table, output.status(t.status), t.rows_written, t.error)
                for t in run.tasks
            ),
        )


@app.command()
def logs(
    ctx: typer.Context,
    run_id: RunId,
    follow_: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the run ends.")
    ] = False,
    json: Json = False,
) -> None:
    """A run's log lines; with --follow, as they are written (exit code as `wait`'s)."""
    with connected(ctx) as client:
        run = client.runs.get(run_id)
        if follow_:
            follow(run, json)
            raise typer.Exit(exit_code(run))
        lines = run.logs()
    if json:
        print_json(lines)
        return
    for line in lines:
        print_line(line)


@app.command()
def wait(ctx: typer.Context, run_id: RunId, timeout: Timeout = None, json: Json = False) -> None:
    """Wait until a run ends; exit 0 completed, 1 error, 3 canceled, 4 timed out."""
    with connected(ctx) as client:
        run = wait_for(client.runs.get(run_id), timeout, bar=not json and errors.is_terminal)
    if json:
        print_json(run)
    else:
        summary(run)
    raise typer.Exit(exit_code(run))


@app.command()
def cancel(ctx: typer.Context, run_id: RunId, json: Json = False) -> None:
    """Cancel a run: a pending one at once, a running one within seconds."""
    with connected(ctx) as client:
        run = client.runs.cancel(run_id)
    if json:
        print_json(run)
        return
    console.print(f"run {run.id}:", output.status(run.status), highlight=False)
