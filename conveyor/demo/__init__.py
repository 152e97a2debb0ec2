"""The demo: a small shop database copied into a local DuckDB file by one job.

`make run` starts the server with `CONVEYOR_DEMO=true`, which calls `ensure_demo` so a
first-time user has a connection pair, a job and its tasks to execute right away.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import select

from conveyor.policy import Policy
from conveyor.schemas.connections import ConnectionCreate
from conveyor.schemas.jobs import JobCreate
from conveyor.services import connections, jobs
from conveyor.services.context import Context
from conveyor.store.models import Job, Workspace

SAMPLE = Path(__file__).with_name("sample.db")
WORKSPACE = "demo"
JOB = "demo-copy"
QUERIES = [
    "REPLICATE [customers]",
    "REPLICATE [products]",
    "REPLICATE [orders]",
    "REPLICATE [order_items]",
    "REPLICATE [shipped_orders] SELECT id, customer_id, ordered_at, shipped_at, total "
    "FROM [orders] WHERE status <> 'open'",
]


def ensure_demo(ctx: Context) -> Job:
    """Create the demo workspace, its two connections and its job, unless they exist."""
    workspace = ctx.session.scalar(select(Workspace).where(Workspace.id == WORKSPACE))
    if workspace is None:
        workspace = Workspace(id=WORKSPACE, name="Demo")
        ctx.session.add(workspace)
        ctx.session.flush()
    existing = ctx.session.scalar(select(Job).where(Job.workspace_id == WORKSPACE, Job.name == JOB))
    if existing is not None:
        return existing
    # The one part of the data directory the demo's connections may use.
    folder = Policy(ctx.settings).workspace_folder(WORKSPACE)
    source_file = folder / "sample.db"
    if not source_file.exists():
        shutil.copyfile(SAMPLE, source_file)
    source = connections.create(
        ctx,
        ConnectionCreate(name="demo-shop", url=f"sqlite:///{source_file}", workspace_id=WORKSPACE),
    )
    destination = connections.create(
        ctx,
        ConnectionCreate(
            name="demo-warehouse",
            url=f"duckdb:///{folder / 'warehouse.duckdb'}",
            workspace_id=WORKSPACE,
        ),
    )
    return jobs.create(
        ctx,
        JobCreate(
            name=JOB,
            workspace_id=WORKSPACE,
            source_connection_id=source.id,
            destination_connection_id=destination.id,
            queries=QUERIES,
        ),
    )
