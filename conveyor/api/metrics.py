"""`/metrics` in Prometheus' text format: the queue's health and the API's latency.

Queue figures are read from the store at scrape time (so every API node reports the
same, cluster-wide truth); request latency is measured in this process.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from conveyor.api.deps import Caller
from conveyor.domain import RunStatus, utcnow
from conveyor.runtime import Runtime
from conveyor.store.models import Run
from conveyor.store.session import unit_of_work


class QueueCollector(Collector):
    """Runs by status, queue depth and age, heartbeat lag, rows and bytes moved."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Any]:
        now = utcnow()
        with unit_of_work(self.runtime.factory) as session:
            by_status = dict(
                session.execute(select(Run.status, func.count()).group_by(Run.status)).all()
            )
            ready = (Run.status == RunStatus.pending.value) & (Run.scheduled_at <= now)
            depth, oldest = session.execute(
                select(func.count(), func.min(Run.scheduled_at)).where(ready)
            ).one()
            running = Run.status.in_((RunStatus.in_progress.value, RunStatus.canceling.value))
            last_seen = session.scalar(
                select(func.min(Run.last_seen)).where(running, Run.executor == "conveyor")
            )
            rows, written_bytes = session.execute(
                select(
                    func.coalesce(func.sum(Run.rows_written), 0),
                    func.coalesce(func.sum(Run.bytes_written), 0),
                )
            ).one()
        runs = GaugeMetricFamily("conveyor_runs", "Runs in the store by status.", labels=["status"])
        for status in RunStatus:
            runs.add_metric([status.value], by_status.get(status.value, 0))
        yield runs
        yield GaugeMetricFamily(
            "conveyor_queue_depth", "Runs waiting to be claimed now.", value=depth
        )
        yield GaugeMetricFamily(
            "conveyor_queue_oldest_pending_seconds",
            "Age of the oldest runnable pending run.",
            value=_age(now, oldest),
        )
        yield GaugeMetricFamily(
            "conveyor_heartbeat_lag_seconds",
            "Longest time since a running run's worker last reported.",
            value=_age(now, last_seen),
        )
        yield CounterMetricFamily(
            "conveyor_rows_written", "Rows written by the runs in the store.", value=rows
        )
        yield CounterMetricFamily(
            "conveyor_bytes_written", "Bytes written by the runs in the store.", value=written_bytes
        )


def _age(now: Any, moment: Any) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    seconds: float = (now - moment).total_seconds()
    return max(0.0, seconds)


def install(app: FastAPI, runtime: Runtime) -> None:
    """Add the latency middleware and the `/metrics` route (authenticated, like the API)."""
    registry = CollectorRegistry()
    registry.register(QueueCollector(runtime))
    latency = Histogram(
        "conveyor_http_request_duration_seconds",
        "API request latency.",
        ["method", "route", "status"],
        registry=registry,
    )

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        latency.labels(request.method, _route_of(request), str(response.status_code)).observe(
            time.perf_counter() - started
        )
        return response

    @app.get("/metrics", tags=["health"], include_in_schema=True)
    def metrics(_: Caller) -> Response:
        """Prometheus metrics of the queue and the API."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _route_of(request: Request) -> str:
    """The request's path with its parameters named, e.g. /api/v1/runs/{run_id} (bounded labels)."""
    if "route" not in request.scope:
        return "unmatched"
    path = request.url.path
    for name, value in request.path_params.items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path
