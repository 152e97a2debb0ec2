"""The HTTP application: native API, facades, health, and the embedded workers' lifespan."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from conveyor import __version__, compat
from conveyor.api import audit, contract, docs, limits, metrics, problems, security_headers
from conveyor.api.v1 import router as v1_router
from conveyor.capacity import Admission, Capacity
from conveyor.domain import utcnow
from conveyor.files.retention import Cleaner
from conveyor.queue.worker import WorkerPool
from conveyor.runtime import Runtime
from conveyor.services import audit as audit_log
from conveyor.store import migrate

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, workers: bool = True, shutdown_grace: float = 30.0) -> FastAPI:
    """Build the app on a runtime; with `workers`, it also executes queued runs."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        Capacity.of(runtime.settings).apply_threads()
        pool: WorkerPool | None = None
        if workers and runtime.settings.workers > 0:
            if runtime.embedded:
                # One process owns the embedded store's workers: what it left running died.
                recovered = runtime.queue.sweep(utcnow() + dt.timedelta(seconds=1))
                if recovered:
                    log.warning(
                        "recovered %d run(s) left running by a previous process", len(recovered)
                    )
            pool = runtime.worker_pool()
            pool.start()
        scheduler = runtime.scheduler() if runtime.settings.scheduler else None
        if scheduler is not None:
            scheduler.start()
        cleaner = Cleaner(
            runtime.factory,
            runtime.settings,
            passes=[lambda: audit_log.purge(runtime.factory, runtime.settings)],
        )
        cleaner.start()
        app.state.pool = pool
        try:
            yield
        finally:
            cleaner.stop()
            if scheduler is not None:
                scheduler.stop()
            if pool is not None:
                await run_in_threadpool(pool.stop, shutdown_grace)

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
    metrics.install(app, runtime)
    app.include_router(v1_router)
    docs.install(app)
    compat.install(app)  # every facade; the one place `api` reaches `compat`

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
    contract.install(app)  # the OpenAPI document, with each surface's failures
    return app
