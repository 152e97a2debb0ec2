"""History at scale: list and filter latency with 1,000,000 runs and 10,000,000 log lines.

Target (issue 16): p99 < 50 ms for every list and filter of every surface — the native
runs list with filters and sort, a run's log lines paged (by offset and after an id),
CData's `$filter`/`$orderby`/`$top` on history and jobs, the JSON:API jobs index and
Elastic's sync jobs list (whole, by status, by connector and type) and connectors list.

The store is seeded in bulk (SQLite: `executemany` in one transaction; PostgreSQL: COPY)
after the migrations, so its indexes are the ones a server has. Requests go through the
whole app in-process (FastAPI's TestClient: routing, authentication, the services, the
store — no sockets), one at a time; the figures are per request, on a machine that other
work shares, so read them as orders of magnitude.

    python -m bench.history_scale [--store sqlite|postgres|both] [--runs 1000000]
                                  [--lines-per-run 10] [--repeat 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from sqlalchemy import select

from bench.cluster_common import percentile
from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store.models import ElasticConnector, Job, Workspace
from conveyor.store.session import unit_of_work
from tests.services import fresh_pg_database

TOKEN = "cvy_bench_admin_token_abcdefghijkl"
TARGET_P99_MS = 50.0
JOBS = 100
STATUSES = ("completed", "completed", "completed", "error", "canceled")
RUN_COLUMNS = (
    *("id", "workspace_id", "kind", "job_id", "job_name", "load", "trigger_method"),
    *("status", "priority", "attempt", "max_attempts", "scheduled_at", "created_at"),
    *("updated_at", "started_at", "completed_at", "progress", "rows_read", "rows_written"),
    *("rows_deleted", "bytes_written", "tasks_total", "tasks_done", "executor"),
)
LOG_COLUMNS = ("run_id", "ts", "level", "message")


def _stamp(value: dt.datetime, text: bool) -> Any:
    """A timestamp as SQLite's rows hold it (naive UTC text), or as it is for COPY."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if text else value


def _runs(
    count: int, workspace: str, jobs: list[tuple[str, str]], start: dt.datetime, text: bool
) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        job_id, job_name = jobs[i % len(jobs)]
        created = start + dt.timedelta(seconds=i * 2)
        began = created + dt.timedelta(seconds=1)
        yield (
            *(str(uuid.UUID(int=i + 1)), workspace, "job", job_id, job_name, "incremental"),
            *("scheduled", STATUSES[i % len(STATUSES)], 0, 1, 1),
            *(_stamp(created, text), _stamp(created, text), _stamp(began, text)),
            *(_stamp(began, text), _stamp(began + dt.timedelta(seconds=30), text)),
            *(1.0, i % 5000, i % 5000),
            *(0, 1000, 1, 1, "conveyor"),
        )


def _lines(count: int, per_run: int, start: dt.datetime, text: bool) -> Iterator[tuple[Any, ...]]:
    for i in range(count):
        run_id = str(uuid.UUID(int=i + 1))
        ts = _stamp(start + dt.timedelta(seconds=i * 2 + 1), text)
        for n in range(per_run):
            yield (run_id, ts, "info", f"task {n}: 1000 rows written")


