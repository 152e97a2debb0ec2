"""Crash safety: the executing process is killed (SIGKILL) at each stage of a load, then re-run.

Whatever the point — after the staging load, before the swap or merge, after the merge
but before the cursor is saved, after the cursor is saved — the next run converges to
exactly the source rows, and the saved cursor is never ahead of what the destination holds.
The next run of the job also drops the staging tables the killed one left (only its job's).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.base import ColumnInfo, HidesInternal, TableRef, TableSchema
from conveyor.connectors.registry import open_connector
from conveyor.engine.planner import STAGING_PREFIX, short_id, staging_prefix
from conveyor.engine.reporting import Stage
from tests.integration.engine.harness import Database, rows

SETTINGS = json.dumps({"incremental_check_columns": ["updated_at"]})
MODES = {
    "merge": "REPLICATE [orders]",
    "append": "REPLICATE [orders_log] SELECT id, customer, total, updated_at FROM [orders]",
}


def run(
    source: Database, destination: str, state: Path, query: str, kill_at: str = ""
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "tests.integration.engine.crash_runner",
        source.url,
        destination,
        str(state),
        query,
        SETTINGS,
        kill_at,
    ]
    return subprocess.run(command, env=os.environ, capture_output=True, text=True, timeout=120)


def source_rows(source: Database) -> list[tuple[int, str, str]]:
    return landed(source.url, "orders")


def landed(destination: str, table: str) -> list[tuple[int, str, str]]:
    found = rows(destination, table, "id", ["id", "customer", "updated_at"])
    return sorted(
        (r["id"], r["customer"], r["updated_at"].strftime("%Y-%m-%d %H:%M:%S")) for r in found
    )


@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("point", list(Stage))
@pytest.mark.parametrize("destination", ["duckdb", "sqlite", "postgres"], indirect=True)
def test_a_killed_run_converges_when_run_again(
    tmp_path: Path, source: Database, destination: str, point: str, mode: str
) -> None:
    table = "orders" if mode == "merge" else "orders_log"
    state = tmp_path / "state.json"
    query = MODES[mode]
    marker = tmp_path / "fired"

    for phase in ("initial", "incremental"):
        if phase == "incremental":
            marker.unlink()
            source.execute(
                "UPDATE orders SET customer = 'changed', updated_at = '2024-02-01 00:00:00' WHERE id = 4",
                "INSERT INTO orders VALUES (20, 'new', 1.00, '2024-02-01 00:00:01')",
            )
        crashed = run(source, destination, state, query, kill_at=f"{point}:{marker}")
        assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
        assert marker.exists()
        if state.exists():  # the cursor is never ahead of what the destination committed
            cursor = json.loads(state.read_text()).get("cursor")
            if cursor:
                limit = cursor["timestamp"].replace("T", " ")[:19]
                committed = landed(destination, table)
                expected_upto = [r for r in source_rows(source) if r[2] < limit]
                for row in expected_upto:
                    assert any(c[0] == row[0] for c in committed), (
                        f"row {row} behind the cursor is missing"
                    )
        again = run(source, destination, state, query)
        assert again.returncode == 0, again.stdout + again.stderr
        if mode == "merge":
            assert landed(destination, table) == source_rows(source)
        else:  # append keeps every version it saw, never a duplicate of one
            versions = landed(destination, table)
            assert len(versions) == len(set(versions))
            assert set(source_rows(source)) <= set(versions)


def staging_tables(destination: str) -> list[TableRef]:
    """Every staging table the destination holds (a folder's are hidden files): in its own
    database or schema, not in a parallel test's on the same server (MariaDB lists every
    database the user can see, with its name as the schema)."""
    connector = open_connector(destination)
    try:
        found = [info.ref for info in connector.list_tables()]
        if isinstance(connector, HidesInternal):
            found += connector.internal_tables(STAGING_PREFIX)
    finally:
        connector.close()
    return sorted(
        {ref for ref in found if ref.name.startswith(STAGING_PREFIX) and ref.schema is None}
    )


@pytest.mark.parametrize(
    "destination", ["duckdb", "sqlite", "parquet", "postgres", "mariadb"], indirect=True
)
def test_the_next_run_drops_the_staging_tables_a_killed_run_left(
    tmp_path: Path, source: Database, destination: str
) -> None:
    state, marker = tmp_path / "state.json", tmp_path / "fired"
    crashed = run(source, destination, state, MODES["merge"], kill_at=f"{Stage.staged}:{marker}")
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    left = staging_tables(destination)
    assert len(left) == 1, left  # named with the job and the run, then the table
    job = uuid.uuid5(uuid.NAMESPACE_URL, str(state.resolve())).hex  # as crash_runner names it
    assert left[0].name.startswith(staging_prefix(job)) and left[0].name.endswith("_orders")
    another_jobs = TableRef(f"{staging_prefix('another-job')}{short_id('its-run')}_orders")
    connector = open_connector(destination)
    try:
        connector.create_table(another_jobs, TableSchema([ColumnInfo("id", pa.int64())]))
    finally:
        connector.close()

    again = run(source, destination, state, MODES["merge"])
    assert again.returncode == 0, again.stdout + again.stderr
    assert staging_tables(destination) == [another_jobs]  # only this job's leftovers go
    assert landed(destination, "orders") == source_rows(source)
