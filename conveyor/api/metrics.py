"""`/metrics` in Prometheus' text format: the queue's health, the API's latency, runs
per workspace, and each change data capture job's lag and retained WAL.

Queue and workspace figures are read from the store at scrape time (so every API node
reports the same, cluster-wide truth); request latency is measured in this process. The
rows and bytes written are the store's counters (`conveyor.store.counters`), added to as
runs write, so they never go down when runs are deleted.

Every label set is bounded whatever clients send: requests are labeled by their route's
template (`/api/v1/runs/{run_id}`, or `unmatched`), a known method (or `other`) and the
status class (`2xx`, `4xx`), never by a path, an id or a query. Who sees what is decided
per scrape (see `metrics`): workspaces are the only series with a workspace in them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Response
from fastapi.routing import iter_route_contexts
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.asgi import HttpMiddleware
from conveyor.api.deps import RT, Caller
from conveyor.domain import JobType, Role, RunStatus, utcnow
from conveyor.runtime import Runtime
from conveyor.services.context import Principal
from conveyor.store import counters
from conveyor.store.models import Job, Run, Workspace
from conveyor.store.session import unit_of_work

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
            totals = counters.values(session)
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
            "conveyor_rows_written",
            "Rows written by every run since the store was created (deleting runs keeps them).",
            value=totals[counters.ROWS_WRITTEN],
        )
        yield CounterMetricFamily(
            "conveyor_bytes_written",
            "Bytes written by every run since the store was created (deleting runs keeps them).",
            value=totals[counters.BYTES_WRITTEN],
        )


def _age(now: Any, moment: Any) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=now.tzinfo)
    seconds: float = (now - moment).total_seconds()
    return max(0.0, seconds)


class WorkspaceCollector(Collector):
    """Runs by workspace and status, and each workspace's name, for the workspaces a caller sees."""

    def __init__(self, runtime: Runtime, principal: Principal) -> None:
        self.runtime = runtime
        self.principal = principal

    def collect(self) -> Iterator[Any]:
        visible = self.principal.workspace_ids
        workspaces = select(Workspace.id, Workspace.name)
        counts = select(Run.workspace_id, Run.status, func.count()).group_by(
            Run.workspace_id, Run.status
        )
        if visible:
            workspaces = workspaces.where(Workspace.id.in_(visible))
            counts = counts.where(Run.workspace_id.in_(visible))
        with unit_of_work(self.runtime.factory) as session:
            names: dict[str, str] = {
                workspace_id: name
                for workspace_id, name in session.execute(workspaces.order_by(Workspace.id))
            }
            found: dict[tuple[str, str], int] = {
                (workspace_id, status): count
                for workspace_id, status, count in session.execute(counts)
            }
        info = GaugeMetricFamily(
            "conveyor_workspace_info",
            "A workspace's name (always 1).",
            labels=["workspace", "name"],
        )
        runs = GaugeMetricFamily(
            "conveyor_workspace_runs",
            "Runs in the store by workspace and status.",
            labels=["workspace", "status"],
        )
        for workspace_id, name in names.items():
            info.add_metric([workspace_id, name], 1)
            for status in RunStatus:
                runs.add_metric(
                    [workspace_id, status.value], found.get((workspace_id, status.value), 0)
                )
        yield info
        yield runs


CDC_RUNS_LOOKED_AT = 5
"""A CDC job's latest runs read for its status: the newest that has one (a run just
queued, or not past its first batch yet, has none)."""