def seed(runtime: Runtime, runs: int, per_run: int) -> tuple[str, str, str]:
    """Jobs (some Elastic connectors), `runs` finished runs and `per_run` lines each."""
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).one().id
        made = [Job(workspace_id=workspace, name=f"job {j}", type="standard") for j in range(JOBS)]
        session.add_all(made)
        session.flush()
        jobs = [(job.id, job.name) for job in made]
        for job in made[:10]:
            session.add(ElasticConnector(job_id=job.id, index_name=f"search-{job.name}"))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=runs * 2 + 60)
    raw = runtime.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if runtime.engine.dialect.name == "sqlite":
            naive = start.replace(tzinfo=None)
            marks = ", ".join("?" * len(RUN_COLUMNS))
            cursor.executemany(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({marks})",
                _runs(runs, workspace, jobs, naive, True),
            )
            cursor.executemany(
                f"INSERT INTO run_logs ({', '.join(LOG_COLUMNS)}) VALUES (?, ?, ?, ?)",
                _lines(runs, per_run, naive, True),
            )
        else:
            with cursor.copy(f"COPY runs ({', '.join(RUN_COLUMNS)}) FROM STDIN") as copy:
                for row in _runs(runs, workspace, jobs, start, False):
                    copy.write_row(row)
            with cursor.copy(f"COPY run_logs ({', '.join(LOG_COLUMNS)}) FROM STDIN") as copy:
                for row in _lines(runs, per_run, start, False):
                    copy.write_row(row)
        raw.commit()
        if runtime.engine.dialect.name == "sqlite":
            cursor.execute("ANALYZE")  # what `store.statistics.refresh` does for a server
            raw.commit()
        else:
            # What autovacuum does soon after a bulk load: statistics, and the visibility
            # map that lets a COUNT read an index alone (outside a transaction block).
            driver = raw.driver_connection
            assert driver is not None
            driver.autocommit = True
            driver.execute("VACUUM ANALYZE")
            driver.autocommit = False
    finally:
        raw.close()
    middle = str(uuid.UUID(int=runs // 2 + 1))
    return jobs[7][0], jobs[7][1], middle


def requests(job_id: str, job_name: str, run_id: str) -> list[tuple[str, str, dict[str, str]]]:
    """(surface, path, params) of each list measured."""
    recent = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    return [
        ("native runs", "/api/v1/runs", {"limit": "50"}),
        ("native runs status+sort", "/api/v1/runs", {"status": "error", "sort": "-created_at"}),
        ("native runs job", "/api/v1/runs", {"job_id": job_id, "limit": "50"}),
        ("native runs since", "/api/v1/runs", {"created_at__gte": recent}),
        ("run logs", f"/api/v1/runs/{run_id}/logs", {"limit": "100"}),
        ("run logs after id", f"/api/v1/runs/{run_id}/logs", {"after": "1", "limit": "100"}),
        ("cdata history top", "/api.rsc/history", {"$top": "50"}),
        (
            "cdata history filter",
            "/api.rsc/history",
            {"$filter": f"JobName eq '{job_name}' and Status eq 'FAILED'", "$top": "50"},
        ),
        (
            "cdata history orderby",
            "/api.rsc/history",
            {"$orderby": "RunStartDate desc", "$top": "50"},
        ),
        (
            "cdata history contains",
            "/api.rsc/history",
            {"$filter": f"startswith(JobName, '{job_name}')", "$top": "20"},
        ),
        ("cdata history $count", "/api.rsc/history/$count", {"$filter": "Status eq 'FAILED'"}),
        ("cdata jobs", "/api.rsc/jobs", {"$filter": "Status eq 'FAILED'", "$top": "50"}),
        ("cdata jobs orderby", "/api.rsc/jobs", {"$orderby": "LastRunDate desc", "$top": "20"}),
        ("jsonapi jobs", "/sync/jobs", {"page[size]": "50"}),
        ("jsonapi jobs filter", "/sync/jobs", {"filter[status]": "error", "page[size]": "50"}),
        ("elastic sync jobs", "/_connector/_sync_job", {"size": "50"}),
        ("elastic sync jobs status", "/_connector/_sync_job", {"status": "error", "size": "50"}),
        (
            "elastic sync jobs connector",
            "/_connector/_sync_job",
            {"connector_id": job_id, "job_type": "incremental", "size": "50"},
        ),
        ("elastic connectors", "/_connector", {"size": "50"}),
    ]


@contextmanager
def store(kind: str) -> Iterator[str | None]:
    """A fresh PostgreSQL database's URL, or None for SQLite."""
    if kind == "postgres":
        with fresh_pg_database("conveyor_bench") as url:
            yield url
    else:
        with nullcontext():
            yield None


def measure(kind: str, runs: int, per_run: int, repeat: int) -> list[tuple[str, float, float]]:
    with tempfile.TemporaryDirectory() as data, store(kind) as url:
        settings = Settings(
            data_dir=Path(data),
            database_url=url,
            admin_token=TOKEN,
            secret_key=Fernet.generate_key().decode(),
            workers=0,
            scheduler=False,
            run_retention_days=0,
            log_retention_days=0,
        )
        runtime = Runtime.create(settings)
        runtime.migrate()
        runtime.bootstrap()
        began = time.perf_counter()
        job_id, job_name, run_id = seed(runtime, runs, per_run)
        print(
            f"\n## {kind}: seeded {runs:,} runs and {runs * per_run:,} log lines "
            f"in {time.perf_counter() - began:.0f} s"
        )
        figures = []
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with TestClient(create_app(runtime), headers=headers) as client:
            for surface, path, params in requests(job_id, job_name, run_id):
                timings = []
                client.get(path, params=params)  # warm: the first request plans and caches
                for _ in range(repeat):
                    start = time.perf_counter()
                    response = client.get(path, params=params)
                    timings.append((time.perf_counter() - start) * 1000)
                    if response.status_code != 200:
                        raise SystemExit(f"{surface}: {response.status_code} {response.text}")
                figures.append((surface, percentile(timings, 0.5), percentile(timings, 0.99)))
        runtime.close()
    return figures


def report(kind: str, figures: list[tuple[str, float, float]]) -> None:
    print(f"{'request':<28} {'p50 ms':>8} {'p99 ms':>8}  (target p99 < {TARGET_P99_MS:.0f} ms)")
    for surface, p50, p99 in figures:
        mark = "ok" if p99 < TARGET_P99_MS else "SLOW"
        print(f"{surface:<28} {p50:>8.1f} {p99:>8.1f}  {mark}")


def main(
    stores: tuple[str, ...] = ("sqlite",),
    runs: int = 1_000_000,
    per_run: int = 10,
    repeat: int = 30,
) -> None:
    for kind in stores:
        report(kind, measure(kind, runs, per_run, repeat))


def _cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--lines-per-run", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    stores = ("sqlite", "postgres") if args.store == "both" else (args.store,)
    main(stores, args.runs, args.lines_per_run, args.repeat)


if __name__ == "__main__":
    _cli()
