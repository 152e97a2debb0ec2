"""Log lists' totals from `log_line_counts` (migration 0019): kept exact by the store's
triggers whatever adds or deletes log lines, and read instead of a COUNT of the lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import delete, event, select, text

from conveyor.runtime import Runtime
from conveyor.services import log_counts
from conveyor.store import migrate
from conveyor.store.models import Job, LogLineCount, Run, RunLog, Workspace
from conveyor.store.session import unit_of_work
from tests.integration.migrations import differences_from_models


def kept(runtime: Runtime) -> dict[tuple[str, str], int]:
    """The counts the store keeps, by (run, job) (rows of zero left out)."""
    with unit_of_work(runtime.factory) as session:
        rows = session.execute(select(LogLineCount.run_id, LogLineCount.job_id, LogLineCount.lines))
        return {(r, j): n for r, j, n in rows if n}


def counted(runtime: Runtime) -> dict[tuple[str, str], int]:
    """The same counts, from the lines themselves."""
    with runtime.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT l.run_id, coalesce(r.job_id, ''), count(*) FROM run_logs AS l"
                " JOIN runs AS r ON r.id = l.run_id GROUP BY l.run_id, r.job_id"
            )
        )
        return {(r, j): n for r, j, n in rows}


@pytest.fixture
def runs(runtime: Runtime) -> tuple[str, str, str, str]:
    """Two jobs; two runs of the first, one of the second (job a, b; runs a1, a2, b1)."""
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).one().id
        jobs = [Job(workspace_id=workspace, name=n, type="standard") for n in ("a", "b")]
        session.add_all(jobs)
        session.flush()
        made = [
            Run(workspace_id=workspace, job_id=job.id, job_name=job.name, status="completed")
            for job in (jobs[0], jobs[0], jobs[1])
        ]
        session.add_all(made)
        session.flush()
        return jobs[0].id, made[0].id, made[1].id, made[2].id


def log(runtime: Runtime, run_id: str, lines: int) -> None:
    with unit_of_work(runtime.factory) as session:
        session.add_all(RunLog(run_id=run_id, message=f"line {n}") for n in range(lines))


def test_the_counts_follow_every_change_to_the_lines(
    runtime: Runtime, runs: tuple[str, str, str, str]
) -> None:
    job_a, a1, a2, b1 = runs
    log(runtime, a1, 5)
    log(runtime, a2, 3)
    log(runtime, b1, 2)
    with runtime.engine.begin() as connection:  # raw SQL, many lines in one statement
        connection.execute(
            text(
                "INSERT INTO run_logs (run_id, ts, level, message) SELECT run_id, ts, level,"
                " message FROM run_logs WHERE run_id = :run"
            ),
            {"run": a2},
        )
    assert kept(runtime) == counted(runtime)
    assert kept(runtime)[(a1, job_a)] == 5 and kept(runtime)[(a2, job_a)] == 6
    with unit_of_work(runtime.factory) as session:  # as retention deletes old lines
        first = session.scalars(select(RunLog.id).where(RunLog.run_id == a1).limit(2)).all()
        session.execute(delete(RunLog).where(RunLog.id.in_(first)))
        session.execute(delete(Run).where(Run.id == b1))  # its lines go by the cascade
    assert kept(runtime) == counted(runtime) == {(a1, job_a): 3, (a2, job_a): 6}
    with unit_of_work(runtime.factory) as session:
        session.delete(session.get(Job, job_a))  # its runs and their lines, by cascades
    assert kept(runtime) == counted(runtime) == {}
    with unit_of_work(runtime.factory) as session:
        assert session.scalar(select(LogLineCount.run_id)) is None  # rows went with runs


@pytest.fixture
def statements(runtime: Runtime) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", note)
    yield seen
    event.remove(runtime.engine, "before_cursor_execute", note)


def test_a_run_and_a_job_log_list_read_their_totals_from_the_counts(
    client: TestClient, runtime: Runtime, runs: tuple[str, str, str, str], statements: list[str]
) -> None:
    job_a, a1, a2, _ = runs
    log(runtime, a1, 7)
    log(runtime, a2, 4)
    for path, params, total, from_counts in (
        (f"/api/v1/runs/{a1}/logs", {}, 7, True),
        (f"/api/v1/jobs/{job_a}/logs", {}, 11, True),
        (f"/api/v1/jobs/{job_a}/logs", {"level": "info"}, 11, False),
        (f"/api/v1/runs/{a1}/logs", {"after": "0"}, 7, False),
    ):
        statements.clear()
        answer = client.get(path, params={**params, "limit": "2"}).json()
        assert answer["total"] == total and len(answer["items"]) == 2, (path, params, answer)
        read = any(
            s.startswith("SELECT log_line_counts.lines") or "sum(log_line_counts.lines)" in s
            for s in statements
        )
        assert read == from_counts, statements
        assert any("count(*)" in s.lower() for s in statements) != from_counts


def expected(runtime: Runtime, job_id: str, since: dt.datetime | None = None) -> list[int]:
    """A job's line ids, oldest first, read straight from the lines and the runs."""
    with unit_of_work(runtime.factory) as session:
        statement = (
            select(RunLog.id)
            .join(Run, Run.id == RunLog.run_id)
            .where(Run.job_id == job_id)
            .order_by(RunLog.id)
        )
        if since is not None:
            statement = statement.where(RunLog.ts >= since)
        return list(session.scalars(statement))


