"""A connection's run limit: the next run's start never reads as earlier than the end of
the run whose place it took (the race `test_per_connection_concurrency_limit` once hit).

The claim of the next run is made to find the limit full, then — between its candidate
query and its count of running runs — the running run finishes in another transaction.
The claim then sees the place free; its `started_at` must be stamped after that, not at
the moment the claim began.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.config import Settings
from conveyor.domain import RunStatus
from conveyor.engine.reporting import RunOutcome
from conveyor.queue.manager import QueueManager
from conveyor.runtime import Runtime
from conveyor.schemas.connections import ConnectionCreate
from conveyor.schemas.jobs import JobCreate
from conveyor.schemas.runs import ExecuteRequest
from conveyor.services import connections, jobs, runs
from conveyor.store.models import Run
from tests.services import fresh_pg_database


@pytest.fixture
def pg_runtime(settings: Settings) -> Iterator[Runtime]:
    with fresh_pg_database() as url:
        rt = Runtime.create(settings.model_copy(update={"database_url": url}))
        rt.migrate()
        rt.bootstrap()
        yield rt
        rt.close()


def test_a_run_taking_a_freed_place_starts_after_the_end_of_the_run_before(
    pg_runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src.db"
    sqlite3.connect(source).close()
    with pg_runtime.unit() as ctx:
        src = connections.create(
            ctx, ConnectionCreate(name="src", url=f"sqlite:///{source}", max_concurrent_runs=1)
        )
        dst = connections.create(ctx, ConnectionCreate(name="dst", url=f"sqlite:///{source}2"))
        job_ids = [
            jobs.create(
                ctx,
                JobCreate(
                    name=f"j{i}",
                    source_connection_id=src.id,
                    destination_connection_id=dst.id,
                    queries=["REPLICATE [t]"],
                ),
            ).id
            for i in range(2)
        ]
    with pg_runtime.unit() as ctx:
        first_id = runs.execute(ctx, job_ids[0], ExecuteRequest()).id
    queue = pg_runtime.queue
    first = queue.claim("w", "host")
    assert first is not None and first.id == first_id
    with pg_runtime.unit() as ctx:
        runs.execute(ctx, job_ids[1], ExecuteRequest())

    real_busy = QueueManager._connection_busy
    finished: list[RunStatus] = []

    def busy_after_the_first_run_ends(session, run):  # type: ignore[no-untyped-def]
        if not finished:  # the first run ends while this claim is under way
            ending = threading.Thread(
                target=lambda: finished.append(
                    queue.finish(first_id, "w", RunOutcome(RunStatus.completed))
                )
            )
            ending.start()
            ending.join()
        return real_busy(session, run)

    monkeypatch.setattr(
        QueueManager, "_connection_busy", staticmethod(busy_after_the_first_run_ends)
    )
    second = queue.claim("w", "host")
    assert finished == [RunStatus.completed]
    assert second is not None
    with pg_runtime.unit() as ctx:
        ended = ctx.session.get(Run, first_id)
        started = ctx.session.get(Run, second.id)
        assert ended is not None and started is not None
        assert ended.completed_at is not None and started.started_at is not None
        assert started.started_at >= ended.completed_at
