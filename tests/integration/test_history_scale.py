"""History at scale: lists compiled to SQL (never every row read), and retention."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.dialects import sqlite

from conveyor.compat.cdata.odata.entities import HISTORY
from conveyor.compat.cdata.odata.jobs import JOBS
from conveyor.compat.cdata.odata.query import QueryOptions
from conveyor.compat.cdata.odata.sql import compile_query
from conveyor.domain import utcnow
from conveyor.files import retention, store
from conveyor.runtime import Runtime
from conveyor.services import listing
from conveyor.store import statistics
from conveyor.store.models import ElasticConnector, Job, Run, RunLog, Workspace
from conveyor.store.session import unit_of_work


def _sql(entity: Any, params: dict[str, str], model: Any = Run) -> str:
    options = QueryOptions.parse(params, entity.properties)
    query = compile_query(options, entity.columns, entity.name)
    statement = select(model.id).where(*query.where).order_by(*query.order)
    statement = statement.limit(query.limit).offset(query.offset)
    return str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def test_a_filter_on_a_property_is_pushed_into_the_where() -> None:
    text = _sql(HISTORY, {"$filter": "JobName eq 'nightly' and RowsRead gt 10", "$top": "5"})
    assert "WHERE runs.job_name = 'nightly' AND runs.rows_read > 10" in text
    assert "LIMIT 5" in text
    # CData's words compare the native column (its indexes serve them).
    text = _sql(HISTORY, {"$filter": "Status eq 'FAILED' or Status eq 'SUCCESS'"})
    assert "runs.status IN ('error', 'completed')" in text
    text = _sql(HISTORY, {"$filter": "startswith(JobName, 'a')", "$orderby": "RunStartDate desc"})
    assert "substr(runs.job_name, 1, length('a')) = 'a'" in text
    assert "ORDER BY coalesce(runs.started_at, runs.created_at) DESC" in text
    # OData's two-valued logic: a null end date is not after anything, also under `not`.
    text = _sql(HISTORY, {"$filter": "not (RunEndDate gt 2024-01-01)"})
    assert "runs.completed_at IS NOT NULL AND runs.completed_at >" in text
    text = _sql(JOBS, {"$filter": "Type eq 'Standard'"}, Job)
    assert "jobs.type IN ('standard')" in text


def test_a_computed_property_is_refused_naming_it(client: TestClient) -> None:
    response = client.get("/api.rsc/history", params={"$filter": "Runtime gt 5"})
    assert response.status_code == 400 and "Runtime" in response.text
    response = client.get("/api.rsc/jobs", params={"$orderby": "BatchSize"})
    assert response.status_code == 400 and "BatchSize" in response.text


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", note)


def add_runs(runtime: Runtime, count: int, make: Callable[[str, int, dt.datetime], Run]) -> None:
    """Store `count` runs in the default workspace, each `make(workspace_id, i, now)`."""
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).first()
        assert workspace is not None
        now = utcnow()
        session.add_all(make(workspace.id, i, now) for i in range(count))


def test_history_lists_read_only_their_page(
    client: TestClient, runtime: Runtime, statements: list[str]
) -> None:
    add_runs(
        runtime,
        30,
        lambda workspace, i, now: Run(
            workspace_id=workspace,
            job_name=f"job {i % 3}",
            status="completed" if i % 2 else "error",
            rows_written=i,
            created_at=now - dt.timedelta(minutes=i),
        ),
    )
    statements.clear()
    params = {"$filter": "JobName eq 'job 1' and Status eq 'FAILED'", "$top": "2"}
    answer = client.get("/api.rsc/history", params={**params, "$count": "true"}).json()
    assert answer["@odata.count"] == 5 and len(answer["value"]) == 2
    assert [row["RecordsAffected"] for row in answer["value"]] == [4, 10]
    listed = [s for s in statements if "FROM runs" in s and "job_name" in s]
    assert listed and all("WHERE" in s for s in listed)
    assert any("LIMIT" in s for s in listed) and any("count(*)" in s for s in listed)


def test_jsonapi_and_elastic_lists_read_a_page_in_a_few_statements(
    client: TestClient, runtime: Runtime, statements: list[str]
) -> None:
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).first()
        assert workspace is not None
        job = Job(workspace_id=workspace.id, name="connector", type="standard")
        session.add(job)
        session.flush()
        session.add(ElasticConnector(job_id=job.id, index_name="search-connector"))
        session.add_all(
            Run(workspace_id=workspace.id, job_id=job.id, job_name=job.name, status="error")
            for _ in range(12)
        )
    statements.clear()
    answer = client.get("/sync/jobs", params={"page[size]": "10", "count": "true"})
    assert answer.status_code == 200 and len(answer.json()["data"]) == 10
    # The page, its task results at once, and the count: never a statement per run.
    assert sum("FROM run_tasks" in s for s in statements) == 1
    statements.clear()
    answer = client.get("/_connector/_sync_job", params={"status": "error", "size": "5"})
    assert answer.status_code == 200 and answer.json()["count"] == 12
    listed = [s for s in statements if "FROM runs" in s]
    assert listed and all("JOIN" not in s for s in listed)  # read through the runs' indexes


def test_a_deep_page_reads_its_keys_first_and_answers_the_same(
    client: TestClient,
    runtime: Runtime,
    statements: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    add_runs(
        runtime,
        12,
        lambda workspace, i, now: Run(  # ended: the app's worker would claim a pending one
            workspace_id=workspace,
            job_name="a",
            status="completed",
            created_at=now - dt.timedelta(minutes=i % 4),
        ),
    )
    params = {"offset": "5", "limit": "4"}
    shallow = client.get("/api/v1/runs", params=params).json()
    monkeypatch.setattr(listing, "DEEP_OFFSET", 5)
    statements.clear()
    deep = client.get("/api/v1/runs", params=params).json()
    assert deep == shallow and len(deep["items"]) == 4 and deep["total"] == 12
    assert any("runs.id IN (SELECT runs.id" in s for s in statements)


@pytest.mark.parametrize("store_settings", ["sqlite"], indirect=True)  # PostgreSQL: autovacuum
def test_the_planner_statistics_of_an_sqlite_store_are_refreshed(runtime: Runtime) -> None:
    def plain(workspace: str, _: int, __: dt.datetime) -> Run:
        return Run(workspace_id=workspace, job_name="a")

    add_runs(runtime, 100, plain)
    statistics.refresh(runtime.engine)  # too few runs for the planner to need statistics
    with runtime.engine.connect() as connection:
        assert statistics.stale(connection) == []
        connection.rollback()
    add_runs(runtime, statistics.SMALL, plain)
    statistics.refresh(runtime.engine)
    with runtime.engine.connect() as connection:
        indexes = {
            row[0]
            for row in connection.exec_driver_sql("SELECT idx FROM sqlite_stat1 WHERE tbl = 'runs'")
        }
    assert "ix_runs_created" in indexes
    with runtime.engine.connect() as connection:
        assert statistics.stale(connection) == []  # analyzed again once it has doubled


def test_retention_deletes_old_history_but_never_active_runs(runtime: Runtime) -> None:
    now = utcnow()
    old = now - dt.timedelta(days=200)
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).first()
        assert workspace is not None
        job = Job(workspace_id=workspace.id, name="retained", type="standard")
        session.add(job)
        session.flush()

        def run(ident: str, status: str, created: dt.datetime) -> Run:
            done = created if status in ("completed", "error", "canceled") else None
            return Run(
                id=ident,
                workspace_id=workspace.id,
                job_id=job.id,
                job_name=job.name,
                status=status,
                created_at=created,
                completed_at=done,
            )

        session.add_all(
            [
                run("00000000-0000-4000-8000-000000000001", "completed", old),
                run("00000000-0000-4000-8000-000000000002", "in_progress", old),
                run("00000000-0000-4000-8000-000000000003", "error", old),
                run("00000000-0000-4000-8000-000000000004", "completed", now),
            ]
        )
        session.flush()
        for ident in ("1", "2", "4"):
            run_id = f"00000000-0000-4000-8000-00000000000{ident}"
            session.add(RunLog(run_id=run_id, ts=old, message="old"))
            session.add(RunLog(run_id=run_id, ts=now, message="new"))
    files = runtime.settings.files_dir
    for ident in ("1", "2"):
        folder = store.run_folder(files, f"00000000-0000-4000-8000-00000000000{ident}")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "out.csv").write_text("a\n")

    keep_all = runtime.settings.model_copy(
        update={"run_retention_days": 0, "log_retention_days": 0}
    )
    assert retention.purge_history(runtime.factory, keep_all) == retention.Purged(0, 0)

    settings = runtime.settings.model_copy(
        update={"run_retention_days": 90, "log_retention_days": 30}
    )
    purged = retention.purge_history(runtime.factory, settings, now)
    assert purged.runs == 2  # the old finished ones; the active one stays
    with unit_of_work(runtime.factory) as session:
        left = set(session.scalars(select(Run.id).where(Run.job_id == job.id)))
        lines = session.execute(select(RunLog.run_id, RunLog.message)).all()
    assert left == {
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000004",
    }
    # The active run keeps its old line; the finished one loses it (and run 1 went whole).
    assert sorted((r[-1], m) for r, m in lines) == [("2", "new"), ("2", "old"), ("4", "new")]
    assert not store.run_folder(files, "00000000-0000-4000-8000-000000000001").exists()
    assert (store.run_folder(files, "00000000-0000-4000-8000-000000000002") / "out.csv").exists()


def test_a_jobs_newest_run_is_kept_however_old(runtime: Runtime) -> None:
    old = utcnow() - dt.timedelta(days=400)
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).first()
        assert workspace is not None
        job = Job(workspace_id=workspace.id, name="idle for long", type="standard")
        session.add(job)
        session.flush()
        session.add(
            Run(
                workspace_id=workspace.id,
                job_id=job.id,
                job_name=job.name,
                status="completed",
                created_at=old,
                completed_at=old,
            )
        )
    settings = runtime.settings.model_copy(update={"run_retention_days": 90})
    assert retention.purge_history(runtime.factory, settings).runs == 0
