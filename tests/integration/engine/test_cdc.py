"""Change data capture from PostgreSQL, end to end through the real engine and servers.

Each test has a source database of its own (wal_level=logical on the test server) and
drops every slot it made, even when it fails: a slot left behind keeps the server's WAL.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from conveyor.connectors.registry import open_connector
from conveyor.engine.cdc.lifecycle import release
from conveyor.engine.cdc.pgoutput import parse_lsn
from conveyor.engine.cdc.slot import Slot
from conveyor.engine.spec import Endpoint
from tests.integration.engine.harness import Job
from tests.services import fresh_mysql_database, fresh_pg_database, mysql_url

CDC = "change_data_capture"
BIG = "(SELECT string_agg(md5(random()::text || g::text), '') FROM generate_series(1, 300) g)"
"""~10 kB of text that does not compress: stored out of line (TOASTed)."""


def drop_slots(url: str) -> list[str]:
    """Drop every slot of the database (ending a slot creation still waiting, whose run
    is gone): a slot left behind keeps the server's WAL. Returns the names dropped."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname ="
            " current_database() AND query LIKE 'CREATE\\_REPLICATION\\_SLOT%'"
        )
        conn.execute(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots"
            " WHERE database = current_database() AND active_pid IS NOT NULL"
        )
        dropped = conn.execute(
            "SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE database = current_database()"
        ).fetchall()
    return [row[0] for row in dropped]


@pytest.fixture
def pg_source() -> Iterator[str]:
    """A fresh source database; every slot made on it is dropped afterwards."""
    with fresh_pg_database("cdc_src") as url:
        try:
            yield url
        finally:
            drop_slots(url)


