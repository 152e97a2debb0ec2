"""Change data capture from MariaDB's row binlog, end to end through the real engine and servers.

Each test has a source database of its own on the test server (log_bin on, ROW format,
FULL row images); nothing is held on the server for a job, so nothing is left behind.
The server's global settings are never changed: the settings check's message is unit-tested
on values (tests/unit/test_cdc_binlog.py).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.registry import open_connector
from tests.integration.engine.harness import Job
from tests.services import fresh_mysql_database, fresh_pg_database, mysql_admin, mysql_url

CDC = "change_data_capture"
COLUMNS = "id, name, note, amount, day, at, doc, flag"


@pytest.fixture
def source() -> Iterator[tuple[str, str]]:
    """A fresh MariaDB source database: (its name, its URL)."""
    with fresh_mysql_database("cdc_src") as database:
        yield database, mysql_url(database)


@pytest.fixture(params=["postgres", "sqlite"])
def cdc_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        with fresh_pg_database("cdcmy_dst") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'dst.db'}"


def execute(database: str, *statements: str) -> None:
    """Run statements on the source, each in autocommit (a BEGIN…ROLLBACK group as given)."""
    admin = mysql_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"USE `{database}`")
            for statement in statements:
                cur.execute(statement)
    finally:
        admin.close()


def _normal(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float | Decimal):
        return Decimal(str(value))
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":
        return value.replace("T", " ", 1)
    return value


def rows(url: str, table: str, columns: str = COLUMNS) -> list[tuple[Any, ...]]:
    """A table's rows ordered by id, values normalized across servers."""
    connector: Any = open_connector(url)
    try:
        read = connector.read(f"SELECT {columns} FROM {table} ORDER BY id", 10_000).read_all()
    finally:
        connector.close()
    return [tuple(_normal(v) for v in row.values()) for row in read.to_pylist()]


def layout(url: str, table: str) -> list[tuple[str, str]]:
    """A destination table's columns and their declared types."""
    connector: Any = open_connector(url)
    try:
        return [(c.name, c.native_type or str(c.type)) for c in connector.columns(TableRef(table))]
    finally:
        connector.close()


def make_orders(database: str) -> None:
    execute(
        database,
        "CREATE TABLE orders (id INT PRIMARY KEY, name VARCHAR(200), note TEXT,"
        " amount DECIMAL(14, 4), day DATE, at DATETIME(6), doc JSON, flag TINYINT(1))"
        " CHARACTER SET utf8mb4",
        "INSERT INTO orders SELECT seq, CONCAT('n', seq), IF(seq % 7 = 0, NULL, 'note'),"
        " seq * 1.2575, DATE('2024-01-01') + INTERVAL seq DAY,"
        " TIMESTAMP('2024-01-01 00:00:00.123456') + INTERVAL seq MINUTE,"
        " JSON_OBJECT('k', seq, 'tags', JSON_ARRAY('a', 'b')), seq % 2 FROM seq_1_to_400",
    )


@contextlib.contextmanager
def writing(database: str, first_id: int) -> Iterator[Callable[[], int]]:
    """A writer inserting rows, one transaction each, until the block ends."""
    stop = threading.Event()
    written = [0]

    def write() -> None:
        admin = mysql_admin()
        try:
            with admin.cursor() as cur:
                cur.execute(f"USE `{database}`")
                while not stop.is_set():
                    key = first_id + written[0]
                    cur.execute(
                        "INSERT INTO orders (id, name, amount, flag) VALUES (%s, %s, %s, 1)",
                        [key, f"w{key}", Decimal(key) / 4],
                    )
                    written[0] += 1
        finally:
            admin.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield lambda: written[0]
    finally:
        stop.set()
        thread.join()


