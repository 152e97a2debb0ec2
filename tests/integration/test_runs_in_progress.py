"""`runs.in_progress`: the runs not final yet, newest first, whatever their active status."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.config import Settings
from conveyor.domain import RunStatus
from conveyor.runtime import Runtime
from conveyor.schemas.connections import ConnectionCreate
from conveyor.schemas.jobs import JobCreate
from conveyor.schemas.runs import ExecuteRequest
from conveyor.services import connections, jobs, runs
from conveyor.store.models import Run


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.create(settings.model_copy(update={"workers": 0}))
    rt.migrate()
    rt.bootstrap()
    yield rt
    rt.close()


def test_active_runs_of_every_status_newest_first(runtime: Runtime, tmp_path: Path) -> None:
    source = tmp_path / "src.db"
    sqlite3.connect(source).close()
    with runtime.unit() as ctx:
        src = connections.create(ctx, ConnectionCreate(name="src", url=f"sqlite:///{source}"))
        dst = connections.create(ctx, ConnectionCreate(name="dst", url=f"sqlite:///{source}2"))
        made = []
        for i in range(4):
            job = jobs.create(
                ctx,
                JobCreate(
                    name=f"j{i}",
                    source_connection_id=src.id,
                    destination_connection_id=dst.id,
                    queries=["REPLICATE [t]"],
                ),
            )
            made.append(runs.execute(ctx, job.id, ExecuteRequest()).id)
    statuses = (RunStatus.pending, RunStatus.in_progress, RunStatus.error, RunStatus.canceling)
    with runtime.unit() as ctx:
        for run_id, status in zip(made, statuses, strict=True):
            ctx.session.get(Run, run_id).status = status.value  # type: ignore[union-attr]
    with runtime.unit(read_only=True) as ctx:
        found, total = runs.in_progress(ctx, 10)
        assert total == 3
        expected = sorted(
            (ctx.session.get(Run, made[i]) for i in (0, 1, 3)),
            key=lambda run: (run.created_at, run.id),  # type: ignore[union-attr]
            reverse=True,
        )
        assert [run.id for run in found] == [run.id for run in expected]  # type: ignore[union-attr]
        newest, total = runs.in_progress(ctx, 1)
        assert [run.id for run in newest] == [found[0].id]
        assert total == 3
        workspace = found[0].workspace_id  # type: ignore[union-attr]
        scoped, total = runs.in_progress(ctx, 10, {"workspace_id": workspace})
        assert total == 3 and len(scoped) == 3
        elsewhere, total = runs.in_progress(ctx, 10, {"workspace_id": "no-such-workspace"})
        assert (elsewhere, total) == ([], 0)
