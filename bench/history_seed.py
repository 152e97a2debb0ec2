"""A metadata store holding a long history, for `history_scale`: seeded in bulk, kept if asked.

Jobs (some exposed as Elastic connectors), each with one task, and `runs` finished runs
spread over them; per run one task result, `per_run` log lines, and for one run in ten an
export file. The runs come from Python (`executemany` on SQLite, COPY on PostgreSQL); the
rows derived from them are written by the database itself (`INSERT … SELECT` over the
runs), so ten million log lines take a statement instead of ten million round trips.
Everything is written after the migrations, so the indexes are the ones a server has.

Seeding a million runs still takes minutes; with a cache folder the seeded store is kept
(the SQLite data directory there, a PostgreSQL database named after it) and reused while
the run count and the lines per run are the same and its schema revision is one this
code's migrations know (they bring it up to date, so before and after a migration the
same runs are measured).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import select

from conveyor.config import Settings
from conveyor.runtime import Runtime
from conveyor.store.migrate import MIGRATIONS, head_revision
from conveyor.store.models import ElasticConnector, Job, Task, Workspace
from conveyor.store.session import unit_of_work
from tests.services import fresh_pg_database, pg_url

TOKEN = "cvy_bench_admin_token_abcdefghijkl"
JOBS = 100
CONNECTORS = 10
STATUSES = ("completed", "completed", "completed", "error", "canceled")
RUN_COLUMNS = (
    *("id", "workspace_id", "kind", "job_id", "job_name", "load", "trigger_method"),
    *("status", "priority", "attempt", "max_attempts", "scheduled_at", "created_at"),
    *("updated_at", "started_at", "completed_at", "progress", "rows_read", "rows_written"),
    *("rows_deleted", "bytes_written", "tasks_total", "tasks_done", "executor"),
)
DERIVED = (
    # One task result per run, of its job's one task.
    "INSERT INTO run_tasks (run_id, task_id, position, query, table_name, status, rows_read,"
    " rows_written, rows_deleted, bytes_written, started_at, completed_at)"
    " SELECT r.id, t.id, 0, t.query, t.table_name, r.status, r.rows_read, r.rows_written, 0,"
    " r.bytes_written, r.started_at, r.completed_at FROM runs AS r JOIN tasks AS t"
    " ON t.job_id = r.job_id ORDER BY r.created_at",
    # An export file for the completed runs of the first ten jobs (rows_read is i % 5000).
    "INSERT INTO files (id, workspace_id, run_id, job_id, path, filename, mime_type, size,"
    " sha256, created_at) SELECT 'f' || substr(r.id, 2), r.workspace_id, r.id, r.job_id,"
    " 'orders.csv', 'orders.csv', 'text/csv', 1000, 'e3b0c44298fc1c149afbf4c8996fb924',"
    " r.completed_at FROM runs AS r WHERE r.status = 'completed' AND r.rows_read / 10 % 10 = 0 ORDER BY r.created_at",
)
LINES = {
    "sqlite": "WITH RECURSIVE n(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM n WHERE n < {last})"
    " INSERT INTO run_logs (run_id, ts, level, message)"
    " SELECT r.id, r.started_at, 'info', 'task ' || n.n || ': 1000 rows written'"
    " FROM runs AS r CROSS JOIN n ORDER BY r.rowid, n.n",
    "postgresql": "INSERT INTO run_logs (run_id, ts, level, message)"
    " SELECT r.id, r.started_at, 'info', 'task ' || n || ': 1000 rows written'"
    " FROM runs AS r CROSS JOIN generate_series(0, {last}) AS n ORDER BY r.created_at, n",
}


@dataclass(frozen=True)
class Seeded:
    """What the requests of the bench name: a job with runs, a run in the middle, a task
    of that job, when the newest run was created, and the store's secret key."""

    job_id: str
    job_name: str
    task_id: str
    run_id: str
    newest: str
    secret_key: str


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
            *("scheduled", STATUSES[(i + i // len(jobs)) % len(STATUSES)], 0, 1, 1),
            *(_stamp(created, text), _stamp(created, text), _stamp(began, text)),
            *(_stamp(began, text), _stamp(began + dt.timedelta(seconds=30), text)),
            *(1.0, i % 5000, i % 5000),
            *(0, 1000, 1, 1, "conveyor"),
        )


def seed(runtime: Runtime, runs: int, per_run: int, job_count: int = JOBS) -> Seeded:
    """`job_count` jobs, their tasks and connectors; `runs` finished runs with their
    derived rows."""
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).one().id
        made = [
            Job(workspace_id=workspace, name=f"job {j}", type="standard") for j in range(job_count)
        ]
        session.add_all(made)
        session.flush()
        jobs = [(job.id, job.name) for job in made]
        tasks = [
            Task(job_id=job.id, position=0, query="REPLICATE orders", table_name="orders")
            for job in made
        ]
        session.add_all(tasks)
        for job in made[:CONNECTORS]:
            session.add(ElasticConnector(job_id=job.id, index_name=f"search-{job.name}"))
        session.flush()
        task_id = next(t.id for t in tasks if t.job_id == jobs[7][0])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=runs * 2 + 60)
    dialect = runtime.engine.dialect.name
    raw = runtime.engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        if dialect == "sqlite":
            marks = ", ".join("?" * len(RUN_COLUMNS))
            cursor.executemany(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({marks})",
                _runs(runs, workspace, jobs, start.replace(tzinfo=None), True),
            )
        else:
            with cursor.copy(f"COPY runs ({', '.join(RUN_COLUMNS)}) FROM STDIN") as copy:
                for row in _runs(runs, workspace, jobs, start, False):
                    copy.write_row(row)
        for statement in (*DERIVED, LINES[dialect].format(last=per_run - 1)):
            cursor.execute(statement)
        raw.commit()
        _analyze(raw, dialect)
    finally:
        raw.close()
    newest = start + dt.timedelta(seconds=(runs - 1) * 2)
    secret = runtime.settings.secret_key
    assert secret is not None
    middle = runs // 2 // JOBS * JOBS + 7  # a run of job 7, the one the requests name
    return Seeded(
        *(jobs[7][0], jobs[7][1], task_id, str(uuid.UUID(int=middle + 1))),
        *(newest.isoformat(), secret),
    )


