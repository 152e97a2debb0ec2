"""Ordinary runs work under a standard user's reach: SQLite → DuckDB → files, merges, a
transformation and an export, with every connection limited to the workspace's folder;
and the scratch DuckDB that rewrites a file destination reaches no file of its own accord."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.files.connector import FileConnector
from conveyor.connectors.registry import open_connector
from conveyor.domain import EngineSettings, RunLoad
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter, RunOutcome
from conveyor.engine.rewrite import RewriteExecutor
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from conveyor.policy import Reach, StatementRefused, resolve_path
from tests.unit.connectors.conftest import load, read_table

ORDERS = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2),"
    " updated_at TIMESTAMP)"
)


def run_spec(
    source: Endpoint, destination: Endpoint, tasks: tuple[TaskSpec, ...], **extra: Any
) -> RunSpec:
    """An incremental run of one job between the two endpoints, with default settings."""
    return RunSpec(
        run_id=uuid.uuid4().hex,
        job_id="job",
        job_name="job",
        job_type="standard",
        load=RunLoad.incremental,
        settings=EngineSettings(),
        source=source,
        destination=destination,
        tasks=tasks,
        **extra,
    )


class Runs:
    """Runs jobs between connections of one reach, remembering task state like the store."""

    def __init__(self, reach: Reach) -> None:
        self.reach = reach
        self.states: dict[str, dict[str, Any]] = {}
        self.lines: list[str] = []

    def run(
        self,
        source: str | None,
        destination: str | None,
        queries: list[str],
        kind: str = "job",
        artifacts: Path | None = None,
    ) -> RunOutcome:
        def endpoint(url: str | None) -> Endpoint | None:
            return Endpoint(url, reach=self.reach) if url else None

        key = f"{source} {destination}"
        tasks = tuple(
            TaskSpec(f"t{i}", i, q, self.states.get(f"{key} {i}", {}))
            for i, q in enumerate(queries)
        )
        spec = run_spec(
            endpoint(source),
            endpoint(destination),
            tasks,
            kind=kind,
            export_format="csv" if artifacts else None,
            artifacts_dir=str(artifacts) if artifacts else None,
        )
        reporter = NullReporter()
        outcome = runner.execute(spec, reporter, threading.Event())
        assert outcome.status.value == "completed", (outcome.error, reporter.lines)
        for task in tasks:
            self.states[f"{key} {task.position}"] = reporter.states.get(task.id, {})
        self.lines = [str(line) for line in reporter.lines]
        return outcome


def test_replicating_sqlite_to_duckdb_to_files_under_a_standard_users_reach(
    tmp_path: Path,
) -> None:
    data, work = tmp_path / "data", tmp_path / "work"
    data.mkdir()
    work.mkdir()
    (work / "lake").mkdir()
    reach = Reach(
        denied_roots=(resolve_path(data),),
        allowed_roots=(resolve_path(work),),
        private_network=False,
        external_access=False,
    )
    sqlite, duck = f"sqlite:///{work}/shop.sqlite", f"duckdb:///{work}/lake.duckdb"
    files = f"file://{work}/lake?format=parquet"
    shop: Any = open_connector(sqlite, reach=reach)
    shop.execute(ORDERS)
    for i in range(1, 4):
        shop.execute(f"INSERT INTO orders VALUES ({i}, 'c{i}', {i}.50, '2024-01-0{i} 10:00:00')")
    runs = Runs(reach)
    replicate = "REPLICATE [orders] WITH IncrementalCheckColumns='updated_at'"
    runs.run(sqlite, duck, [replicate])
    runs.run(duck, files, [replicate])

    shop.execute("UPDATE orders SET total = 99.99, updated_at = '2024-02-01 10:00:00' WHERE id = 2")
    shop.execute("INSERT INTO orders VALUES (4, 'c4', 4.50, '2024-02-02 10:00:00')")
    shop.close()
    runs.run(sqlite, duck, [replicate])
    assert any("merge" in line for line in runs.lines), runs.lines
    runs.run(duck, files, [replicate])  # a merge rewritten in a scratch DuckDB
    assert any("merge" in line for line in runs.lines), runs.lines
    runs.run(None, duck, ["UPDATE orders SET customer = upper(customer)"], kind="transformation")
    exported = runs.run(duck, None, ["REPLICATE [orders]"], artifacts=tmp_path / "artifacts")

    lake = pq.read_table(work / "lake" / "orders.parquet").sort_by("id")
    assert lake.column("id").to_pylist() == [1, 2, 3, 4]
    assert [str(v) for v in lake.column("total").to_pylist()] == ["1.50", "99.99", "3.50", "4.50"]
    assert [f["path"] for f in exported.files] == ["orders.csv"]
    lines = (tmp_path / "artifacts" / "orders.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in lines] == ['"customer"', '"C1"', '"C2"', '"C3"', '"C4"']
    assert list(data.iterdir()) == []


def test_the_scratch_database_of_a_rewrite_reaches_no_file(tmp_path: Path) -> None:
    (tmp_path / "secret.key").write_text("zebra42\n")
    folder = FileConnector(f"file://{tmp_path}/lake?format=parquet")
    os.makedirs(tmp_path / "lake")
    load(folder, "t", pa.table({"a": [1, 2, 3]}))
    rewrite = RewriteExecutor(folder, TableRef("t"), [], TableRef("_conveyor_stage_t_0000abcd"))
    assert rewrite.execute("DELETE FROM t WHERE a = 1") == 1
    for statement in (
        f"INSERT INTO t SELECT length(content) FROM read_text('{tmp_path}/secret.key')",
        f"COPY t TO '{tmp_path}/leak.csv'",
    ):
        with pytest.raises(StatementRefused):
            rewrite.execute(statement)
    assert sorted(os.listdir(tmp_path)) == ["lake", "secret.key"]
    assert read_table(folder, "t").column("a").to_pylist() == [2, 3]


def test_missing_destination_folders_are_made_within_reach_and_refused_outside(
    tmp_path: Path,
) -> None:
    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    reach = Reach(allowed_roots=(resolve_path(work),), private_network=False)
    sqlite = f"sqlite:///{work}/shop.sqlite"
    shop: Any = open_connector(sqlite, reach=reach)
    shop.execute(ORDERS)
    shop.execute("INSERT INTO orders VALUES (1, 'c1', 1.50, '2024-01-01 10:00:00')")
    shop.close()
    runs = Runs(reach)
    for destination in (
        f"file://{work}/export/parquet?format=parquet",
        f"duckdb:///{work}/lake/db/lake.duckdb",
        f"sqlite:///{work}/mart/db/mart.sqlite",
    ):
        runs.run(sqlite, destination, ["REPLICATE [orders]"])
    assert pq.read_table(work / "export" / "parquet" / "orders.parquet").num_rows == 1
    assert (work / "lake" / "db" / "lake.duckdb").is_file()
    assert (work / "mart" / "db" / "mart.sqlite").is_file()

    for destination in (
        f"file://{outside}/export?format=parquet",
        f"duckdb:///{outside}/lake.duckdb",
        f"sqlite:///{outside}/mart.sqlite",
    ):
        spec = run_spec(
            Endpoint(sqlite, reach=reach),
            Endpoint(destination, reach=reach),
            (TaskSpec("t0", 0, "REPLICATE [orders]"),),
        )
        outcome = runner.execute(spec, NullReporter(), threading.Event())
        assert outcome.status.value == "error" and "outside the folders" in str(outcome.error)
        assert not outside.exists(), destination