@pytest.mark.parametrize("scanned", [200, 2])
def test_a_job_log_page_reads_only_runs_that_can_be_on_it_and_misses_none(
    client: TestClient,
    runtime: Runtime,
    runs: tuple[str, str, str, str],
    scanned: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(log_counts, "SCANNED_RUNS", scanned)
    job_a, a1, a2, b1 = runs
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with unit_of_work(runtime.factory) as session:
        more = [
            Run(
                workspace_id=session.get(Run, a1).workspace_id,
                job_id=job_a,
                job_name="a",
                status="completed",
            )
            for _ in range(3)
        ]
        session.add_all(more)
    ids = [a1, a2, *(run.id for run in more)]
    for n in range(60):  # the runs' lines interleave, some runs log more than others
        with unit_of_work(runtime.factory) as session:
            session.add(
                RunLog(
                    run_id=ids[(n * 7) % 5 if n % 3 else n % 2],
                    message=f"{n}",
                    ts=start + dt.timedelta(minutes=n),
                )
            )
            session.add(RunLog(run_id=b1, message="other job", ts=start))
    with unit_of_work(runtime.factory) as session:  # retention took some
        gone = session.scalars(select(RunLog.id).where(RunLog.run_id == a1).limit(4)).all()
        session.execute(delete(RunLog).where(RunLog.id.in_(gone)))
    whole = expected(runtime, job_a)
    for limit, offset in ((5, 0), (7, 3), (10, 20), (50, 0), (3, 54), (5, 100)):
        answer = client.get(
            f"/api/v1/jobs/{job_a}/logs", params={"limit": limit, "offset": offset}
        ).json()
        assert [line["id"] for line in answer["items"]] == whole[offset : offset + limit]
        assert answer["total"] == len(whole) == 56
        newest = client.get(
            f"/api/v1/jobs/{job_a}/logs", params={"limit": limit, "offset": offset, "sort": "-id"}
        ).json()
        assert [line["id"] for line in newest["items"]] == whole[::-1][offset : offset + limit]
        assert newest["total"] == 56
    since = start + dt.timedelta(minutes=41)
    answer = client.get(
        f"/api/v1/jobs/{job_a}/logs", params={"since": since.isoformat(), "limit": 5}
    ).json()
    late = expected(runtime, job_a, since)
    assert [line["id"] for line in answer["items"]] == late[:5]
    assert answer["total"] == len(late) == 19


def test_a_job_log_page_newest_first_reads_only_the_latest_runs_and_misses_none(
    client: TestClient, runtime: Runtime, runs: tuple[str, str, str, str]
) -> None:
    job_a, a1, a2, b1 = runs
    with unit_of_work(runtime.factory) as session:
        workspace = session.get(Run, a1).workspace_id
        more = [
            Run(workspace_id=workspace, job_id=job_a, job_name="a", status="completed")
            for _ in range(10)
        ]
        session.add_all(more)
    # Runs one after another, of one or two lines (so a page's lowest line is the lowest
    # line of the runs `reach_back` takes), another job's lines in between.
    for n, run in enumerate([a1, a2, *(run.id for run in more)]):
        log(runtime, run, 1 + n % 2)
        log(runtime, b1, 1)
    whole = expected(runtime, job_a)[::-1]
    assert len(whole) == 18
    read: list[str] = []

    def noted(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        read.append(statement)

    for limit in (1, 3, 5):
        for offset in range(0, 20):
            event.listen(runtime.engine, "before_cursor_execute", noted)
            answer = client.get(
                f"/api/v1/jobs/{job_a}/logs",
                params={"limit": limit, "offset": offset, "sort": "-id"},
            ).json()
            event.remove(runtime.engine, "before_cursor_execute", noted)
            assert [line["id"] for line in answer["items"]] == whole[offset : offset + limit]
            assert answer["total"] == 18
    assert any("log_line_counts.last_line >=" in statement for statement in read)


def test_migration_0019_counts_the_lines_already_stored(
    runtime: Runtime, runs: tuple[str, str, str, str]
) -> None:
    job_a, a1, _, b1 = runs
    log(runtime, a1, 3)
    config = migrate._config(runtime.engine)
    with runtime.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0018")
    log(runtime, b1, 2)  # stored with no triggers to count it
    migrate.upgrade(runtime.engine)
    assert kept(runtime) == counted(runtime) and len(counted(runtime)) == 2
    assert differences_from_models(runtime.engine, "log_line_counts") == []
    log(runtime, a1, 1)
    assert kept(runtime)[(a1, job_a)] == 4
