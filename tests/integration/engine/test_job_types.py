"""Job types: sync_all (REPLICATE ALL), load_folder, reverse_etl, exports, and file sources."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.engine.harness import Job, rows, sqlite_exec


def test_sync_all_picks_up_new_tables_and_honours_exclusions(
    source: Path, destination: str
) -> None:
    sqlite_exec(
        source,
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT)",
        "INSERT INTO audit VALUES (1, 'x')",
    )
    job = Job(
        f"sqlite:///{source}",
        destination,
        ["REPLICATE ALL EXCLUDE TABLES (audit)"],
        job_type="sync_all",
    )
    outcome = job.ok()
    assert [r["id"] for r in rows(destination, "orders", "id", ["id"])] == list(range(1, 11))
    assert outcome.tasks[0].rows_written == 10
    sqlite_exec(
        source,
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)",
        "INSERT INTO customers VALUES (1, 'Zoë')",
    )
    job.ok()
    assert rows(destination, "customers", "id") == [{"id": 1, "name": "Zoë"}]
    from conveyor.errors import TableNotFound
    from tests.integration.engine.harness import read_table

    with pytest.raises(TableNotFound):
        read_table(destination, "audit")
    assert set(job.states["t0"]["tables"]) == {"orders", "customers"}


def test_load_folder_loads_each_file_once(tmp_path: Path, destination: str) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()

    def drop(name: str, start: int) -> None:
        with (folder / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "amount"])
            writer.writerows([(i, i * 2) for i in range(start, start + 3)])

    drop("sales_01", 1)
    drop("sales_02", 4)
    drop("other", 100)
    job = Job(
        f"file://{folder}?format=csv",
        destination,
        ["REPLICATE [sales] SELECT * FROM [sales_*]"],
        job_type="load_folder",
    )
    job.ok()
    assert [r["id"] for r in rows(destination, "sales", "id", ["id"])] == [1, 2, 3, 4, 5, 6]
    job.ok()  # nothing new: nothing loaded twice
    drop("sales_03", 7)
    outcome = job.ok()
    assert outcome.rows_written == 3
    assert [r["id"] for r in rows(destination, "sales", "id", ["id"])] == list(range(1, 10))
    assert job.states["t0"]["loaded_files"] == ["sales_01", "sales_02", "sales_03"]


def test_reverse_etl_merges_into_an_existing_table_by_key(source: Path, tmp_path: Path) -> None:
    app = tmp_path / "app.db"
    sqlite_exec(
        app,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2), updated_at TIMESTAMP, app_only TEXT)",
        "INSERT INTO orders (id, customer, app_only) VALUES (1, 'old', 'keep me')",
        "INSERT INTO orders (id, customer, app_only) VALUES (99, 'app row', 'mine')",
    )
    job = Job(
        f"sqlite:///{source}", f"sqlite:///{app}", ["REPLICATE [orders]"], job_type="reverse_etl"
    )
    job.ok()
    data = {r["id"]: r for r in rows(f"sqlite:///{app}", "orders", "id")}
    assert len(data) == 11 and data[99]["customer"] == "app row"  # never deletes application rows
    assert (
        data[1]["customer"] == "c1" and data[1]["app_only"] == "keep me"
    )  # columns the job does not map are kept
    missing = Job(
        f"sqlite:///{source}",
        f"sqlite:///{tmp_path / 'empty.db'}",
        ["REPLICATE [orders]"],
        job_type="reverse_etl",
    )
    outcome = missing.run()
    assert outcome.status.value == "error" and "does not exist" in (outcome.error or "")


def test_export_job_writes_a_file_per_task(source: Path, tmp_path: Path) -> None:
    job = Job(
        f"sqlite:///{source}",
        None,
        ["REPLICATE [orders]", "REPLICATE [big] SELECT * FROM [orders] WHERE total > 5"],
    )
    job.export = ("parquet", str(tmp_path / "artifacts"))
    job.ok()
    assert pq.read_table(tmp_path / "artifacts" / "orders.parquet").num_rows == 10
    assert pq.read_table(tmp_path / "artifacts" / "big.parquet").num_rows == 6


def test_parquet_folder_as_source_with_a_where(tmp_path: Path, destination: str) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3], "v": ["a", "b", "c"]}), folder / "items.parquet")
    Job(
        f"file://{folder}?format=parquet",
        destination,
        ["REPLICATE [items2] SELECT id, v FROM [items] WHERE id > 1"],
    ).ok()
    assert rows(destination, "items2", "id") == [{"id": 2, "v": "b"}, {"id": 3, "v": "c"}]
