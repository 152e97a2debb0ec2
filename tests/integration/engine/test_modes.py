"""Every replication mode and setting, over the connector pairs of conftest, by exact contents."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from tests.integration.engine.harness import Database, Job, read_table, rows, scratch_schema

ORDERS = "REPLICATE [orders]"


def ids(url: str, table: str = "orders") -> list[int]:
    return [r["id"] for r in rows(url, table, "id", ["id"])]


def test_full_then_incremental_merge_by_key(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    assert ids(destination) == list(range(1, 11))
    assert job.states["t0"]["check_column"] == "updated_at"
    source.execute(
        "UPDATE orders SET total = 99.99, updated_at = '2024-01-02 00:00:00' WHERE id = 3",
        "INSERT INTO orders VALUES (11, 'c11', 11.50, '2024-01-02 00:01:00')",
    )
    outcome = job.ok()
    assert outcome.rows_read == 3  # the two changes, and the row at the cursor (read inclusively)
    assert outcome.rows_written == 2  # the row at the cursor, read again, is no write
    data = rows(destination, "orders", "id")
    assert [r["id"] for r in data] == list(range(1, 12))
    assert data[2]["total"] == Decimal("99.99")
    assert job.last is not None and any("merge" in line[1] for line in job.last.lines)


def test_hard_delete_detected_by_comparing_keys(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    source.execute("DELETE FROM orders WHERE id IN (2, 5)")
    outcome = job.ok()
    assert ids(destination) == [1, 3, 4, 6, 7, 8, 9, 10]
    assert outcome.tasks[0].rows_deleted == 2


def test_soft_delete_flags_and_revives(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        deletion_behavior="soft_delete",
    )
    job.ok()
    source.execute("DELETE FROM orders WHERE id = 2")
    job.ok()
    flags = {
        r["id"]: r["_conveyor_deleted"]
        for r in rows(destination, "orders", "id", ["id", "_conveyor_deleted"])
    }
    assert flags[2] is True and sum(flags.values()) == 1 and len(flags) == 10
    source.execute("INSERT INTO orders VALUES (2, 'back', 1.00, '2024-02-01 00:00:00')")
    job.ok()
    revived = rows(destination, "orders", "id", ["id", "customer", "_conveyor_deleted"])[1]
    assert revived == {"id": 2, "customer": "back", "_conveyor_deleted": False}


def test_skip_delete_keeps_rows_gone_from_the_source(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        deletion_behavior="skip_delete",
    )
    job.ok()
    source.execute("DELETE FROM orders WHERE id > 5")
    job.ok()
    assert ids(destination) == list(range(1, 11))


def test_history_mode_keeps_versions(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        history_mode=True,
    )
    job.ok()
    source.execute(
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


def test_append_without_key_replaces_the_reread_window(source: Database, destination: str) -> None:
    source.execute("CREATE TABLE events (seq INTEGER, what TEXT)")
    source.insert("events", [(i, f"e{i}") for i in range(1, 6)])
    job = Job(source.url, destination, ["REPLICATE [events]"], incremental_check_columns=["seq"])
    job.ok()
    source.insert("events", [(5, "e5-late"), (6, "e6"), (7, "e7")])
    assert job.ok().rows_written == 3  # a new row sharing the cursor's value is a write
    again = job.ok()  # nothing new: the window at the cursor is replaced, never duplicated
    assert (again.rows_read, again.rows_written) == (1, 0)  # seq 7, at the cursor
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


def test_job_type_full_recopies_and_resets_the_cursor(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    source.execute(
        "UPDATE orders SET customer = 'x', updated_at = '2000-01-01 00:00:00' WHERE id = 1"
    )
    job.ok()  # the change is behind the cursor: an incremental run cannot see it
    assert rows(destination, "orders", "id", ["customer"])[0]["customer"] == "c1"
    outcome = job.ok(full=True)
    assert outcome.rows_read == 10
    assert rows(destination, "orders", "id", ["customer"])[0]["customer"] == "x"


def test_alter_schema_adds_a_new_source_column(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    source.execute(
        "ALTER TABLE orders ADD COLUMN region TEXT",
        "UPDATE orders SET region = 'eu', updated_at = '2024-05-01 00:00:00' WHERE id = 2",
    )
    job.ok()
    data = rows(destination, "orders", "id", ["id", "region"])
    assert data[1] == {"id": 2, "region": "eu"} and data[0]["region"] is None


def test_without_alter_schema_new_columns_are_left_out(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        alter_schema=False,
    )
    job.ok()
    source.execute(
        "ALTER TABLE orders ADD COLUMN region TEXT",
        "UPDATE orders SET region = 'eu', updated_at = '2024-05-01 00:00:00' WHERE id = 2",
    )
    job.ok()
    assert "region" not in read_table(destination, "orders").schema.names


def test_truncate_table_data_keeps_only_this_runs_rows(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        [ORDERS],
        incremental_check_columns=["updated_at"],
        truncate_table_data=True,
    )
    job.ok()
    source.execute("UPDATE orders SET updated_at = '2024-06-01 00:00:00' WHERE id IN (1, 2)")
    job.ok()
    assert ids(destination) == [1, 2, 10]  # this run's rows: the changes and the row at the cursor


def test_drop_table_recreates_with_the_new_shape(source: Database, destination: str) -> None:
    job = Job(
        source.url,
        destination,
        ["REPLICATE [orders] SELECT id, customer FROM [orders]"],
        drop_table=True,
    )
    job.ok()
    job.queries = ["REPLICATE [orders] SELECT id, total FROM [orders]"]
    job.ok()
    assert read_table(destination, "orders").schema.names == ["id", "total"]


def test_prefix_and_declared_columns(source: Database, destination: str) -> None:
    job = Job(
        source.url,
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
    source: Database, destination: str
) -> None:
    source.execute(
        *(
            f"UPDATE orders SET updated_at = '2024-01-0{i} 12:00:00' WHERE id = {i}"
            for i in range(1, 10)
        ),
        "UPDATE orders SET updated_at = '2023-12-01 00:00:00' WHERE id = 10",
    )
    job = Job(
        source.url,
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


def test_continue_on_error_goes_on_to_the_next_task(source: Database, destination: str) -> None:
    job = Job(source.url, destination, ["REPLICATE [nope]", ORDERS], continue_on_error=True)
    outcome = job.run()
    assert outcome.status.value == "error" and "1 of 2 tasks failed" in (outcome.error or "")
    assert [t.status.value for t in outcome.tasks] == ["error", "completed"]
    assert ids(destination) == list(range(1, 11))
    stop = Job(
        source.url,
        destination,
        ["REPLICATE [nope]", "REPLICATE [again] SELECT * FROM [orders]"],
    )
    outcome = stop.run()
    assert [t.status.value for t in outcome.tasks] == ["error", "pending"]


def test_use_gmt_datetime_makes_timestamps_instants(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], use_gmt_datetime=True)
    job.ok()
    column = read_table(destination, "orders").schema.field("updated_at").type
    assert column.tz is not None


def test_batch_size_and_parallel_tasks(source: Database, destination: str) -> None:
    queries = [f"REPLICATE [copy{i}] SELECT * FROM [orders]" for i in range(4)]
    job = Job(
        source.url,
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


@pytest.mark.parametrize("destination", ["duckdb", "postgres", "mariadb"], indirect=True)
def test_destination_schema(source: Database, destination: str) -> None:
    schema = scratch_schema(destination)
    Job(source.url, destination, [ORDERS], destination_schema=schema).ok()
    from conveyor.connectors.base import TableRef
    from conveyor.connectors.registry import open_connector
    from conveyor.connectors.sql import count_sql

    connector = open_connector(destination)
    try:
        counted = connector.read(count_sql(TableRef("orders", schema), connector.dialect), 10)  # type: ignore[attr-defined]
        assert counted.read_all().column(0).to_pylist() == [10]
        assert not connector.table_exists(TableRef("orders"))  # type: ignore[attr-defined]
    finally:
        connector.close()


@pytest.mark.parametrize("destination", ["duckdb", "postgres"], indirect=True)
def test_cancel_leaves_the_old_table(source: Database, destination: str) -> None:
    import threading

    job = Job(source.url, destination, [ORDERS])
    job.ok()
    canceled = threading.Event()
    canceled.set()
    outcome = job.run(cancel=canceled)
    assert outcome.status.value == "canceled"
    assert ids(destination) == list(range(1, 11))


def test_an_unchanged_source_writes_no_rows(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    assert job.ok().rows_written == 10
    outcome = job.ok()
    assert outcome.rows_read == 1  # the row at the cursor, read again (check >= cursor)
    assert outcome.rows_written == 0
    assert ids(destination) == list(range(1, 11))


def test_a_load_reports_each_stage_of_each_window_in_order(
    source: Database, destination: str
) -> None:
    from conveyor.engine.reporting import Stage

    job = Job(source.url, destination, [ORDERS])
    job.ok()
    assert job.last is not None
    assert [stage for _, stage in job.last.stages] == list(Stage)
    assert {task for task, _ in job.last.stages} == {"t0"}


@pytest.mark.parametrize("ending", ["canceled", "error"])
def test_a_full_load_that_keeps_the_old_table_wrote_no_rows(
    source: Database, destination: str, ending: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from conveyor.engine.reporting import NullReporter, Stage

    job = Job(source.url, destination, [ORDERS])
    job.ok()
    stop = threading.Event()

    def after_staging(self: NullReporter, task_id: str, stage: Stage) -> None:
        if stage is Stage.staged:  # every row is staged; the swap is still to come
            stop.set()
        if stage is Stage.applying:
            raise RuntimeError("the destination went away")

    monkeypatch.setattr(NullReporter, "stage", after_staging)
    outcome = job.run(full=True, cancel=stop if ending == "canceled" else None)
    assert outcome.status.value == ending
    assert ids(destination) == list(range(1, 11))  # the old rows, kept
    assert outcome.rows_read == 10
    assert outcome.rows_written == 0


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
def test_command_timeout_stops_a_silent_source(source: Database, tmp_path: Path) -> None:
    slow = (  # the first row comes only after a long count: the source is silent meanwhile
        "REPLICATE [late] SELECT id FROM [orders] WHERE id > (WITH RECURSIVE c(n) AS "
        "(SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 300000000) SELECT count(*) FROM c)"
    )
    job = Job(source.url, f"duckdb:///{tmp_path / 'd.duckdb'}", [slow], command_timeout=1)
    outcome = job.run()
    assert outcome.status.value == "error" and "command_timeout" in (outcome.error or "")


WIDENING = [("duckdb", d) for d in ("duckdb", "sqlite", "parquet", "postgres", "mariadb")] + [
    ("postgres", "mariadb"),
    ("mariadb", "postgres"),
]


@pytest.mark.parametrize(
    ("source", "destination"), WIDENING, indirect=True, ids=[f"{s}-{d}" for s, d in WIDENING]
)
def test_alter_schema_widens_a_widened_source_column(source: Database, destination: str) -> None:
    source.execute(
        "CREATE TABLE m (id INTEGER PRIMARY KEY, qty SMALLINT, price DECIMAL(6,2), v INTEGER)",
        "INSERT INTO m VALUES (1, 5, 12.50, 1)",
    )
    job = Job(source.url, destination, ["REPLICATE [m]"], incremental_check_columns=["v"])
    job.ok()
    source.execute(
        "ALTER TABLE m ALTER COLUMN qty TYPE BIGINT",
        "ALTER TABLE m ALTER COLUMN price TYPE DECIMAL(18,4)",
        "INSERT INTO m VALUES (2, 9000000000, 123456789.1234, 2)",
    )
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


@pytest.mark.parametrize(
    ("source", "destination"),
    [("postgres", "duckdb"), ("mariadb", "postgres"), ("postgres", "mariadb")],
    indirect=True,
    ids=["postgres-duckdb", "mariadb-postgres", "postgres-mariadb"],
)
def test_alter_schema_widens_a_key_column(source: Database, destination: str) -> None:
    source.execute(
        "CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER)", "INSERT INTO k VALUES (1, 1)"
    )
    job = Job(source.url, destination, ["REPLICATE [k]"], incremental_check_columns=["v"])
    job.ok()
    source.execute(
        "ALTER TABLE k ALTER COLUMN id TYPE BIGINT", "INSERT INTO k VALUES (9000000000, 2)"
    )
    job.ok()
    job.ok()  # merged by the (widened) key: nothing doubled
    assert ids(destination, "k") == [1, 9_000_000_000]
    assert read_table(destination, "k").schema.field("id").type == "int64"


@pytest.mark.parametrize(
    ("source", "destination"),
    [("duckdb", "postgres"), ("duckdb", "mariadb"), ("postgres", "mariadb")],
    indirect=True,
    ids=["duckdb-postgres", "duckdb-mariadb", "postgres-mariadb"],
)
def test_added_columns_take_the_destinations_own_types(source: Database, destination: str) -> None:
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    source.execute(
        "ALTER TABLE orders ADD COLUMN seen TIMESTAMPTZ",
        "UPDATE orders SET seen = '2024-05-01 10:00:00+00:00', updated_at = '2024-05-01 00:00:00' WHERE id = 2",
    )
    job.ok()
    data = read_table(destination, "orders", "id")
    assert data.schema.field("seen").type == pa.timestamp("us", "UTC")  # MySQL: marked UTC
    assert data.column("seen")[1].as_py() == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("source", ["sqlite", "duckdb", "postgres", "mariadb"], indirect=True)
def test_a_sub_second_cursor_reads_from_the_cursor_exactly(source: Database) -> None:
    source.execute("CREATE TABLE ticks (id INTEGER PRIMARY KEY, stamp TIMESTAMP(6))")
    source.insert("ticks", [(1, "2024-01-01 00:00:00.200000"), (2, "2024-01-01 00:00:00.500000")])
    job = Job(
        source.url,
        f"memory://ticks-{uuid.uuid4().hex}",
        ["REPLICATE [ticks]"],
        incremental_check_columns=["stamp"],
    )
    job.ok()
    assert job.ok().rows_read == 1  # only the row at the cursor, not the whole second


@pytest.mark.parametrize("destination", ["postgres", "mariadb", "duckdb"], indirect=True)
def test_a_long_table_name_fits_the_staging_names(source: Database, destination: str) -> None:
    name = "customer_lifetime_value_by_region_and_quarter_2024_v2"  # 53 characters
    source.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, v INTEGER)")
    source.insert(name, [(1, 1), (2, 2)])
    job = Job(source.url, destination, [f"REPLICATE [{name}]"], incremental_check_columns=["v"])
    job.ok()
    source.execute(f"DELETE FROM {name} WHERE id = 1")  # the sweep stages keys too
    job.ok()
    assert ids(destination, name) == [2]


def test_a_declared_key_that_repeats_fails_and_keeps_the_table(
    source: Database, destination: str
) -> None:
    """A PRIMARY KEY(...) the statement declares is the user's word: a repeat fails the load,
    whether the destination enforces keys or not, and the loaded table stays as it was."""
    query = (
        "REPLICATE [by_customer] (customer VARCHAR(20), total DECIMAL(10,2),"
        " updated_at TIMESTAMP, PRIMARY KEY(customer))"
        " SELECT customer, total, updated_at FROM [orders]"
    )
    job = Job(source.url, destination, [query], incremental_check_columns=["updated_at"])
    job.ok()
    source.execute("INSERT INTO orders VALUES (11, 'c3', 7.25, '2024-01-02 00:00:00')")
    source.execute("INSERT INTO orders VALUES (12, 'c3', 8.25, '2024-01-02 00:00:01')")
    outcome = job.run()
    assert outcome.status.value == "error"
    assert "c3" in (outcome.error or "") or "duplicate" in (outcome.error or "").lower()
    kept = rows(destination, "by_customer", "customer", ["customer", "total"])
    assert len(kept) == 10 and kept[3] == {"customer": "c3", "total": Decimal("3.50")}


@pytest.mark.parametrize(
    ("source", "destination"),
    [("sqlite", d) for d in ("duckdb", "sqlite", "postgres", "mariadb")],
    indirect=True,
)
def test_a_merge_keeps_columns_only_the_destination_has(source: Database, destination: str) -> None:
    """A column added to the destination table (not in the source) keeps its values when
    changed rows are merged into it: the merge updates rows, it does not re-insert them."""
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    Database("destination", destination).execute(
        "ALTER TABLE orders ADD COLUMN note VARCHAR(10)", "UPDATE orders SET note = 'kept'"
    )
    source.execute(
        "UPDATE orders SET total = 99.99, updated_at = '2024-01-02 00:00:00' WHERE id = 3",
        "INSERT INTO orders VALUES (11, 'c11', 11.50, '2024-01-02 00:01:00')",
    )
    job.ok()
    data = rows(destination, "orders", "id", ["id", "total", "note"])
    assert data[2] == {"id": 3, "total": Decimal("99.99"), "note": "kept"}
    assert [r["note"] for r in data] == ["kept"] * 10 + [None]


@pytest.mark.parametrize(
    ("source", "destination"),
    [("sqlite", d) for d in ("duckdb", "sqlite", "postgres", "mariadb", "parquet")],
    indirect=True,
)
def test_a_key_borrowed_by_a_select_that_repeats_rows_fails(
    source: Database, destination: str
) -> None:
    """SELECT * borrows the source table's key, but a join can repeat it: no destination,
    enforcing keys or not, merges such rows; the load fails and the table stays."""
    query = (
        "REPLICATE [orders] SELECT * FROM [orders]"
        " JOIN (SELECT 1 AS copy UNION ALL SELECT 2 AS copy) AS d ON d.copy <= 2"
    )
    job = Job(source.url, destination, [ORDERS], incremental_check_columns=["updated_at"])
    job.ok()
    twice = Job(source.url, destination, [query], incremental_check_columns=["updated_at"])
    twice.states = dict(job.states)
    source.execute("UPDATE orders SET updated_at = '2024-01-02 00:00:00' WHERE id = 3")
    outcome = twice.run()
    assert outcome.status.value == "error", outcome.tasks
    error = (outcome.error or "").lower()
    assert "not unique" in error or "duplicate" in error, error
    assert ids(destination) == list(range(1, 11))


@pytest.mark.parametrize("source", ["sqlite"], indirect=True)
@pytest.mark.parametrize("destination", ["duckdb"], indirect=True)
@pytest.mark.parametrize(
    ("verbosity", "levels"),
    [(1, set()), (2, {"info"}), (3, {"info", "detail"}), (5, {"info", "detail"})],
)
def test_a_run_logs_at_its_verbosity(
    source: Database, destination: str, verbosity: int, levels: set[str]
) -> None:
    job = Job(source.url, destination, [ORDERS], verbosity=verbosity)
    job.ok()
    assert job.last is not None
    assert {level for level, _, _ in job.last.lines} == levels
    failing = Job(source.url, destination, ["REPLICATE [missing]"], verbosity=verbosity)
    assert failing.run().status.value == "error"
    assert failing.last is not None
    assert "error" in {level for level, _, _ in failing.last.lines}  # errors at every level


KEY_WIDENING = ["duckdb-keyed", "sqlite", "postgres", "mariadb"]


@pytest.mark.parametrize("source", ["postgres"], indirect=True)
@pytest.mark.parametrize("destination", KEY_WIDENING, indirect=True)
@pytest.mark.parametrize(
    ("widened", "new_key", "expected"),
    [("BIGINT", 9_000_000_000, [1, 9_000_000_000]), ("VARCHAR(20)", "'k-2'", ["1", "k-2"])],
    ids=["bigint", "varchar"],
)
def test_a_key_widened_under_a_real_primary_key_rebuilds_or_alters_the_table(
    source: Database, destination: str, widened: str, new_key: object, expected: list[object]
) -> None:
    """The destination's key is a PRIMARY KEY constraint (DuckDB with
    primary_key_constraints, SQLite, PostgreSQL, MariaDB): widening the key column keeps
    the rows and the constraint, and later runs still merge by the key."""
    source.execute(
        "CREATE TABLE k (id INTEGER PRIMARY KEY, v INTEGER)", "INSERT INTO k VALUES (1, 1)"
    )
    job = Job(source.url, destination, ["REPLICATE [k]"], incremental_check_columns=["v"])
    job.ok()
    source.execute(
        f"ALTER TABLE k ALTER COLUMN id TYPE {widened}", f"INSERT INTO k VALUES ({new_key}, 2)"
    )
    job.ok()
    source.execute("UPDATE k SET v = 3 WHERE v = 2")
    job.ok()  # merged by the (widened) key: nothing doubled
    data = rows(destination, "k", "id")
    assert [r["id"] for r in data] == expected and [r["v"] for r in data] == [1, 3]
    from conveyor.connectors.base import TableRef
    from conveyor.connectors.registry import open_connector

    connector = open_connector(destination)
    try:
        columns = {c.name: c for c in connector.columns(TableRef("k"))}  # type: ignore[attr-defined]
    finally:
        connector.close()
    assert columns["id"].primary_key and not columns["v"].primary_key
