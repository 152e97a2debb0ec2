"""The file cleaner deletes expired files in bounded batches, each its own short
transaction, so that other writers proceed between them (60,000 files were once one
145 s transaction that held the store's write lock)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from conveyor.files import retention
from conveyor.runtime import Runtime
from conveyor.store.models import File, Job, Run, Workspace
from conveyor.store.session import unit_of_work

EXPIRED = 2 * retention.SWEEP_BATCH + 500


def test_expired_files_go_in_several_transactions_with_other_writes_between(
    runtime: Runtime,
) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    with unit_of_work(runtime.factory) as session:
        workspace = session.scalars(select(Workspace)).one().id
        job = Job(workspace_id=workspace, name="exports", type="standard")
        session.add(job)
        session.flush()
        run = Run(workspace_id=workspace, job_id=job.id, job_name=job.name, status="completed")
        session.add(run)
        session.flush()
        session.add_all(
            File(
                workspace_id=workspace,
                run_id=run.id,
                job_id=job.id,
                path=f"part-{n}.csv",
                filename=f"part-{n}.csv",
                mime_type="text/csv",
                size=1,
                sha256="0" * 64,
                created_at=old,
            )
            for n in range(EXPIRED)
        )
        session.add(
            File(
                workspace_id=workspace,
                run_id=run.id,
                job_id=job.id,
                path="fresh.csv",
                filename="fresh.csv",
                mime_type="text/csv",
                size=1,
                sha256="0" * 64,
            )
        )
    left: list[int] = []  # files in the store when another writer got in
    writing = False

    def write_between(_session: Session) -> None:
        nonlocal writing
        if writing:
            return
        writing = True
        try:  # another writer, right after one of the cleaner's commits
            with unit_of_work(runtime.factory) as other:
                other.add(Workspace(name=f"written-between-{len(left)}"))
                left.append(other.scalar(select(func.count()).select_from(File)) or 0)
        finally:
            writing = False

    by_age = runtime.settings.model_copy(update={"files_keep_per_job": 0, "files_max_age_days": 30})
    event.listen(runtime.factory, "after_commit", write_between)
    try:
        swept = retention.sweep(runtime.factory, by_age)
    finally:
        event.remove(runtime.factory, "after_commit", write_between)
    assert len(swept.files) == EXPIRED
    # One commit per batch: the other writer came in after each, and saw the files go
    # a batch at a time.
    batch = retention.SWEEP_BATCH
    assert left[:3] == [EXPIRED + 1 - batch, EXPIRED + 1 - 2 * batch, 1]
    with unit_of_work(runtime.factory) as session:
        assert session.scalars(select(File.path)).all() == ["fresh.csv"]
        written: Any = session.scalars(
            select(Workspace.name).where(Workspace.name.like("written-between-%"))
        ).all()
        assert len(written) == len(left) >= 3
