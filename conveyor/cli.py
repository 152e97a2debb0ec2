"""The `conveyor` command: serve, worker, migrate, and one-off runs with a progress bar."""

from __future__ import annotations

import signal
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from conveyor.domain import EngineSettings, RunLoad, RunStatus, TaskRunStatus
from conveyor.engine.reporting import Stage, TaskResult
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from conveyor.errors import ConveyorError

if TYPE_CHECKING:  # loading pydantic-settings costs `conveyor run` 40 ms it does not need
    from conveyor.config import Settings

app = typer.Typer(help="Conveyor: a self-hosted data synchronization server.", no_args_is_help=True)
console = Console()
errors = Console(stderr=True)


def _error(message: str) -> None:
    """Print one error line to stderr: its text verbatim (brackets are not Rich markup)
    and not wrapped at the terminal's width."""
    errors.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def _settings(**overrides: Any) -> Settings:
    from conveyor.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "CONVEYOR_" + str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        _error(f"{name}: {problem['msg']}")
        raise typer.Exit(2) from None


def _fail(exc: ConveyorError) -> typer.Exit:
    _error(exc.message)
    return typer.Exit(2)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [CONVEYOR_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [CONVEYOR_PORT].")] = None,
    workers: Annotated[
        bool, typer.Option("--workers/--no-workers", help="Execute runs in this process.")
    ] = True,
    migrate: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Migrate the store first.")
    ] = True,
    processes: Annotated[
        int | None,
        typer.Option(
            help="API processes on the port [CONVEYOR_API_PROCESSES] (default: one per core)."
        ),
    ] = None,
) -> None:
    """Start the API (and, unless --no-workers, the workers).

    With several API processes (the default on a multi-core machine), the workers, the
    scheduler and the file cleaner run once, in this process, which supervises them.
    """
    import os

    import uvicorn

    from conveyor.api.app import create_app, serve_processes
    from conveyor.logging import configure
    from conveyor.runtime import Runtime

    settings = _settings(host=host, port=port, api_processes=processes)
    configure(settings.log_level, settings.log_format)
    try:
        runtime = Runtime.create(settings)
        if migrate:
            runtime.migrate()
        token = runtime.bootstrap()
        if settings.demo:
            from conveyor.demo import ensure_demo

            with runtime.unit() as ctx:
                ensure_demo(ctx)
    except ConveyorError as exc:
        raise _fail(exc) from None
    if token:
        console.print(
            f"\n[bold]Admin token[/bold] (shown once, keep it): [green]{token}[/green]\n"
            f"  export CONVEYOR_TOKEN={token}\n"
        )
    console.print(
        f"Conveyor listening on http://{settings.host}:{settings.port}  (API docs: /docs)"
        + (f", {settings.processes} API processes" if settings.processes > 1 else "")
    )
    if settings.processes > 1:
        # The API processes read their settings from the environment, as this one did.
        os.environ["CONVEYOR_API_PROCESSES"] = str(settings.processes)
        serve_processes(runtime, workers=workers)
        return
    uvicorn.run(
        create_app(runtime, workers=workers, shutdown_grace=settings.shutdown_grace),
        host=settings.host,
        port=settings.port,
        log_config=None,
        server_header=False,  # no `server: uvicorn` banner
    )


@app.command()
def worker(
    grace: Annotated[
        float | None,
        typer.Option(help="Seconds runs get to finish on SIGTERM [CONVEYOR_SHUTDOWN_GRACE]."),
    ] = None,
) -> None:
    """Execute queued runs (no API); start several on several machines against PostgreSQL."""
    from conveyor.logging import configure
    from conveyor.runtime import Runtime
    from conveyor.store import migrate

    settings = _settings()
    configure(settings.log_level, settings.log_format)
    runtime = Runtime.create(settings)
    if not migrate.is_current(runtime.engine):
        errors.print(
            "[red]error:[/red] the store's schema is not current: run `conveyor migrate` first"
        )
        raise typer.Exit(2)
    pool = runtime.worker_pool()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    pool.start()
    console.print(f"worker {pool.worker_id} running {settings.workers} slot(s); SIGTERM to stop")
    while not stop.wait(1.0):
        pass
    console.print("stopping: no new runs; waiting for running ones…")
    pool.stop(settings.shutdown_grace if grace is None else grace)
    console.print("stopped")


@app.command(name="migrate")
def migrate_command() -> None:
    """Create or upgrade the metadata store's schema."""
    from conveyor.runtime import Runtime

    settings = _settings()
    runtime = Runtime.create(settings)
    runtime.migrate()
    console.print(f"store is current ({settings.metadata_url.split('@')[-1]})")


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
            _error(f"task {result.position} failed: {result.error}")

    def save_state(self, task_id: str, state: dict[str, Any]) -> None:
        pass

    def stage(self, task_id: str, stage: Stage) -> None:
        pass


@app.command()
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
    from conveyor.engine import runner
    from conveyor.engine.replicate import parse
    from conveyor.policy import Policy

    try:
        for statement in statements:
            parse(statement)
        settings = EngineSettings(batch_size=batch_size)
    except (ConveyorError, ValidationError) as exc:
        message = exc.message if isinstance(exc, ConveyorError) else str(exc)
        _error(message)
        raise typer.Exit(2) from None
    reach = Policy(_settings()).server_reach()
    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        job_id="cli",
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
        TextColumn("{task.completed:,.0f} rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=errors, transient=False) as progress:
        reporter = ProgressReporter(progress)
        outcome = runner.execute(spec, reporter, cancel)
    elapsed = time.monotonic() - started
    rows = outcome.rows_written
    rate = rows / elapsed if elapsed > 0 else 0.0
    console.print(f"{outcome.status.value}: {rows:,} rows in {elapsed:.2f} s ({rate:,.0f} rows/s)")
    if outcome.status is not RunStatus.completed:
        if not reporter.failed:  # else the tasks' failures said it
            _error(outcome.error or outcome.status.value)
        sys.exit(1)


if __name__ == "__main__":
    app()
