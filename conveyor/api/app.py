"""The HTTP application: native API, facades, health, and the embedded workers' lifespan."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from conveyor import __version__, collector, compat, console
from conveyor.api import (
    audit,
    contract,
    docs,
    limits,
    metrics,
    problems,
    read_cache,
    security_headers,
)
from conveyor.api.deps import check_routes
from conveyor.api.v1 import router as v1_router
from conveyor.capacity import Admission, Capacity
from conveyor.connectors import registry
from conveyor.domain import utcnow
from conveyor.files.retention import Cleaner
from conveyor.queue.worker import WorkerPool
from conveyor.runtime import Runtime
from conveyor.scheduler.cron import Scheduler
from conveyor.services import audit as audit_log
from conveyor.store import migrate, statistics

log = logging.getLogger(__name__)
HEALTHCHECK_SECONDS = 60
"""How long an API process of `serve_processes` may take to answer its supervisor's
health check (starting included) before it is deemed hung and replaced."""


class Background:
    """What a server runs besides answering requests: the embedded queue workers, the
    scheduler and the file (and audit) cleaner — in exactly one process of a server: its
    only one, or the supervisor of its API processes (`serve_processes`)."""

    def __init__(self, runtime: Runtime, *, workers: bool = True) -> None:
        self.runtime = runtime
        self.workers = workers
        self.pool: WorkerPool | None = None
        self.scheduler: Scheduler | None = None
        self.cleaner: Cleaner | None = None

    def start(self) -> None:
        runtime = self.runtime
        if self.workers and runtime.settings.workers > 0:
            if runtime.embedded:
                # One process owns the embedded store's workers: what it left running died.
                recovered = runtime.queue.sweep(utcnow() + dt.timedelta(seconds=1))
                if recovered:
                    log.warning(
                        "recovered %d run(s) left running by a previous process", len(recovered)
                    )
            self.pool = runtime.worker_pool()
            self.pool.start()
        self.scheduler = runtime.scheduler() if runtime.settings.scheduler else None
        if self.scheduler is not None:
            self.scheduler.start()
        self.cleaner = Cleaner(
            runtime.factory,
            runtime.settings,
            passes=[
                lambda: audit_log.purge(runtime.factory, runtime.settings),
                lambda: statistics.refresh(runtime.engine),
            ],
        )
        self.cleaner.start()

    def stop(self, shutdown_grace: float) -> None:
        """Stop the cleaner and the scheduler; give running runs `shutdown_grace` seconds."""
        if self.cleaner is not None:
            self.cleaner.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.pool is not None:
            self.pool.stop(shutdown_grace)


def preload_connectors(serving: threading.Event | None = None) -> None:
    """Import every connector now, off the request path: the first request to save or
    test a connection would otherwise import it (PostgreSQL's drivers take about half a
    second) while it holds a store transaction. The drivers then live as long as the
    server: frozen with the rest, unless it stopped meanwhile (`serving` cleared)."""
    for spec in registry.specs():
        try:
            spec.capabilities  # noqa: B018 - asking imports the implementation, once
        except Exception:  # a broken plugin is reported when it is used
            log.warning("connector %s could not be loaded", spec.name, exc_info=True)
    if serving is None or serving.is_set():
        collector.server_started()


def create_app(
    runtime: Runtime,
    *,
    workers: bool = True,
    shutdown_grace: float = 30.0,
    background: bool = True,
) -> FastAPI:
    """Build the app on a runtime; with `workers`, it also executes queued runs. Without
    `background` it only answers requests: another process runs the workers, the scheduler
    and the cleaner (an API process of `serve_processes`)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Capacity.of(runtime.settings).apply_threads()
        serving = threading.Event()
        serving.set()
        threading.Thread(
            target=preload_connectors, args=(serving,), name="preload", daemon=True
        ).start()
        running = Background(runtime, workers=workers) if background else None
        if running is not None:
            running.start()
        app.state.pool = running.pool if running is not None else None
        collector.server_started()  # its objects out of full collections (p99 of every list)
        try:
            yield
        finally:
            serving.clear()
            collector.server_stopped()
            if running is not None:
                await run_in_threadpool(running.stop, shutdown_grace)

    app = FastAPI(
        title="Conveyor",
        version=__version__,
        description="Self-hosted data synchronization: connections, jobs of REPLICATE tasks, "
        "queued runs, and compatibility APIs for CData Sync, Contentserv SCAPI, Elastic "
        "connectors and JSON:API exports.",
        lifespan=lifespan,
        docs_url=None,  # served by `docs`, from the package: no CDN
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.admission = Admission(
        runtime.settings.api_concurrency, runtime.settings.api_queue_timeout
    )
    problems.install(app)
    audit.install(app, runtime.engine)  # the innermost middleware: it must see the route
    limits.install(app, runtime.settings)
    read_cache.install(app, runtime)  # between the limits and the metrics
    metrics.install(app, runtime)
    app.include_router(v1_router)
    docs.install(app)
    compat.install(app)  # every facade; the one place `api` reaches `compat`
    console.install(app, runtime)  # the web console at /ui/ (and / sends browsers there)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (no dependencies checked)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz() -> Any:
        """Readiness: the store answers and its schema is current."""
        try:
            with runtime.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            current = migrate.is_current(runtime.engine)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": f"database: {type(exc).__name__}"},
                status_code=503,
            )
        if not current:
            return JSONResponse(
                {"status": "unavailable", "detail": "migrations pending: run conveyor migrate"},
                status_code=503,
            )
        return {"status": "ok"}

    security_headers.install(app)
    check_routes(app)
    contract.install(app)  # the OpenAPI document, with each surface's failures
    return app


def api_process() -> FastAPI:
    """The app of one API process of `serve_processes` (a uvicorn factory): settings from
    the environment, no workers, no scheduler, no cleaner — the supervisor runs those."""
    from conveyor.config import Settings
    from conveyor.logging import configure

    settings = Settings()
    configure(settings.log_level, settings.log_format)
    return create_app(Runtime.create(settings), workers=False, background=False)


def serve_processes(runtime: Runtime, *, workers: bool = True) -> None:
    """Serve on `settings.processes` API processes sharing one listening socket, while this
    process (their supervisor) runs the background once; until SIGTERM or SIGINT.

    The API processes are uvicorn's workers: started afresh (not forked), each with its
    own store connections, worker threads and admission gate (`CONVEYOR_API_CONCURRENCY`
    is per process), restarted if one dies. On a signal they finish the requests in hand
    and stop; then running runs get `CONVEYOR_SHUTDOWN_GRACE` seconds.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    settings = runtime.settings
    config = uvicorn.Config(
        "conveyor.api.app:api_process",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.processes,
        log_config=None,
        server_header=False,  # no `server: uvicorn` banner
        # A starting process answers the supervisor's health check only once it has
        # imported the app; on a busy machine that takes longer than uvicorn's 5 s,
        # and a process killed for it is started again, and killed again.
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )
    sock = config.bind_socket()
    running = Background(runtime, workers=workers)
    running.start()
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        running.stop(settings.shutdown_grace)