@pytest.fixture(params=["postgres", "sqlite", "duckdb", "mariadb"])
def cdc_destination(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    kind = request.param
    if kind == "postgres":
        with fresh_pg_database("cdc_dst") as url:
            yield url
    elif kind == "mariadb":
        with fresh_mysql_database("cdc_dst") as database:
            yield mysql_url(database)
    else:
        yield f"{kind}:///{tmp_path / ('dst.' + ('db' if kind == 'sqlite' else kind))}"


def sql(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def rows(url: str, table: str, columns: str = "id, name, big, amount") -> list[tuple[Any, ...]]:
    """A table's rows, ordered by id, values normalized across destinations."""
    connector: Any = open_connector(url)
    try:
        read = connector.read(f"SELECT {columns} FROM {table} ORDER BY id", 10_000).read_all()
    finally:
        connector.close()
    return [
        tuple(Decimal(str(v)) if isinstance(v, float | Decimal) else v for v in row.values())
        for row in read.to_pylist()
    ]


def slots(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute(
            "SELECT slot_name FROM pg_replication_slots WHERE database = current_database()"
        ).fetchall()
    return [r[0] for r in found]


@contextlib.contextmanager
def writing(url: str, first_id: int) -> Iterator[Callable[[], int]]:
    """A writer inserting rows, one transaction each, until the block ends."""
    stop = threading.Event()
    written = [0]

    def write() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not stop.is_set():
                key = first_id + written[0]
                conn.execute(
                    "INSERT INTO orders VALUES (%s, %s, 'w', %s)", [key, f"w{key}", key / 4]
                )
                written[0] += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        yield lambda: written[0]
    finally:
        stop.set()
        thread.join()


def make_orders(url: str) -> None:
    sql(
        url,
        "CREATE TABLE orders (id int PRIMARY KEY, name text, big text, amount numeric(12, 2))",
        f"INSERT INTO orders SELECT g, 'n' || g, CASE WHEN g % 10 = 0 THEN {BIG} END, g * 1.25"
        " FROM generate_series(1, 500) g",
    )


def test_snapshot_under_writes_then_every_kind_of_change(
    pg_source: str, cdc_destination: str
) -> None:
    make_orders(pg_source)
    job = Job(pg_source, cdc_destination, ["REPLICATE [orders]"], job_type=CDC)
    with writing(pg_source, 10_000) as written:
        first = job.ok()
    assert written() > 0
    # The snapshot is the data as of the slot's start: every row is in the snapshot or in
    # the stream, none in both.
    drained = job.ok()
    loaded = first.tasks[0].rows_written + drained.tasks[0].rows_inserted
    assert loaded == 500 + written()
    sql(
        pg_source,
        "INSERT INTO orders VALUES (900, 'new', 'small', 9.99)",
        "UPDATE orders SET name = 'renamed' WHERE id = 10",  # big (TOASTed) unchanged
        "UPDATE orders SET amount = amount + 1 WHERE id BETWEEN 20 AND 40",
        "DELETE FROM orders WHERE id BETWEEN 50 AND 59",
        "UPDATE orders SET id = 5000 WHERE id = 3",  # a key change
        "BEGIN; INSERT INTO orders VALUES (901, 'rolled back', NULL, 1);"
        " DELETE FROM orders WHERE id = 4; ROLLBACK",
        "UPDATE orders SET name = 'twice' WHERE id = 20",  # a second change in one batch
        "UPDATE orders SET name = E'it''s \\\\ \"q\"\\n{é✓}' WHERE id = 11",  # escapes
    )
    second = job.ok()
    assert rows(cdc_destination, "orders") == rows(pg_source, "orders")
    assert second.tasks[0].rows_deleted == 11  # 50..59 and the old key 3
    assert dict(rows(cdc_destination, "orders", "id, big"))[10] is not None  # kept its big
    sql(pg_source, "TRUNCATE orders", "INSERT INTO orders VALUES (1, 'after', NULL, 1.00)")
    job.ok()
    assert rows(cdc_destination, "orders") == rows(pg_source, "orders")
    assert job.ok().tasks[0].rows_read == 0  # nothing new: nothing read


def test_where_and_columns_follow_rows_in_and_out(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    query = "REPLICATE [big_orders] SELECT id, amount AS total FROM [orders] WHERE amount >= 600"
    job = Job(pg_source, destination, [query], job_type=CDC)
    job.ok()
    sql(
        pg_source,
        "UPDATE orders SET amount = 1 WHERE id = 499",  # leaves the WHERE: deleted
        "UPDATE orders SET amount = 1000 WHERE id = 2",  # enters it: inserted
        "UPDATE orders SET name = 'x' WHERE id = 10",  # unchanged big, not selected
    )
    job.ok()
    expected = rows(pg_source, "orders WHERE amount >= 600", "id, amount")
    assert rows(destination, "big_orders", "id, total") == expected


def test_soft_delete_and_history(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    soft_url = f"duckdb:///{tmp_path / 'soft.duckdb'}"
    soft = Job(
        pg_source, soft_url, ["REPLICATE [orders]"], job_type=CDC, deletion_behavior="soft_delete"
    )
    history_url = f"sqlite:///{tmp_path / 'history.db'}"
    named = f"cdc_history_{uuid.uuid4().hex[:8]}"  # slot names are the whole server's
    history = Job(
        pg_source,
        history_url,
        ["REPLICATE [orders]"],
        job_type=CDC,
        history_mode=True,
        cdc_engine_settings={"name": named},
    )
    soft.ok()
    history.ok()
    sql(pg_source, "DELETE FROM orders WHERE id = 7", "UPDATE orders SET name = 'v2' WHERE id = 8")
    soft.ok()
    history.ok()
    flagged = rows(soft_url, "orders WHERE _conveyor_deleted", "id")
    assert flagged == [(7,)]
    versions = rows(history_url, "orders WHERE id IN (7, 8)", "id, name, _conveyor_active")
    assert sorted(versions, key=str) == sorted(
        [(7, "n7", 0), (8, "n8", 0), (8, "v2", 1)], key=str
    ) or sorted(versions, key=str) == sorted(
        [(7, "n7", False), (8, "n8", False), (8, "v2", True)], key=str
    )
    assert named in slots(pg_source)


def test_a_table_without_a_key_needs_replica_identity_full(pg_source: str, tmp_path: Path) -> None:
    sql(pg_source, "CREATE TABLE events (id int, note text)", "INSERT INTO events VALUES (1, 'a')")
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    job = Job(pg_source, destination, ["REPLICATE [events]"], job_type=CDC)
    outcome = job.run()
    assert outcome.status.value == "error" and "REPLICA IDENTITY FULL" in (outcome.error or "")
    sql(pg_source, "ALTER TABLE events REPLICA IDENTITY FULL")
    job.ok()
    sql(
        pg_source,
        "UPDATE events SET note = 'b'",
        "INSERT INTO events VALUES (2, 'c'), (3, NULL), (4, NULL)",
    )
    job.ok()
    sql(pg_source, "DELETE FROM events WHERE id = 3")  # its key holds a NULL
    job.ok()
    assert rows(destination, "events", "id, note") == [(1, "b"), (2, "c"), (4, None)]


def test_columns_added_and_dropped_on_the_source_follow(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    job = Job(pg_source, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    sql(
        pg_source,
        "UPDATE orders SET name = 'before' WHERE id = 1",
        "ALTER TABLE orders ADD COLUMN note text",
        "UPDATE orders SET note = 'added' WHERE id = 2",
        "INSERT INTO orders VALUES (1000, 'new', NULL, 1, 'fresh')",
    )
    job.ok()
    assert rows(destination, "orders WHERE id IN (1, 2, 1000)", "id, name, note") == [
        (1, "before", None),
        (2, "n2", "added"),
        (1000, "new", "fresh"),
    ]
    sql(
        pg_source,
        "ALTER TABLE orders DROP COLUMN note",
        "UPDATE orders SET name = 'x' WHERE id = 2",
    )
    job.ok()
    assert rows(destination, "orders WHERE id = 2", "id, name, note") == [(2, "x", "added")]


def test_a_dropped_slot_is_a_clear_error_and_a_full_run_starts_over(
    pg_source: str, tmp_path: Path
) -> None:
    make_orders(pg_source)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    job = Job(pg_source, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    (name,) = slots(pg_source)
    sql(pg_source, f"SELECT pg_drop_replication_slot('{name}')", "DELETE FROM orders WHERE id = 1")
    failed = job.run()
    assert failed.status.value == "error"
    assert name in (failed.error or "") and "job_type full" in (failed.error or "")
    job.ok(full=True)
    sql(pg_source, "DELETE FROM orders WHERE id = 2")
    job.ok()
    assert rows(destination, "orders") == rows(pg_source, "orders")


def test_releasing_the_job_drops_its_slot_and_publication(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    job = Job(pg_source, f"sqlite:///{tmp_path / 'dst.db'}", ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    assert len(slots(pg_source)) == 1
    release(Endpoint(pg_source), job.id, None)
    assert slots(pg_source) == []
    with psycopg.connect(pg_source, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_publication").fetchone() == (0,)


def converged(source: str, destination: str, table: str = "orders") -> bool:
    """Whether the destination has the source's rows, polled (the run streams meanwhile)."""
    deadline = time.monotonic() + 180  # a new slot waits for every writing transaction
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if rows(destination, table) == rows(source, table):
                return True
        threading.Event().wait(0.1)
    return False


def test_continuous_mode_streams_until_canceled_and_resumes(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    settings = {"continuous": True, "flush_interval": 0.2}
    job = Job(
        pg_source, destination, ["REPLICATE [orders]"], job_type=CDC, cdc_engine_settings=settings
    )

    def stream() -> tuple[threading.Event, threading.Thread, list[Any]]:
        cancel, outcome = threading.Event(), []
        thread = threading.Thread(target=lambda: outcome.append(job.run(cancel=cancel)))
        thread.start()
        return cancel, thread, outcome

    cancel, thread, outcome = stream()
    assert converged(pg_source, destination)
    sql(
        pg_source,
        "UPDATE orders SET name = 'live' WHERE id < 100",
        "DELETE FROM orders WHERE id = 7",
    )
    assert converged(pg_source, destination)
    cancel.set()
    thread.join()
    assert outcome[0].status.value == "canceled"
    sql(pg_source, "INSERT INTO orders VALUES (7, 'back', NULL, 7)")  # while stopped
    cancel, thread, outcome = stream()
    assert converged(pg_source, destination)
    cancel.set()
    thread.join()
    assert outcome[0].status.value == "canceled"
    assert job.states["t0"]["cdc"]["position"]


def test_a_batch_run_applies_changes_committed_without_a_flush(
    pg_source: str, tmp_path: Path
) -> None:
    """Logical decoding reads only flushed WAL: a run started right after transactions
    committed with synchronous_commit = off still applies them all (their commits were
    once left past the run's end, unwritten, when the source was busy)."""
    make_orders(pg_source)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    job = Job(pg_source, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    with psycopg.connect(pg_source, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        for i in range(200):
            conn.execute("UPDATE orders SET name = %s WHERE id = %s", [f"async{i}", i + 1])
        job.ok()
    assert rows(destination, "orders") == rows(pg_source, "orders")


def test_a_batch_runs_end_is_past_every_commit_and_flushed(pg_source: str) -> None:
    """The end of a batch run lies past every commit before it, flushed: a synchronous
    commit of a transaction that wrote no WAL (one that only took an id) is not flushed,
    and left asynchronous commits unwritten and past the end."""
    make_orders(pg_source)
    slot = Slot(pg_source, "unused")
    try:
        with psycopg.connect(pg_source, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            for i in range(200):
                conn.execute("UPDATE orders SET name = %s WHERE id = %s", [f"async{i}", i + 1])
            inserted = parse_lsn(
                conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()[0]
            )
            end = slot.current(flushed=True)
            flushed = parse_lsn(
                conn.execute("SELECT pg_current_wal_flush_lsn()::text").fetchone()[0]
            )
    finally:
        slot.close()
    assert end >= inserted
    assert flushed >= inserted


def test_a_batch_run_under_a_busy_writer_ends_and_the_slot_stands_where_it_saved(
    pg_source: str, tmp_path: Path
) -> None:
    """A batch run reads the stream up to its end while a writer goes on committing: it
    ends, holds everything committed before it started, and leaves the slot confirmed at
    least at the position it saved; the next run goes on from there, nothing skipped."""
    make_orders(pg_source)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    job = Job(pg_source, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    with writing(pg_source, 10_000) as written:
        while written() < 200:
            threading.Event().wait(0.01)
        before = written()
        job.ok()
        with psycopg.connect(pg_source) as conn:
            confirmed = conn.execute(
                "SELECT confirmed_flush_lsn::text FROM pg_replication_slots"
                " WHERE database = current_database()"  # the view lists the whole server's
            ).fetchone()
    with psycopg.connect(pg_source) as conn:
        total = conn.execute("SELECT count(*) FROM orders").fetchone()
    landed = len(rows(destination, "orders"))
    assert 500 + before <= landed <= (total[0] if total else 0)
    assert confirmed is not None
    # at least where the run saved its position (psycopg2 moves a stream's confirmation
    # on to the sender's end when everything received was confirmed and none came since)
    assert parse_lsn(confirmed[0]) >= parse_lsn(job.states["t0"]["cdc"]["position"])
    job.ok()  # the rest, from there
    assert rows(destination, "orders") == rows(pg_source, "orders")