def _analyze(raw: Any, dialect: str) -> None:
    """Planner statistics, as a server has them soon after such a load."""
    cursor = raw.cursor()
    if dialect == "sqlite":
        cursor.execute("ANALYZE")  # what `store.statistics.refresh` does for a server
        raw.commit()
        return
    # What autovacuum does soon after a bulk load: statistics, and the visibility map that
    # lets a COUNT read an index alone (outside a transaction block).
    driver = raw.driver_connection
    driver.autocommit = True
    driver.execute("VACUUM ANALYZE")
    driver.autocommit = False


def settings(data: Path, url: str | None, secret: str) -> Settings:
    """A server's settings over that store, with no workers, scheduler or retention (of
    runs, log lines or files): what was seeded stays. The read cache is off, so every
    repeat of a request reaches the store: the bench measures queries, not memory."""
    return Settings(
        data_dir=data,
        database_url=url,
        admin_token=TOKEN,
        secret_key=secret,
        workers=0,
        scheduler=False,
        run_retention_days=0,
        log_retention_days=0,
        files_max_age_days=0,  # the cleaner would delete the old files (60,000 rows)
        files_keep_per_job=0,
        read_cache_entries=0,
    )


def _open(data: Path, url: str | None, secret: str) -> Runtime:
    runtime = Runtime.create(settings(data, url, secret))
    runtime.migrate()
    runtime.bootstrap()
    return runtime


def _pg_database(name: str) -> bool:
    """Whether the PostgreSQL database exists; creates it when not (False then)."""
    with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if found is None:
            admin.execute(f'CREATE DATABASE "{name}"')
    return found is not None


@contextmanager
def store(
    kind: str, runs: int, per_run: int, cache: Path | None, job_count: int = JOBS
) -> Iterator[tuple[Runtime, Seeded]]:
    """An open runtime over a seeded store, and what was seeded. Without `cache` the store
    is temporary; with it, a store seeded earlier with the same sizes, at a schema
    revision this code's migrations know, is migrated and reused; else a new one is
    seeded and kept there."""
    if cache is None:
        with tempfile.TemporaryDirectory() as data, _temporary_url(kind) as url:
            runtime = _open(Path(data), url, Fernet.generate_key().decode())
            try:
                yield runtime, seed(runtime, runs, per_run, job_count)
            finally:
                runtime.close()
        return
    key = f"{kind}_{runs}x{per_run}" + (f"_{job_count}jobs" if job_count != JOBS else "")
    folder = cache / key
    marker = folder / "seeded.json"
    url = pg_url(f"conveyor_bench_history_{key}") if kind == "postgres" else None
    noted = json.loads(marker.read_text()) if marker.exists() else {}
    kept = noted.get("revision") in _revisions() and (
        url is None or _pg_database(url.rsplit("/", 1)[1])
    )
    if not kept:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        if url is not None:
            _pg_database(url.rsplit("/", 1)[1])
    seeded = Seeded(**{k: v for k, v in noted.items() if k != "revision"}) if kept else None
    # Opening migrates a store seeded at an earlier revision, as a server's upgrade would.
    runtime = _open(folder, url, seeded.secret_key if seeded else Fernet.generate_key().decode())
    try:
        if seeded is None:
            seeded = seed(runtime, runs, per_run, job_count)
            marker.write_text(json.dumps({**asdict(seeded), "revision": head_revision()}))
        yield runtime, seeded
    finally:
        runtime.close()


def _revisions() -> set[str]:
    """The schema revisions this code's migrations know (and can upgrade from)."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    return {script.revision for script in scripts.walk_revisions()}


@contextmanager
def _temporary_url(kind: str) -> Iterator[str | None]:
    if kind == "postgres":
        with fresh_pg_database("conveyor_bench") as url:
            yield url
    else:
        yield None


def drop_cache(cache: Path) -> None:
    """Remove the kept stores: the folder and the PostgreSQL databases seeded for it."""
    for folder in cache.glob("postgres_*") if cache.exists() else ():
        with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
            name = f"conveyor_bench_history_{folder.name}"
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    shutil.rmtree(cache, ignore_errors=True)