def test_snapshot_under_writes_then_every_kind_of_change(
    source: tuple[str, str], cdc_target: str
) -> None:
    database, url = source
    destination = cdc_target
    make_orders(database)
    job = Job(url, destination, ["REPLICATE [orders]"], job_type=CDC)
    with writing(database, 10_000) as written:
        first = job.ok()
    assert written() > 0
    # The snapshot is the data as of its binlog position: every row is in the snapshot or
    # in the stream, none in both.
    drained = job.ok()
    assert first.tasks[0].rows_written + drained.tasks[0].rows_inserted == 400 + written()
    assert rows(destination, "orders") == rows(url, "orders")
    loaded = layout(destination, "orders")
    execute(
        database,
        "INSERT INTO orders (id, name, amount, day, doc) VALUES"
        " (900, 'new', 9.99, '2030-12-31', '[1, \"x\"]')",
        "UPDATE orders SET amount = amount + 1, at = '1999-12-31 23:59:59.5' WHERE id BETWEEN 20 AND 40",
        "DELETE FROM orders WHERE id BETWEEN 50 AND 59",
        "UPDATE orders SET id = 5000 WHERE id = 3",  # a key change
        "BEGIN",
        "INSERT INTO orders (id, name) VALUES (901, 'rolled back')",
        "DELETE FROM orders WHERE id = 4",
        "ROLLBACK",
        "UPDATE orders SET name = 'twice' WHERE id = 20",  # a second change in one batch
        "UPDATE orders SET name = 'it''s \\\\ \"q\"\\n{é✓ 𝄞}', note = NULL WHERE id = 11",
        "UPDATE orders SET note = '', doc = NULL, flag = NULL WHERE id = 12",
        "BEGIN",
        "INSERT INTO orders (id, name) VALUES (902, 'two tables, one transaction')",
        "UPDATE orders SET name = 'with it' WHERE id = 13",
        "COMMIT",
    )
    second = job.ok()
    assert rows(destination, "orders") == rows(url, "orders")
    assert second.tasks[0].rows_deleted == 11  # 50..59 and the old key 3
    assert second.tasks[0].cdc and ":" in second.tasks[0].cdc["position"]
    assert second.tasks[0].cdc["retained_bytes"] >= 0
    assert re.fullmatch(r"\d+-\d+-\d+", job.states["t0"]["cdc"]["gtid"])  # MariaDB's GTID
    assert second.tasks[0].cdc["lag_seconds"] == 0  # every change read is applied
    # Changed rows came with the full load's types: the table was never widened or altered.
    assert layout(destination, "orders") == loaded
    execute(database, "TRUNCATE TABLE orders", "INSERT INTO orders (id, name) VALUES (1, 'after')")
    job.ok()
    assert rows(destination, "orders") == rows(url, "orders")
    assert job.ok().tasks[0].rows_read == 0  # nothing new: nothing read


def test_where_mapping_and_a_table_without_a_key(source: tuple[str, str], tmp_path: Path) -> None:
    database, url = source
    make_orders(database)
    execute(
        database,
        "CREATE TABLE events (id INT, note VARCHAR(20))",
        "INSERT INTO events VALUES (1, 'a'), (2, NULL)",
    )
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    query = "REPLICATE [big] SELECT id, amount AS total FROM [orders] WHERE amount >= 400"
    job = Job(url, destination, [query, "REPLICATE [events]"], job_type=CDC)
    job.ok()
    execute(
        database,
        "UPDATE orders SET amount = 1 WHERE id = 399",  # leaves the WHERE: deleted
        "UPDATE orders SET amount = 1000 WHERE id = 2",  # enters it: inserted
        "UPDATE events SET note = 'b' WHERE id = 1",
        "INSERT INTO events VALUES (3, NULL), (4, 'd')",
        "DELETE FROM events WHERE id = 2",  # its key (every column) holds a NULL
    )
    job.ok()
    expected = rows(url, "orders WHERE amount >= 400", "id, amount")
    assert rows(destination, "big", "id, total") == expected
    assert rows(destination, "events", "id, note") == [(1, "b"), (3, None), (4, "d")]


