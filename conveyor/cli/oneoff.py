"""`conveyor run`: REPLICATE statements run once, without a server, with progress bars.

Each task gets a bar; it is determinate (a percentage and the time left) when the source
estimates the table's rows, as SQLite, DuckDB, PostgreSQL and MySQL do.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
import uuid
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from conveyor import collector
from conveyor.cli.output import console, error, errors
from conveyor.cli.server import load_settings
from conveyor.domain import EngineSettings, RunLoad, RunStatus, TaskRunStatus
from conveyor.engine.reporting import Stage, TaskResult
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from conveyor.errors import ConveyorError


class ProgressReporter:
    """Shows a one-off run's tasks as progress bars, and each failure once.

    The engine reports a failure at every level it passes: the task's result, a log line
    for the task, another for the run (and the run's outcome says it again). A task's
    failure is printed from its result, as the task ends; the run's own error lines
    restate it or the outcome, which `run` prints at the end when no task failed.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.bars: dict[str, TaskID] = {}
        self.lock = threading.Lock()
        self.failed = 0
        """Tasks whose failure was printed."""

    def log(self, level: str, message: str, task_id: str | None = None) -> None:
        if level == "warning":
            self.progress.console.print(f"[yellow]warning[/]: {escape(message)}", soft_wrap=True)

    def task_update(self, result: TaskResult, estimate: int | None = None) -> None:
        with self.lock:
            if result.task_id not in self.bars:
                self.bars[result.task_id] = self.progress.add_task(
                    result.table or "task", total=estimate
                )
            bar = self.bars[result.task_id]
        finished = result.status in (
            TaskRunStatus.completed,
            TaskRunStatus.error,
            TaskRunStatus.canceled,
        )
        total = result.rows_read if finished else estimate
        self.progress.update(
            bar, completed=result.rows_read, total=total, description=result.table or "task"
        )
        if result.status is TaskRunStatus.error:
            with self.lock:
                self.failed += 1
            error(f"task {result.position} failed: {result.error}")

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        pass

    def stage(self, task_id: str, stage: Stage) -> None:
        pass


def _preload(url: str) -> None:
    """Import the connector a URL names (the run would, a moment later); whatever fails
    here (no connector serves the URL, a plugin that cannot load) fails the run the same
    way again, and the run reports it, as it always has."""
    from conveyor.connectors.registry import resolve

    with contextlib.suppress(Exception):
        resolve(url).load()


def run(
    statements: Annotated[list[str], typer.Argument(help="REPLICATE statements, run in order.")],
    source: Annotated[str, typer.Option(help="Source connection URL, e.g. sqlite:///shop.db")],
    destination: Annotated[
        str, typer.Option(help="Destination URL, e.g. file:///tmp/out?format=parquet")
    ],
    batch_size: Annotated[int | None, typer.Option(help="Rows per batch.")] = None,
    load: Annotated[
        RunLoad, typer.Option(help="full: copy everything again; incremental: what changed.")
    ] = RunLoad.incremental,
    full: Annotated[bool, typer.Option(help="Short for --load full.")] = False,
) -> None:
    """Run REPLICATE statements once, without a server, with a progress bar.

    The URLs reach what an admin's may (`Policy.server_reach`): anything but Conveyor's
    data directory, whose store a running server may have open — a second SQLite
    library on its file breaks the server's locks and loses its writes.
    """
    with collector.long_lived():  # the engine, imported once
        from conveyor.engine import runner
        from conveyor.engine.replicate import parse
        from conveyor.policy import Policy

    try:
        for statement in statements:
            parse(statement)
        settings = EngineSettings(batch_size=batch_size)
    except (ConveyorError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ConveyorError) else str(exc)
        error(message)
        raise typer.Exit(2) from None
    with collector.long_lived():  # the settings and both ends' connectors, imported once
        reach = Policy(load_settings()).server_reach()
        for url in (source, destination):
            _preload(url)
    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        # a one-off run is a job of its own: the next run of a job drops the staging tables
        # its earlier runs left, and another `conveyor run` may be loading the same place
        job_id=f"cli-{uuid.uuid4().hex}",
        job_name="conveyor run",
        job_type="standard",
        load=RunLoad.full if full else load,
        settings=settings,
        source=Endpoint(source, reach=reach),
        destination=Endpoint(destination, reach=reach),
        tasks=tuple(TaskSpec(id=str(i), position=i, query=q) for i, q in enumerate(statements)),
    )
    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    started = time.monotonic()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),  # the percentage, when the source estimated the rows
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=False) as progress:
        reporter = ProgressReporter(progress)
        outcome = runner.execute(spec, reporter, cancel)
    elapsed = time.monotonic() - started
    collector.before_exit()
    rows = outcome.rows_written
    rate = rows / elapsed if elapsed > 0 else 0.0
    console.print(f"{outcome.status.value}: {rows:,} rows in {elapsed:.2f} s ({rate:,.0f} rows/s)")
    if outcome.status is not RunStatus.completed:
        if not reporter.failed:  # else the tasks' failures said it
            error(outcome.error or outcome.status.value)
        sys.exit(1)
