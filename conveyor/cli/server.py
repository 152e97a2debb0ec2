"""The server's own commands: serve (API, workers, scheduler), worker, migrate.

These run where the data directory (or `CONVEYOR_DATABASE_URL`) is, and read their
settings from `CONVEYOR_*` variables; a bad value ends them with its variable named.
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError

from conveyor.cli.output import console, error, fail
from conveyor.errors import ConveyorError

if TYPE_CHECKING:  # loading pydantic-settings costs `conveyor run` 40 ms it does not need
    from conveyor.config import Settings


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment, with the command's options over them."""
    from conveyor.config import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "CONVEYOR_" + str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        error(f"{name}: {problem['msg']}")
        raise typer.Exit(2) from None


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

    from conveyor.api.app import create_app, serve_processes
    from conveyor.api.serving import serve_one
    from conveyor.logging import configure
    from conveyor.runtime import Runtime

    settings = load_settings(host=host, port=port, api_processes=processes)
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
        raise fail(exc.message) from None
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
    serve_one(
        create_app(runtime, workers=workers, shutdown_grace=settings.shutdown_grace),
        host=settings.host,
        port=settings.port,
    )


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

    settings = load_settings()
    configure(settings.log_level, settings.log_format)
    runtime = Runtime.create(settings)
    if not migrate.is_current(runtime.engine):
        raise fail("the store's schema is not current: run `conveyor migrate` first")
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


def migrate() -> None:
    """Create or upgrade the metadata store's schema."""
    from conveyor.runtime import Runtime

    settings = load_settings()
    runtime = Runtime.create(settings)
    runtime.migrate()
    console.print(f"store is current ({settings.metadata_url.split('@')[-1]})")
