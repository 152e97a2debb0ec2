"""`conveyor pipelines`: list, show, run (and wait for) and cancel pipelines.

conveyor pipelines run nightly --wait    # exit 0 completed, 1 error or with errors, 3 canceled
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from conveyor.cli import output
from conveyor.cli.output import ago, console, fields, print_json, table
from conveyor.cli.remote import EXIT_CANCELED, EXIT_REFUSED, ByName, Json, Offset, connected
from conveyor.cli.runs import Timeout

if TYPE_CHECKING:
    from conveyor.schemas.pipelines import PipelineRunOut

app = typer.Typer(help="Pipelines on the server: list, show, run, cancel.", no_args_is_help=True)

PipelineKey = Annotated[str, typer.Argument(metavar="PIPELINE", help="The pipeline's id or name.")]


def exit_code(run: PipelineRunOut) -> int:
    """0 completed, 3 canceled, 1 otherwise (error, completed with errors)."""
    return {"completed": 0, "canceled": EXIT_CANCELED}.get(run.status.value, EXIT_REFUSED)


def print_steps(run: PipelineRunOut) -> None:
    """Each step of a pipeline run: its job, status, run and error."""
    table(
        ("STEP", "STATUS", "RUN", "ERROR"),
        ((s.job_name, output.status(s.status.value), s.run_id, s.error) for s in run.steps),
    )


@app.command("list")
def list_pipelines(
    ctx: typer.Context, limit: ByName = 50, offset: Offset = 0, json: Json = False
) -> None:
    """The pipelines, by name, with their latest run."""
    with connected(ctx) as client:
        page = client.pipelines.list(limit=limit, offset=offset, sort="name")
    output.print_page(
        page,
        json,
        ("NAME", "STEPS", "STATUS", "LAST RUN", "SCHEDULE", "ID"),
        lambda p: (
            p.name,
            len(p.steps),
            output.status(p.status),
            ago(p.last_run.created_at) if p.last_run else None,
            p.schedule.cron if p.schedule.enabled else None,
            p.id,
        ),
    )


@app.command()
def show(ctx: typer.Context, pipeline: PipelineKey, json: Json = False) -> None:
    """A pipeline: its steps in order, its schedule and its latest run's steps."""
    with connected(ctx) as client:
        found = client.pipelines.find(pipeline)
        last = client.pipelines.get_run(found.last_run.id) if found.last_run else None
    if json:
        print_json({**found.model_dump(mode="json"), "last_run": output.plain(last)})
        return
    fields(
        (
            ("name", found.name),
            ("id", found.id),
            ("on error", found.on_error.value),
            ("schedule", found.schedule.cron if found.schedule.enabled else "off"),
            ("status", output.status(found.status)),
            ("next run", ago(found.next_run_at) if found.next_run_at else None),
        )
    )
    names = {s.job_id: s.job_name for s in found.steps}
    table(
        ("#", "JOB", "AFTER"),
        (
            (i, s.job_name, ", ".join(names.get(d, d) for d in s.depends_on) or "-")
            for i, s in enumerate(found.steps)
        ),
    )
    if last is not None:
        console.print(f"last run {last.id} ({ago(last.created_at)}):", output.status(last.status))
        print_steps(last)


@app.command()
def run(
    ctx: typer.Context,
    pipeline: PipelineKey,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait until it ends; exit 0 completed, 1 error or with errors, 3 canceled.",
        ),
    ] = False,
    timeout: Timeout = None,
    json: Json = False,
) -> None:
    """Start a pipeline run; with --wait, until it ends."""
    with connected(ctx) as client:
        found = client.pipelines.find(pipeline)
        started = client.pipelines.run(found.id)
        if wait:
            started = client.pipelines.wait(started.id, timeout)
    if json:
        print_json(started)
    else:
        console.print(f"pipeline run {started.id} of {found.name}:", output.status(started.status))
        if wait:
            print_steps(started)
    if wait:
        raise typer.Exit(exit_code(started))


@app.command()
def cancel(ctx: typer.Context, pipeline: PipelineKey, json: Json = False) -> None:
    """Cancel the pipeline's run under way: its running steps too, and nothing else starts."""
    with connected(ctx) as client:
        canceled = client.pipelines.cancel(client.pipelines.find(pipeline).id)
    if json:
        print_json(canceled)
        return
    console.print(f"pipeline run {canceled.id}:", output.status(canceled.status))
