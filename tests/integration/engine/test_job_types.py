"""Job types: sync_all (REPLICATE ALL), load_folder, reverse_etl, exports, and file sources."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.engine.harness import Database, Job, rows, scratch_schema


def test_sync_all_picks_up_new_tables_and_honours_exclusions(
    source: Database, destination: str
) -> None:
    source.execute(
        "CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT)",
        "INSERT INTO audit VALUES (1, 'x')",
    )
    if source.kind != "sqlite":  # another schema's tables are not the source's own
        other = scratch_schema(source.url)
        source.execute(f"CREATE SCHEMA {other}", f"CREATE TABLE {other}.elsewhere (id INTEGER)")
    job = Job(
        source.url,
        destination,
        ["REPLICATE ALL EXCLUDE TABLES (audit)"],
        job_type="sync_all",
    )
    outcome = job.ok()
    assert [r["id"] for r in rows(destination, "orders", "id", ["id"])] == list(range(1, 11))
    assert outcome.tasks[0].rows_written == 10
    source.execute(
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


def test_load_folder_with_a_key_keeps_the_rows_of_earlier_files(
    tmp_path: Path, destination: str
) -> None:
    """Each file adds to the table: a keyed load of the next file is no full picture of
    the source, so rows of earlier files are never taken for deleted ones."""
    folder = tmp_path / "drop"
    folder.mkdir()
    for name, start in (("sales_01", 1), ("sales_02", 4)):
        (folder / f"{name}.csv").write_text(
            "id,amount\n" + "".join(f"{i},{i * 2}\n" for i in range(start, start + 3))
        )
    job = Job(
        f"file://{folder}?format=csv",
        destination,
        [
            "REPLICATE [sales] (id INTEGER, amount INTEGER, PRIMARY KEY (id)) SELECT * FROM [sales_*]"
        ],
        job_type="load_folder",
    )
    job.ok()
    (folder / "sales_03.csv").write_text("id,amount\n7,14\n2,40\n")  # a new row, a change
    job.ok()
    data = {r["id"]: r["amount"] for r in rows(destination, "sales", "id", ["id", "amount"])}
    assert data == {1: 2, 2: 40, 3: 6, 4: 8, 5: 10, 6: 12, 7: 14}


@pytest.mark.parametrize("destination", ["sqlite", "duckdb", "postgres", "mariadb"], indirect=True)
def test_reverse_etl_merges_into_an_existing_table_by_key(
    source: Database, destination: str, tmp_path: Path
) -> None:
    app = Database("app", destination)
    app.execute(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2), updated_at TIMESTAMP, app_only TEXT)",
        "INSERT INTO orders (id, customer, app_only) VALUES (1, 'old', 'keep me')",
        "INSERT INTO orders (id, customer, app_only) VALUES (99, 'app row', 'mine')",
    )
    job = Job(source.url, destination, ["REPLICATE [orders]"], job_type="reverse_etl")
    job.ok()
    data = {r["id"]: r for r in rows(destination, "orders", "id")}
    assert len(data) == 11 and data[99]["customer"] == "app row"  # never deletes application rows
    assert (
        data[1]["customer"] == "c1" and data[1]["app_only"] == "keep me"
    )  # columns the job does not map are kept
    missing = Job(
        source.url,
        f"sqlite:///{tmp_path / 'empty.db'}",
        ["REPLICATE [orders]"],
        job_type="reverse_etl",
    )
    outcome = missing.run()
    assert outcome.status.value == "error" and "does not exist" in (outcome.error or "")


@pytest.mark.parametrize("source", ["sqlite", "postgres", "mariadb"], indirect=True)
def test_export_job_writes_a_file_per_task(source: Database, tmp_path: Path) -> None:
    job = Job(
        source.url,
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


def test_an_export_task_can_write_another_format(source: Database, tmp_path: Path) -> None:
    job = Job(
        source.url,
        None,
        ["REPLICATE [orders]", "REPLICATE [orders] WITH ExportFormat='xlsx' SELECT * FROM orders"],
    )
    job.export = ("csv", str(tmp_path / "artifacts"))
    outcome = job.ok()
    assert sorted(os.listdir(tmp_path / "artifacts")) == ["orders.csv", "orders.xlsx"]
    assert sorted(f["path"] for f in outcome.files) == ["orders.csv", "orders.xlsx"]
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in outcome.files)
    again = job.ok()  # a new attempt starts from an empty folder
    assert sorted(f["path"] for f in again.files) == ["orders.csv", "orders.xlsx"]


def test_export_format_is_for_export_jobs(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        ["REPLICATE [orders] WITH ExportFormat='xlsx' SELECT * FROM orders"],
    )
    outcome = job.run()
    assert outcome.status.value == "error" and "export jobs" in (outcome.error or "")
