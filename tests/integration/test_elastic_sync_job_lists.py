"""Elastic's sync jobs filtered by connector (`sync_job_lists`), on each store: the same
rows in the same order, page after page, as the one-condition select it replaced, and
read through the job's runs' index in the list's order."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from conveyor.runtime import Runtime
from conveyor.services.elastic import sync_job_lists, sync_jobs
from conveyor.store.models import ElasticConnector, ElasticSyncJob, Job, Run, Workspace
from conveyor.store.session import unit_of_work

STATUSES = ("completed", "error", "completed", "canceled", "error")
LOADS = ("full", "incremental", "incremental")


def _before(runtime: Runtime, connector_id: str, status: str | None, kinds: list[str]) -> list[str]:
    """The sync jobs as the list found them before, in one condition over every run:
    a run recorded as the connector's, or one of its job without a record."""
    statement = sync_jobs._sync_jobs().where(
        sync_jobs._recorded_or_run(
            ElasticSyncJob.connector_id == connector_id, Run.job_id == connector_id
        )
    )
    if status:
        statement = statement.where(Run.status == status)
    if kinds:
        statement = statement.where(
            sync_jobs._recorded_or_run(ElasticSyncJob.job_type.in_(kinds), Run.load.in_(kinds))
        )
    with unit_of_work(runtime.factory) as session:
        return list(
            session.scalars(statement.with_only_columns(Run.id).order_by(Run.created_at, Run.id))
        )


@pytest.fixture
def store(runtime: Runtime) -> dict[str, str]:
    """Connectors a and b, a plain job; 60 runs of each (three at each instant, so the
    order has ties), and records: a's, a run of a recorded as b's and one of the plain
    job recorded as b's (the strays only a store written by hand holds), and one of the
    plain job recorded as a connector that no longer exists."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).one().id
        jobs = [Job(workspace_id=workspace, name=n, type="standard") for n in ("a", "b", "plain")]
        session.add_all(jobs)
        session.flush()
        a, b, plain = (job.id for job in jobs)
        session.add_all(ElasticConnector(job_id=j, index_name=f"search-{j}") for j in (a, b))
        runs: dict[str, list[Run]] = {a: [], b: [], plain: []}
        for i in range(60):
            for job in jobs:
                run = Run(
                    workspace_id=workspace,
                    job_id=job.id,
                    job_name=job.name,
                    status=STATUSES[i % len(STATUSES)],
                    load=LOADS[i % len(LOADS)],
                    created_at=start + dt.timedelta(seconds=i // 3),
                )
                session.add(run)
                runs[job.id].append(run)
        session.flush()
        records = [
            *((run, a, "access_control") for run in runs[a][::7]),
            *((run, a, "full") for run in runs[a][3::10]),
            (runs[a][10], b, "incremental"),
            (runs[a][40], b, "full"),
            (runs[plain][5], b, "incremental"),
            (runs[plain][6], "gone", "full"),
        ]
        session.add_all(
            ElasticSyncJob(run_id=run.id, connector_id=connector, job_type=kind)
            for run, connector, kind in records
        )
    return {"a": a, "b": b, "plain": plain}


@pytest.mark.parametrize("size", [4, 7, 50])
def test_a_connectors_sync_jobs_are_the_rows_they_were_in_the_same_order(
    client: TestClient, runtime: Runtime, store: dict[str, str], size: int
) -> None:
    for name in ("a", "b", "plain", "gone", "nobody"):
        connector_id = store.get(name, name)
        for status, kinds in (
            (None, []),
            (None, ["incremental"]),
            (None, ["full", "access_control"]),
            ("error", []),
            ("completed", ["incremental"]),
        ):
            expected = _before(runtime, connector_id, status, kinds)
            params = {"connector_id": connector_id, "size": str(size)}
            if status:
                params["status"] = status
            if kinds:
                params["job_type"] = ",".join(kinds)
            listed: list[str] = []
            while True:
                answer = client.get(
                    "/_connector/_sync_job", params={**params, "from": str(len(listed))}
                )
                assert answer.status_code == 200, answer.text
                page = answer.json()
                assert page["count"] == len(expected), (name, status, kinds, page)
                listed.extend(job["id"] for job in page["results"])
                if not page["results"]:
                    break
            assert listed == expected, (name, status, kinds, size)
    assert len(_before(runtime, store["b"], None, [])) > 60  # b's strays are listed too


def test_a_connectors_sync_jobs_are_read_through_its_jobs_runs_index(
    runtime: Runtime, store: dict[str, str]
) -> None:
    with unit_of_work(runtime.factory) as session:
        statement = sync_job_lists.of_connector(
            session, select(Run.id), store["a"], ["incremental"]
        ).order_by(Run.created_at, Run.id)
        connection = session.connection()
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        if runtime.engine.dialect.name == "sqlite":
            rows = connection.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            plan = " ".join(str(row[3]) for row in rows)
            assert "USING INDEX ix_runs_job_created (job_id=?)" in plan, plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # only ties are sorted
        else:
            # A table this small is read whole unless the planner is told to avoid it.
            connection.execute(text("SET LOCAL enable_seqscan = off"))
            connection.execute(text("SET LOCAL enable_bitmapscan = off"))
            rows = connection.execute(text(f"EXPLAIN {compiled}"))
            plan = " ".join(str(row[0]) for row in rows)
            assert "ix_runs_job_created" in plan, plan