class CdcCollector(Collector):
    """Each change data capture job's lag and the WAL its slot holds on the source, as
    its latest run last reported them (a scrape never reaches a source), for the
    workspaces a caller sees."""

    def __init__(self, runtime: Runtime, principal: Principal) -> None:
        self.runtime = runtime
        self.principal = principal

    def collect(self) -> Iterator[Any]:
        jobs = select(Job.id, Job.name, Job.workspace_id).where(
            Job.type == JobType.change_data_capture.value
        )
        visible = self.principal.workspace_ids
        if visible:
            jobs = jobs.where(Job.workspace_id.in_(visible))
        newest = func.row_number().over(partition_by=Run.job_id, order_by=Run.created_at.desc())
        ranked = (
            select(Run.job_id, Run.cdc, newest.label("n"))
            .where(Run.job_id.in_(jobs.with_only_columns(Job.id).scalar_subquery()))
            .subquery()
        )
        latest = (
            select(ranked.c.job_id, ranked.c.cdc)
            .where(ranked.c.n <= CDC_RUNS_LOOKED_AT)
            .order_by(ranked.c.job_id, ranked.c.n)
        )
        with unit_of_work(self.runtime.factory, read_only=True) as session:
            found = session.execute(jobs.order_by(Job.id)).all()
            status: dict[str, dict[str, Any]] = {}
            for job_id, cdc in session.execute(latest):
                if cdc and job_id not in status:
                    status[job_id] = cdc
        labels = ["job", "name", "workspace"]
        lag = GaugeMetricFamily(
            "conveyor_cdc_lag_seconds",
            "How far a change data capture job's destination is behind its source, as its "
            "latest run last reported (0 when caught up).",
            labels=labels,
        )
        retained = GaugeMetricFamily(
            "conveyor_cdc_retained_bytes",
            "WAL (or binlog) a change data capture job's slot keeps on its source, as its "
            "latest run last reported: a forgotten slot fills the source's disk.",
            labels=labels,
        )
        for job_id, name, workspace_id in found:
            cdc = status.get(job_id)
            if cdc is None:
                continue  # never ran: no slot, nothing retained, no lag to speak of
            lag.add_metric([job_id, name, workspace_id], float(cdc.get("lag_seconds") or 0))
            retained.add_metric([job_id, name, workspace_id], float(cdc.get("retained_bytes") or 0))
        yield lag
        yield retained


class RouteTemplates:
    """The full path template of the route that answered, e.g. `/api/v1/runs/{run_id}`.

    FastAPI keeps included routers nested: the route in a request's scope knows only its
    own part of the path (`/{run_id}`), so the full templates are collected from the app
    and looked up by route; a route added later is found by collecting again, once.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.known: dict[int, str] = {}

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is None:
            return "unmatched"
        template = self.known.get(id(route))
        if template is None:
            self.known = self._collect()
            own = getattr(route, "path", None)
            template = self.known.get(id(route)) or (own if isinstance(own, str) else "unmatched")
            self.known[id(route)] = template
        return template

    def _collect(self) -> dict[int, str]:
        found: dict[int, str] = {}
        for context in iter_route_contexts(self.app.routes):
            if isinstance(context.path, str):
                found.setdefault(id(context.original_route), context.path)
        return found


class HttpMetrics(HttpMiddleware):
    """ASGI middleware: each request's latency by method, route template and status class."""

    def __init__(self, app: ASGIApp, latency: Histogram, templates: RouteTemplates) -> None:
        self.app = app
        self.latency = latency
        self.templates = templates

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.latency.labels(method, self.templates.of(scope), f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


def install(app: FastAPI, runtime: Runtime) -> None:
    """Add the latency middleware and the `/metrics` route (authenticated, like the API)."""
    registry = CollectorRegistry()
    registry.register(QueueCollector(runtime))
    latency = Histogram(
        "conveyor_http_request_duration_seconds",
        "API request latency by method, route template and status class.",
        ["method", "route", "status"],
        registry=registry,
    )
    app.add_middleware(HttpMetrics, latency=latency, templates=RouteTemplates(app))

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        responses={
            200: {
                "description": "Prometheus' text exposition format.",
                "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            }
        },
    )
    def metrics(caller: Caller, rt: RT) -> Response:
        """Prometheus metrics; what a caller sees depends on their role.

        Admins see everything: the queue across every workspace (runs by status, depth,
        oldest pending, heartbeat lag, rows and bytes written), this process's request
        latency, and the per-workspace series (`conveyor_workspace_runs`,
        `conveyor_workspace_info`) of the workspaces they see. Standard users and viewers
        see only the per-workspace series of the workspaces they may see (and the CDC jobs'
        `conveyor_cdc_lag_seconds` and `conveyor_cdc_retained_bytes`) — no totals
        across workspaces, no other workspace's id or name — so a team can watch its own
        runs with a read-only token. Scrape with an admin token for the whole picture.
        """
        own = CollectorRegistry(auto_describe=False)
        own.register(WorkspaceCollector(rt, caller))
        own.register(CdcCollector(rt, caller))
        text = generate_latest(own)
        if caller.role is Role.admin:
            text = generate_latest(registry) + text
        return Response(text, media_type=CONTENT_TYPE_LATEST)
