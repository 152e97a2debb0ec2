"""Runs lists' totals from `run_counts` (migration 0013): kept exact by the store's
triggers whatever changes the runs, and read instead of a COUNT over the runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import delete, event, inspect, select, text, update

from conveyor.runtime import Runtime
from conveyor.store import migrate
from conveyor.store.models import ElasticConnector, ElasticSyncJob, Job, Run, RunCount, Workspace
from conveyor.store.session import unit_of_work
from tests.integration.migrations import differences_from_models


def kept(runtime: Runtime) -> dict[tuple[str, str, str], int]:
    """The counts the store keeps (rows of zero left out)."""
    with unit_of_work(runtime.factory) as session:
        rows = session.execute(
            select(RunCount.workspace_id, RunCount.job_id, RunCount.status, RunCount.runs)
        )
        return {(w, j, s): n for w, j, s, n in rows if n}


def counted(runtime: Runtime) -> dict[tuple[str, str, str], int]:
    """The same counts, from the runs themselves."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT workspace_id, coalesce(job_id, ''), status, count(*) FROM runs"
                " GROUP BY workspace_id, coalesce(job_id, ''), status"
            )
        )
        return {(w, j, s): n for w, j, s, n in rows}


@pytest.fixture
def jobs(runtime: Runtime) -> tuple[str, str, str]:
    """The default workspace and two jobs in it."""
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).one().id
        made = [Job(workspace_id=workspace, name=n, type="standard") for n in ("a", "b")]
        session.add_all(made)
        session.flush()
        return workspace, made[0].id, made[1].id


def add(runtime: Runtime, workspace: str, job: str | None, statuses: list[str]) -> None:
    with unit_of_work(runtime.factory) as session:
        session.add_all(
            Run(workspace_id=workspace, job_id=job, job_name="x", status=status)
            for status in statuses
        )


def test_the_counts_follow_every_change_to_the_runs(
    runtime: Runtime, jobs: tuple[str, str, str]
) -> None:
    workspace, a, b = jobs
    add(runtime, workspace, a, ["completed"] * 3 + ["error"] * 2)
    add(runtime, workspace, b, ["pending", "completed"])
    add(runtime, workspace, None, ["error"])  # a transformation's run: no job
    assert (
        kept(runtime)
        == counted(runtime)
        == {
            (workspace, a, "completed"): 3,
            (workspace, a, "error"): 2,
            (workspace, b, "pending"): 1,
            (workspace, b, "completed"): 1,
            (workspace, "", "error"): 1,
        }
    )
    with runtime.engine.begin() as connection:  # the queue's own SQL, not the ORM
        connection.execute(text("UPDATE runs SET status = 'in_progress' WHERE status = 'pending'"))
        connection.execute(text("UPDATE runs SET progress = 0.5"))  # no status changed
    with unit_of_work(runtime.factory) as session:
        session.execute(update(Run).where(Run.status == "error").values(status="canceled"))
        session.execute(delete(Run).where(Run.job_id == b, Run.status == "completed"))
    assert kept(runtime) == counted(runtime)
    assert kept(runtime)[(workspace, "", "canceled")] == 1
    with unit_of_work(runtime.factory) as session:
        session.delete(session.get(Job, a))  # its runs go by the foreign key's cascade
    assert (
        kept(runtime)
        == counted(runtime)
        == {
            (workspace, b, "in_progress"): 1,
            (workspace, "", "canceled"): 1,
        }
    )


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", note)


def test_a_list_filtered_by_the_counted_columns_reads_its_total_from_the_counts(
    client: TestClient, runtime: Runtime, jobs: tuple[str, str, str], statements: list[str]
) -> None:
    workspace, a, b = jobs
    add(runtime, workspace, a, ["completed"] * 4 + ["error"] * 3)
    add(runtime, workspace, b, ["error"] * 2)
    for params, total in (
        ({}, 9),
        ({"status": "error"}, 5),
        ({"job_id": a, "status__in": "error,completed"}, 7),
        ({"workspace_id": workspace, "job_id": b}, 2),
        ({"job_id": ""}, 0),
    ):
        statements.clear()
        answer = client.get("/api/v1/runs", params={**params, "limit": "1"}).json()
        assert answer["total"] == total, (params, answer)
        assert not any("count(*)" in s.lower() for s in statements), statements
        assert any("FROM run_counts" in s for s in statements) == (total > 1)
    # A filter on another column is counted over the runs, as before.
    statements.clear()
    answer = client.get("/api/v1/runs", params={"job_name": "x", "limit": "1"}).json()
    assert answer["total"] == 9
    assert any("count(*)" in s.lower() for s in statements)
    assert not any("FROM run_counts" in s for s in statements)
    # JSON:API's index of runs, and CData v2's history of a job, likewise.
    statements.clear()
    page = client.get(
        "/sync/jobs", params={"filter[status]": "error", "page[size]": "1", "count": "true"}
    )
    assert page.json()["meta"]["count"] == 5
    assert any("FROM run_counts" in s for s in statements)
    history = client.get(f"/api.rsc/v2/jobs/{a}/history", params={"limit": "2"}).json()
    assert history["count"] == 7 and len(history["value"]) == 2


