"""PostgreSQL → PostgreSQL loads relayed as binary COPY bytes, against the real server.

A relay applies only where nothing could change on the way; these tests check that it
is taken there (and only there), that what arrives is exactly what was sent, and that
cancelation, a silent source, a failing source and parallel parts behave as they do on
the Arrow path: nothing half-loaded is ever kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from tests.integration.engine.harness import Job
from tests.services import fresh_pg_database

EXACT_TYPES = (
    "id bigint PRIMARY KEY, small smallint, whole integer, amount numeric(12,2),"
    " single real, ratio double precision, label text, flag boolean, day date,"
    " at_time time, stamp timestamp, moment timestamptz, raw bytea, counts integer[],"
    " tags text[], span interval"
)
EXACT_ROWS = """
INSERT INTO exact VALUES
 (1, -32768, -2147483648, -9999999999.99, 1.5, 'NaN', '', true, '0001-01-01', '00:00',
  '1970-01-01 00:00', '1970-01-01 00:00+00', '', '{}', '{}', '-3 days'),
 (2, 32767, 2147483647, 9999999999.99, '-Infinity', 'Infinity', 'ünïcødé ✓ "q" \\t',
  false, '9999-12-31', '23:59:59.999999', '2262-04-11 23:47:16.854775',
  '2024-02-29 12:34:56.789012+05:30', '\\x00ff10', '{1,NULL,3}', '{"a b",NULL,"c,d"}',
  '1 year 2 mons 3 days 04:05:06.789'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """A source and a destination database of the local PostgreSQL server."""
    with fresh_pg_database() as source, fresh_pg_database() as destination:
        yield source, destination


def sql(url: str, *statements: str) -> list[Any]:
    """Run statements on a database; the rows of the last one."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows: list[Any] = []
        for statement in statements:
            cur = conn.execute(statement)
            rows = cur.fetchall() if cur.description else []
        return rows


def relayed(job: Job) -> bool:
    assert job.last is not None
    return any("relayed" in message for _, message, _ in job.last.lines)


def assert_source_copy_stops(source: str, view: str) -> None:
    """The source's COPY of `view` was stopped with the run, not left to run on."""
    still = (
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
        f" AND query LIKE 'COPY%{view}%' AND pid <> pg_backend_pid()"
        " AND datname = current_database()"  # not a parallel test's COPY of the same view
    )
    deadline = time.monotonic() + 10
    while sql(source, still) != [(0,)]:
        assert time.monotonic() < deadline, "the source query still runs"
        time.sleep(0.05)


def tables(url: str) -> list[str]:
    rows = sql(
        url,
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    return [name for (name,) in rows]


def test_a_plain_copy_is_relayed_and_arrives_exactly(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(source, f"CREATE TABLE exact ({EXACT_TYPES})", EXACT_ROWS)
    job = Job(source, destination, ["REPLICATE [exact]"])
    outcome = job.ok()
    assert relayed(job)
    assert outcome.tasks[0].rows_written == 3
    everything = "SELECT exact::text FROM exact ORDER BY id"  # NaN equals itself as text
    assert sql(destination, everything) == sql(source, everything)
    types = "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute WHERE attrelid = 'exact'::regclass AND attnum > 0 ORDER BY attnum"
    assert sql(destination, types) == sql(source, types)
    assert sql(
        destination,
        "SELECT conname FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace",
    ) == [("exact_pkey",)]
    assert tables(destination) == ["exact"]  # no staging table left

    job.destination_options = {"binary_relay": False}  # the Arrow path writes the same rows
    job.ok(full=True)
    assert not relayed(job)
    assert sql(destination, everything) == sql(source, everything)


def test_declared_types_are_kept_so_the_copy_is_relayed(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(
        source,
        "CREATE TABLE loose (id integer PRIMARY KEY, n numeric, code varchar(8) NOT NULL,"
        " ref uuid, doc jsonb, addr inet, bits bit(3), names varchar(5)[])",
        "INSERT INTO loose VALUES (1, 1.5, 'a', gen_random_uuid(), '{\"a\": 1}', '10.0.0.1',"
        " B'101', '{x,NULL}'), (2, NULL, 'bb', NULL, NULL, NULL, NULL, NULL)",
    )
    job = Job(source, destination, ["REPLICATE [loose]"])
    job.ok()
    assert relayed(job)  # unconstrained numeric, varchar(8), uuid … on both ends
    types = (
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull FROM pg_attribute"
        " WHERE attrelid = 'loose'::regclass AND attnum > 0 ORDER BY attnum"
    )
    assert sql(destination, types) == sql(source, types)
    everything = "SELECT loose::text FROM loose ORDER BY id"
    assert sql(destination, everything) == sql(source, everything)

    job.destination_options = {"binary_relay": False}  # the Arrow path declares the same types
    job.ok(full=True)
    assert not relayed(job)
    assert sql(destination, types) == sql(source, types)
    assert sql(destination, everything) == sql(source, everything)
    assert tables(destination) == ["loose"]


def test_columns_whose_types_change_take_the_arrow_path(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(
        source,
        "CREATE TABLE loose (id integer PRIMARY KEY, n numeric, code varchar(8))",
        "INSERT INTO loose VALUES (1, 1.5, 'a'), (2, NULL, 'bb')",
    )
    statement = "REPLICATE [loose] (id integer, n numeric(12,3), code text) SELECT * FROM loose"
    job = Job(source, destination, [statement])
    job.ok()
    assert not relayed(job)  # the statement declares other types: values are converted
    assert sql(destination, "SELECT id, n, code FROM loose ORDER BY id") == [
        (1, pytest.approx(1.5), "a"),
        (2, None, "bb"),
    ]
    assert tables(destination) == ["loose"]


def test_incremental_relays_merge_and_keep_the_cursor(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(
        source,
        "CREATE TABLE orders (id integer PRIMARY KEY, total numeric(8,2), updated_at timestamp)",
        "INSERT INTO orders SELECT i, i * 1.25, timestamp '2024-01-01' + i * interval '1 minute'"
        " FROM generate_series(1, 1000) i",
    )
    job = Job(source, destination, ["REPLICATE [orders]"], incremental_check_columns=["updated_at"])
    job.ok()
    assert relayed(job)
    assert job.states["t0"]["cursor"] == {"timestamp": "2024-01-01T16:40:00"}

    sql(
        source,
        "UPDATE orders SET total = 0, updated_at = timestamp '2024-02-01' WHERE id <= 10",
        "INSERT INTO orders VALUES (1001, 1.00, timestamp '2024-02-02')",
    )
    outcome = job.ok()
    assert relayed(job)
    assert outcome.tasks[0].rows_read == 12  # the changed rows, and the one at the cursor
    assert outcome.tasks[0].rows_written == 11  # the one at the cursor, read again, is no write
    assert job.states["t0"]["cursor"] == {"timestamp": "2024-02-02T00:00:00"}
    everything = "SELECT * FROM orders ORDER BY id"
    assert sql(destination, everything) == sql(source, everything)


SLOW_VIEW = (
    "CREATE FUNCTION slow(i integer, pause float8) RETURNS integer LANGUAGE sql AS"
    " 'SELECT i FROM pg_sleep(pause)'",
    "CREATE VIEW trickle AS SELECT slow(i, 0.002) AS id FROM generate_series(1, 2500) i",
    "CREATE VIEW silent AS SELECT slow(i, 30) AS id FROM generate_series(1, 1) i",
)


def test_cancel_during_a_relay_keeps_nothing(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(source, *SLOW_VIEW)
    sql(destination, "CREATE TABLE trickle (id integer)", "INSERT INTO trickle VALUES (7)")
    job = Job(source, destination, ["REPLICATE [trickle]"], job_type="standard")
    cancel = threading.Event()
    copying = (
        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database()"
        " AND query LIKE 'COPY%' AND pid <> pg_backend_pid()"
    )

    def cancel_once_copying() -> None:  # not at a fixed moment: a loaded machine starts late
        deadline = time.monotonic() + 60
        while not sql(destination, copying) and time.monotonic() < deadline:
            time.sleep(0.05)
        cancel.set()

    threading.Thread(target=cancel_once_copying, daemon=True).start()
    outcome = job.run(full=True, cancel=cancel)
    assert outcome.status.value == "canceled"
    assert relayed(job)
    assert sql(destination, "SELECT id FROM trickle") == [(7,)]  # the old table is untouched
    assert tables(destination) == ["trickle"]
    assert_source_copy_stops(source, "trickle")


def test_a_silent_source_fails_after_command_timeout(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(source, *SLOW_VIEW)
    job = Job(source, destination, ["REPLICATE [silent]"], command_timeout=1)
    outcome = job.run()
    assert outcome.status.value == "error"
    assert "no rows for 1 s (command_timeout)" in str(outcome.error)
    assert tables(destination) == []


def test_a_source_failing_mid_stream_keeps_the_old_table(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(
        source,
        "CREATE VIEW broken AS SELECT i AS id, 100000 / (i - 90000) AS v FROM generate_series(1, 100000) i",
    )
    sql(
        destination,
        "CREATE TABLE broken (id integer, v integer)",
        "INSERT INTO broken VALUES (1, 1)",
    )
    job = Job(source, destination, ["REPLICATE [broken]"])
    outcome = job.run(full=True)
    assert outcome.status.value == "error"
    assert relayed(job)
    assert "division by zero" in str(outcome.error)
    assert sql(destination, "SELECT * FROM broken") == [(1, 1)]
    assert tables(destination) == ["broken"]


def test_parallel_parts_are_relayed_side_by_side(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(
        source,
        "CREATE TABLE wide (id bigint PRIMARY KEY, payload text)",
        "INSERT INTO wide SELECT i, repeat('x', 60) || i FROM generate_series(1, 150000) i",
        "VACUUM ANALYZE wide",
    )
    job = Job(source, destination, ["REPLICATE [wide]"], worker_pool=3)
    outcome = job.ok()
    assert relayed(job)
    assert job.last is not None
    assert any("3 partitions" in message for _, message, _ in job.last.lines)
    assert outcome.tasks[0].rows_written == 150000
    check = "SELECT count(*), sum(id), sum(length(payload)) FROM wide"
    assert sql(destination, check) == sql(source, check)
    assert sql(
        destination,
        "SELECT conname FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace",
    ) == [("wide_pkey",)]


def test_a_destination_lost_mid_relay_fails_the_run(servers: tuple[str, str]) -> None:
    source, destination = servers
    sql(source, *SLOW_VIEW)
    sql(destination, "CREATE TABLE trickle (id integer)", "INSERT INTO trickle VALUES (7)")
    database = destination.rsplit("/", 1)[1]
    kill = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        f" WHERE datname = '{database}' AND query LIKE 'COPY%'"
    )

    def terminate_the_copy() -> None:
        deadline = time.monotonic() + 10
        while not sql(destination, kill) and time.monotonic() < deadline:
            time.sleep(0.05)

    killer = threading.Timer(0.5, terminate_the_copy)
    killer.start()
    job = Job(source, destination, ["REPLICATE [trickle]"])
    outcome = job.run(full=True)
    killer.join()
    assert outcome.status.value == "error" and outcome.retryable
    assert "connection was lost while loading" in str(outcome.error)
    assert sql(destination, "SELECT id FROM trickle") == [(7,)]


def test_a_relay_asyncpg_cannot_open_falls_back_to_arrow(
    servers: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncpg

    async def refused(**_: Any) -> Any:
        raise ConnectionRefusedError("Connect call failed")

    monkeypatch.setattr(asyncpg, "connect", refused)
    source, destination = servers
    sql(source, f"CREATE TABLE exact ({EXACT_TYPES})", EXACT_ROWS)
    job = Job(source, destination, ["REPLICATE [exact]"])
    job.ok()
    assert job.last is not None
    assert any(
        level == "warning" and "asyncpg could not connect (Connect call failed)" in message
        for level, message, _ in job.last.lines
    )
    everything = "SELECT exact::text FROM exact ORDER BY id"
    assert sql(destination, everything) == sql(source, everything)
    assert tables(destination) == ["exact"]


def test_a_copy_the_destination_refuses_fails_without_reading_the_rest(
    servers: tuple[str, str],
) -> None:
    """The destination ends a COPY it refuses; the relay stops feeding it at once (a source
    that would run for days ends with the run, not after)."""
    source, destination = servers
    sql(
        source,
        SLOW_VIEW[0],
        "CREATE VIEW endless AS SELECT CASE WHEN i = 3 THEN NULL ELSE i END AS id,"
        " slow(i, 0.001) AS n FROM (SELECT generate_series(1, 1000000000) AS i) AS s",
    )
    job = Job(
        source, destination, ["REPLICATE [endless] (PRIMARY KEY(id)) SELECT * FROM [endless]"]
    )
    outcome = job.run(full=True)
    assert relayed(job)
    assert outcome.status.value == "error"
    assert "null value" in str(outcome.error) and "id" in str(outcome.error)
    assert tables(destination) == []
    assert_source_copy_stops(source, "endless")
