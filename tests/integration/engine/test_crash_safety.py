"""Crash safety: the executing process is killed (SIGKILL) at each stage of a load, then re-run.

Whatever the point — after the staging load, before the swap or merge, after the merge
but before the cursor is saved, after the cursor is saved — the next run converges to
exactly the source rows, and the saved cursor is never ahead of what the destination holds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
