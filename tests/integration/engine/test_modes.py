"""Every replication mode and setting, on every embedded destination, by exact contents."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tests.integration.engine.harness import Job, read_table, rows, sqlite_exec

ORDERS = "REPLICATE [orders]"


def ids(url: str, table: str = "orders") -> list[int]:
    return [r["id"] for r in rows(url, table, "id", ["id"])]


def test_full_then_incremental_merge_by_key(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}", destination, [ORDERS], incremental_check_columns=["updated_at"]
    )
    job.ok()
    assert ids(destination) == list(range(1, 11))
    assert job.states["t0"]["check_column"] == "updated_at"
    sqlite_exec(
        source,
        "UPDATE orders SET total = 99.99, updated_at = '2024-01-02 00:00:00' WHERE id = 3",
        "INSERT INTO orders VALUES (11, 'c11', 11.50, '2024-01-02 00:01:00')",
    )
    outcome = job.ok()
    assert outcome.rows_read == 3  # the two changes, and the row at the cursor (read inclusively)
    data = rows(destination, "orders", "id")
    assert [r["id"] for r in data] == list(range(1, 12))
    assert data[2]["total"] == Decimal("99.99")
    assert job.last is not None and any("merge" in line[1] for line in job.last.lines)


def test_hard_delete_detected_by_comparing_keys(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}", destination, [ORDERS], incremental_check_columns=["updated_at"]
    )
    job.ok()
    sqlite_exec(source, "DELETE FROM orders WHERE id IN (2, 5)")
    outcome = job.ok()
    assert ids(destination) == [1, 3, 4, 6, 7, 8, 9, 10]
    assert outcome.tasks[0].rows_deleted == 2


def test_soft_delete_flags_and_revives(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        deletion_behavior="soft_delete",
    )
    job.ok()
    sqlite_exec(source, "DELETE FROM orders WHERE id = 2")
    job.ok()
    flags = {
        r["id"]: r["_conveyor_deleted"]
        for r in rows(destination, "orders", "id", ["id", "_conveyor_deleted"])
    }
    assert flags[2] is True and sum(flags.values()) == 1 and len(flags) == 10
    sqlite_exec(source, "INSERT INTO orders VALUES (2, 'back', 1.00, '2024-02-01 00:00:00')")
    job.ok()
    revived = rows(destination, "orders", "id", ["id", "customer", "_conveyor_deleted"])[1]
    assert revived == {"id": 2, "customer": "back", "_conveyor_deleted": False}


def test_skip_delete_keeps_rows_gone_from_the_source(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        deletion_behavior="skip_delete",
    )
    job.ok()
    sqlite_exec(source, "DELETE FROM orders WHERE id > 5")
    job.ok()
    assert ids(destination) == list(range(1, 11))


def test_history_mode_keeps_versions(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        history_mode=True,
    )
    job.ok()
    sqlite_exec(
        source,
        "UPDATE orders SET customer = 'renamed', updated_at = '2024-03-01 00:00:00' WHERE id = 4",
        "DELETE FROM orders WHERE id = 7",
    )
    job.ok()
    data = rows(
        destination,
        "orders",
        "id",
        ["id", "customer", "_conveyor_active", "_conveyor_start", "_conveyor_end"],
    )
    four = [r for r in data if r["id"] == 4]
    assert len(four) == 2
    old, new = sorted(four, key=lambda r: r["_conveyor_start"])
    assert (old["customer"], old["_conveyor_active"]) == ("c4", False) and old[
        "_conveyor_end"
    ] is not None
    assert (new["customer"], new["_conveyor_active"], new["_conveyor_end"]) == (
        "renamed",
        True,
        None,
    )
    seven = [r for r in data if r["id"] == 7]
    assert (
        len(seven) == 1
        and seven[0]["_conveyor_active"] is False
        and seven[0]["_conveyor_end"] is not None
    )
    assert sum(1 for r in data if r["_conveyor_active"]) == 9


def test_append_without_key_replaces_the_reread_window(tmp_path: Path, destination: str) -> None:
    path = tmp_path / "events.db"
    sqlite_exec(
        path,
        "CREATE TABLE events (seq INTEGER, what TEXT)",
        "INSERT INTO events VALUES (?, ?)",
        rows=[(i, f"e{i}") for i in range(1, 6)],
    )
    job = Job(
        f"sqlite:///{path}", destination, ["REPLICATE [events]"], incremental_check_columns=["seq"]
    )
    job.ok()
    sqlite_exec(
        path, "INSERT INTO events VALUES (?, ?)", rows=[(5, "e5-late"), (6, "e6"), (7, "e7")]
    )
    job.ok()
    job.ok()  # nothing new: the window at the cursor is replaced, never duplicated
    data = rows(destination, "events", "seq")
    expected = [
        (1, "e1"),
        (2, "e2"),
        (3, "e3"),
        (4, "e4"),
        (5, "e5"),
        (5, "e5-late"),
        (6, "e6"),
        (7, "e7"),
    ]
    assert sorted((r["seq"], r["what"]) for r in data) == expected
    assert len(data) == 8


def test_job_type_full_recopies_and_resets_the_cursor(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}", destination, [ORDERS], incremental_check_columns=["updated_at"]
    )
    job.ok()
    sqlite_exec(
        source, "UPDATE orders SET customer = 'x', updated_at = '2000-01-01 00:00:00' WHERE id = 1"
    )
    job.ok()  # the change is behind the cursor: an incremental run cannot see it
    assert rows(destination, "orders", "id", ["customer"])[0]["customer"] == "c1"
    outcome = job.ok(full=True)
    assert outcome.rows_read == 10
    assert rows(destination, "orders", "id", ["customer"])[0]["customer"] == "x"


def test_alter_schema_adds_a_new_source_column(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}", destination, [ORDERS], incremental_check_columns=["updated_at"]
    )
    job.ok()
    sqlite_exec(
        source,
        "ALTER TABLE orders ADD COLUMN region TEXT",
        "UPDATE orders SET region = 'eu', updated_at = '2024-05-01 00:00:00' WHERE id = 2",
    )
    job.ok()
    data = rows(destination, "orders", "id", ["id", "region"])
    assert data[1] == {"id": 2, "region": "eu"} and data[0]["region"] is None


def test_without_alter_schema_new_columns_are_left_out(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        alter_schema=False,
    )
    job.ok()
    sqlite_exec(
        source,
        "ALTER TABLE orders ADD COLUMN region TEXT",
        "UPDATE orders SET region = 'eu', updated_at = '2024-05-01 00:00:00' WHERE id = 2",
    )
    job.ok()
    assert "region" not in read_table(destination, "orders").schema.names


def test_truncate_table_data_keeps_only_this_runs_rows(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        truncate_table_data=True,
    )
    job.ok()
    sqlite_exec(source, "UPDATE orders SET updated_at = '2024-06-01 00:00:00' WHERE id IN (1, 2)")
    job.ok()
    assert ids(destination) == [1, 2, 10]  # this run's rows: the changes and the row at the cursor


def test_drop_table_recreates_with_the_new_shape(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        ["REPLICATE [orders] SELECT id, customer FROM [orders]"],
        drop_table=True,
    )
    job.ok()
    job.queries = ["REPLICATE [orders] SELECT id, total FROM [orders]"]
    job.ok()
    assert read_table(destination, "orders").schema.names == ["id", "total"]


def test_prefix_and_declared_columns(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}",
        destination,
        [
            "REPLICATE [slim] (id BIGINT, customer VARCHAR(2), PRIMARY KEY(id)) SELECT id, customer FROM [orders]"
        ],
        table_name_prefix="stg_",
        auto_truncate_strings=True,
    )
    job.ok()
    data = rows(destination, "stg_slim", "id")
    assert data[9] == {"id": 10, "customer": "c1"}  # 'c10' cut to two characters


def test_replicate_start_date_and_interval_windows_checkpoint(
    source: Path, destination: str
) -> None:
    sqlite_exec(
        source,
        "UPDATE orders SET updated_at = '2024-01-0' || id || ' 12:00:00' WHERE id < 10",
        "UPDATE orders SET updated_at = '2023-12-01 00:00:00' WHERE id = 10",
    )
    job = Job(
        f"sqlite:///{source}",
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        replicate_start_date="2024-01-01",
        replicate_interval=2,
        replicate_interval_unit="days",
    )
    job.ok()
    assert ids(destination) == list(range(1, 10))  # id 10 is before the start date
    assert job.last is not None
    committed = [line for _, line, _ in job.last.lines if "window" in line]
    assert len(committed) == 5 and "2024-01-09" in job.states["t0"]["cursor"]["timestamp"]


def test_continue_on_error_goes_on_to_the_next_task(source: Path, destination: str) -> None:
    job = Job(
        f"sqlite:///{source}", destination, ["REPLICATE [nope]", ORDERS], continue_on_error=True
    )
    outcome = job.run()
    assert outcome.status.value == "error" and "1 of 2 tasks failed" in (outcome.error or "")
    assert [t.status.value for t in outcome.tasks] == ["error", "completed"]
    assert ids(destination) == list(range(1, 11))
    stop = Job(
        f"sqlite:///{source}",
        destination,
        ["REPLICATE [nope]", "REPLICATE [again] SELECT * FROM [orders]"],
    )
    outcome = stop.run()
    assert [t.status.value for t in outcome.tasks] == ["error", "pending"]


def test_use_gmt_datetime_makes_timestamps_instants(source: Path, destination: str) -> None:
    job = Job(f"sqlite:///{source}", destination, [ORDERS], use_gmt_datetime=True)
    job.ok()
    column = read_table(destination, "orders").schema.field("updated_at").type
    assert column.tz is not None


def test_batch_size_and_parallel_tasks(source: Path, destination: str) -> None:
    queries = [f"REPLICATE [copy{i}] SELECT * FROM [orders]" for i in range(4)]
    job = Job(
        f"sqlite:///{source}",
        destination,
        queries,
        batch_size=3,
        enable_parallel_processing=True,
        worker_pool=3,
    )
    outcome = job.ok()
    assert outcome.rows_written == 40
    for i in range(4):
        assert ids(destination, f"copy{i}") == list(range(1, 11))


def test_destination_schema(source: Path, tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'schema.duckdb'}"
    Job(f"sqlite:///{source}", url, [ORDERS], destination_schema="raw").ok()
    from conveyor.connectors.registry import open_connector

    connector = open_connector(url)
    try:
        assert connector.read(
            'SELECT count(*) AS n FROM "raw"."orders"', 10
        ).read_all().to_pylist() == [{"n": 10}]  # type: ignore[attr-defined]
    finally:
        connector.close()


@pytest.mark.parametrize("destination", ["duckdb"], indirect=True)
def test_cancel_leaves_the_old_table(source: Path, destination: str) -> None:
    import threading

    job = Job(f"sqlite:///{source}", destination, [ORDERS])
    job.ok()
    canceled = threading.Event()
    canceled.set()
    outcome = job.run(cancel=canceled)
    assert outcome.status.value == "canceled"
    assert ids(destination) == list(range(1, 11))


def test_command_timeout_stops_a_silent_source(source: Path, tmp_path: Path) -> None:
    slow = (  # the first row comes only after a long count: the source is silent meanwhile
        "REPLICATE [late] SELECT id FROM [orders] WHERE id > (WITH RECURSIVE c(n) AS "
        "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000000) SELECT count(*) FROM c)"
    )
    job = Job(
        f"sqlite:///{source}", f"duckdb:///{tmp_path / 'd.duckdb'}", [slow], command_timeout=1
    )
    outcome = job.run()
    assert outcome.status.value == "error" and "command_timeout" in (outcome.error or "")


@pytest.mark.parametrize("destination", ["duckdb", "sqlite", "parquet"], indirect=True)
def test_alter_schema_widens_a_widened_source_column(tmp_path: Path, destination: str) -> None:
    import duckdb

    path = tmp_path / "src.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(
            "CREATE TABLE m (id INTEGER PRIMARY KEY, qty SMALLINT, price DECIMAL(6,2), v INTEGER)"
        )
        db.execute("INSERT INTO m VALUES (1, 5, 12.50, 1)")
    job = Job(f"duckdb:///{path}", destination, ["REPLICATE [m]"], incremental_check_columns=["v"])
    job.ok()
    with duckdb.connect(str(path)) as db:
        db.execute("ALTER TABLE m ALTER qty TYPE BIGINT")
        db.execute("ALTER TABLE m ALTER price TYPE DECIMAL(18,4)")
        db.execute("INSERT INTO m VALUES (2, 9000000000, 123456789.1234, 2)")
    job.ok()
    data = rows(destination, "m", "id")
    assert data[1]["qty"] == 9_000_000_000 and data[1]["price"] == Decimal("123456789.1234")
    assert data[0]["price"] == Decimal("12.50")
    schema = read_table(destination, "m").schema
    if not destination.startswith("sqlite"):
        assert (
            schema.field("qty").type == "int64"
            and str(schema.field("price").type) == "decimal128(18, 4)"
        )