def test_a_run_applies_many_batches(
    source: tuple[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conveyor.engine.cdc import stream

    database, url = source
    make_orders(database)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    job = Job(url, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    monkeypatch.setattr(stream, "CHANGES_PER_BATCH", 3)  # whole transactions, ~3 rows each
    execute(
        database,
        *(
            f"UPDATE orders SET name = 'b{i}' WHERE id BETWEEN {i} AND {i + 1}" for i in range(40)
        ),  # 79 rows (no id 0)
        "BEGIN",
        "DELETE FROM orders WHERE id > 390",
        "INSERT INTO orders (id, name) VALUES (1001, 'x'), (1002, 'y')",
        "COMMIT",
    )
    drained = job.ok()
    assert rows(destination, "orders") == rows(url, "orders")
    assert drained.tasks[0].rows_updated == 79 and drained.tasks[0].rows_deleted == 10


def test_an_added_column_follows(source: tuple[str, str], tmp_path: Path) -> None:
    database, url = source
    make_orders(database)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    job = Job(url, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    execute(
        database,
        "ALTER TABLE orders ADD COLUMN extra VARCHAR(10)",
        "UPDATE orders SET extra = 'added' WHERE id = 2",
    )
    job.ok()
    assert rows(destination, "orders WHERE id IN (1, 2)", "id, extra") == [(1, None), (2, "added")]


def test_a_purged_position_is_a_clear_error_and_a_full_run_starts_over(
    source: tuple[str, str], tmp_path: Path
) -> None:
    database, url = source
    make_orders(database)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    job = Job(url, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    # The binlogs of a shared server are not ours to purge: the job's position is moved to
    # a file the server no longer has, which is what a purge leaves.
    job.states["t0"]["cdc"]["position"] = "conveyor-purged-bin.000001:4"
    failed = job.run()
    assert failed.status.value == "error"
    assert "purged" in (failed.error or "") and "job_type full" in (failed.error or "")
    execute(database, "DELETE FROM orders WHERE id = 1")
    job.ok(full=True)
    execute(database, "DELETE FROM orders WHERE id = 2")
    job.ok()
    assert rows(destination, "orders") == rows(url, "orders")


def converged(
    source: str, destination: str, table: str = "orders", ended: list[Any] | None = None
) -> bool:
    """Whether the destination has the source's rows, polled (the run streams meanwhile)."""
    for _ in range(600):
        assert not ended, ended[0].error  # the run stopped: it will not converge
        with contextlib.suppress(Exception):
            if rows(destination, table) == rows(source, table):
                return True
        threading.Event().wait(0.1)
    return False


def test_continuous_mode_streams_until_canceled_and_resumes(
    source: tuple[str, str], tmp_path: Path
) -> None:
    database, url = source
    make_orders(database)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    settings = {"continuous": True, "flush_interval": 0.2}
    job = Job(url, destination, ["REPLICATE [orders]"], job_type=CDC, cdc_engine_settings=settings)

    def stream() -> tuple[threading.Event, threading.Thread, list[Any]]:
        cancel, outcome = threading.Event(), []
        thread = threading.Thread(target=lambda: outcome.append(job.run(cancel=cancel)))
        thread.start()
        return cancel, thread, outcome

    cancel, thread, outcome = stream()
    assert converged(url, destination, ended=outcome)
    execute(
        database,
        "UPDATE orders SET name = 'live' WHERE id < 100",
        "DELETE FROM orders WHERE id = 7",
    )
    assert converged(url, destination, ended=outcome)
    cancel.set()
    thread.join()
    assert outcome[0].status.value == "canceled"
    execute(database, "INSERT INTO orders (id, name) VALUES (7, 'back')")  # while stopped
    cancel, thread, outcome = stream()
    assert converged(url, destination, ended=outcome)
    cancel.set()
    thread.join()
    assert outcome[0].status.value == "canceled"
    assert ":" in job.states["t0"]["cdc"]["position"]


def test_the_check_passes_on_the_test_server_and_runs_see_it(source: tuple[str, str]) -> None:
    from conveyor.engine.cdc.binlog import check_server

    _, url = source
    connector: Any = open_connector(url)
    session = connector.session()
    try:
        check_server(session)  # the test server is set up for it (see .ci/cdc-servers)
    finally:
        session.close()
        connector.close()


def test_enum_and_set_columns_need_the_binlogs_column_metadata(
    source: tuple[str, str], tmp_path: Path
) -> None:
    database, url = source
    execute(
        database,
        "CREATE TABLE sizes (id INT PRIMARY KEY, size ENUM('s', 'm', 'l'), tags SET('a', 'b'))",
        "INSERT INTO sizes VALUES (1, 's', 'a,b')",
    )
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    job = Job(url, destination, ["REPLICATE [sizes]"], job_type=CDC)
    admin = mysql_admin()
    try:
        with admin.cursor() as cur:
            cur.execute("SHOW GLOBAL VARIABLES LIKE 'binlog_row_metadata'")
            full = str(cur.fetchone()[1]).upper() == "FULL"
    finally:
        admin.close()
    if not full:  # the test server's default: a clear error, not NULLs
        outcome = job.run()
        assert outcome.status.value == "error"
        assert "binlog_row_metadata = FULL" in (outcome.error or "")
        assert "sizes" in (outcome.error or "")
        return
    job.ok()
    execute(database, "UPDATE sizes SET size = 'l', tags = 'b' WHERE id = 1")
    job.ok()
    assert rows(destination, "sizes", "id, size, tags") == [(1, "l", "b")]