def add_at_0012(runtime: Runtime, job: str, status: str) -> None:
    """A run stored by revision 0012's schema (later migrations add columns the model
    has): a copy of a stored run, with its own id, job and status."""
    columns = [c["name"] for c in inspect(runtime.engine).get_columns("runs")]
    chosen = {"id": ":id", "job_id": ":job", "status": ":status"}
    picked = ", ".join(chosen.get(name, name) for name in columns)
    with runtime.engine.begin() as connection:
        connection.execute(
            text(f"INSERT INTO runs ({', '.join(columns)}) SELECT {picked} FROM runs LIMIT 1"),
            {"id": "run-added-at-0012", "job": job, "status": status},
        )


def test_migration_0013_counts_the_runs_already_stored(
    runtime: Runtime, jobs: tuple[str, str, str]
) -> None:
    workspace, a, b = jobs
    add(runtime, workspace, a, ["completed", "error"])
    add(runtime, workspace, None, ["completed"])
    config = migrate._config(runtime.engine)
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0012")
    add_at_0012(runtime, job=b, status="pending")  # stored with no triggers to count it
    migrate.upgrade(runtime.engine)
    assert kept(runtime) == counted(runtime) and len(counted(runtime)) == 4
    for about in (
        "run_counts",
        "ix_run_tasks_task_line",
        "ix_runs_job_name_status",
        "ix_runs_job_s",
    ):
        assert differences_from_models(runtime.engine, about) == [], about
    add(runtime, workspace, b, ["pending"])
    assert kept(runtime)[(workspace, b, "pending")] == 2


def test_cdata_counts_a_filter_on_counted_columns_from_the_counts(
    client: TestClient, runtime: Runtime, jobs: tuple[str, str, str], statements: list[str]
) -> None:
    workspace, a, _ = jobs
    add(runtime, workspace, a, ["completed"] * 2 + ["error"] * 3)
    add(runtime, workspace, None, ["error"])
    for params, total, kept_counts in (
        ({"$filter": "Status eq 'FAILED'"}, 4, True),
        ({"$filter": "Status eq 'FAILED' and JobId eq '" + a + "'"}, 3, False),  # a coalesce
        ({"$filter": "Status eq 'FAILED' or Status eq 'SUCCESS'"}, 6, True),
        ({"$filter": "JobName eq 'x' and Status eq 'FAILED'"}, 4, False),
        ({}, 6, True),
    ):
        statements.clear()
        answer = client.get("/api.rsc/history", params={**params, "$count": "true", "$top": "1"})
        assert answer.json()["@odata.count"] == total, (params, answer.text)
        assert len(answer.json()["value"]) == 1
        assert any("FROM run_counts" in s for s in statements) == kept_counts, params
        assert any("count(*)" in s.lower() for s in statements) != kept_counts, params
    assert (
        client.get("/api.rsc/history/$count", params={"$filter": "Status eq 'FAILED'"}).text == "4"
    )


def test_elastic_counts_its_sync_jobs_as_its_list_finds_them(
    client: TestClient, runtime: Runtime, jobs: tuple[str, str, str], statements: list[str]
) -> None:
    workspace, a, b = jobs
    with unit_of_work(runtime.factory) as session:
        plain = Job(workspace_id=workspace, name="not a connector", type="standard")
        session.add(plain)
        session.add_all(ElasticConnector(job_id=j, index_name=f"search-{j}") for j in (a, b))
        session.flush()
        made = []
        for job, status, load in (
            *((a, "completed", "full"), (a, "error", "incremental"), (a, "error", "full")),
            *((a, "completed", "incremental"), (a, "error", "full"), (a, "completed", "full")),
            *((b, "error", "incremental"), (b, "completed", "full")),
            *((plain.id, "error", "full"), (plain.id, "completed", "incremental")),
        ):
            run = Run(workspace_id=workspace, job_id=job, job_name="x", status=status, load=load)
            session.add(run)
            made.append(run)
        session.flush()
        # Records: the sync job's connector and type stand for the run's own.
        for run, connector, kind in (
            (made[3], a, "access_control"),
            (made[4], a, "incremental"),
            (made[5], b, "full"),  # a run of a, recorded as b's
            (made[9], b, "full"),  # a run of a job that is no connector
        ):
            session.add(ElasticSyncJob(run_id=run.id, connector_id=connector, job_type=kind))
    for params in (
        {},
        {"status": "error"},
        {"connector_id": a},
        {"connector_id": b, "status": "completed"},
        {"job_type": "full"},
        {"job_type": "incremental,access_control", "connector_id": a},
        {"connector_id": "nobody"},
    ):
        whole = client.get("/_connector/_sync_job", params={**params, "size": "100"}).json()
        statements.clear()
        paged = client.get("/_connector/_sync_job", params={**params, "size": "1"}).json()
        assert paged["count"] == whole["count"] == len(whole["results"]), params
        if whole["count"] > 1:  # counted, and never over every run at once
            assert not any("count(*)" in s.lower() and " OR " in s for s in statements)
    assert len(client.get("/_connector/_sync_job", params={"size": "100"}).json()["results"]) == 9
