"""PostgreSQL specifics: split reads, merges through ON CONFLICT, SQL execution, swaps."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from conveyor.connectors import sql
from conveyor.connectors.base import Partitionable, SqlExecutor, TableRef, TableSchema
from conveyor.connectors.registry import open_connector
from conveyor.errors import ConveyorError, DataError
from tests.services import fresh_pg_database
from tests.unit.connectors.conftest import load, load_through_engine, read_table


@pytest.fixture
def pg() -> Iterator[Any]:
    with fresh_pg_database() as url:
        conn = open_connector(url)
        yield conn
        conn.close()


def _read_all(conn: Any, queries: list[str]) -> pa.Table:
    return pa.concat_tables(conn.read(q, 50_000).read_all() for q in queries)


def test_partitions_of_a_plain_table_cover_every_row_once(pg: Any) -> None:
    assert isinstance(pg, Partitionable)
    pg.execute(
        "CREATE TABLE wide AS SELECT i AS id, repeat('x', 40) || i AS payload"
        " FROM generate_series(1, 250000) i"
    )
    pg.execute("DELETE FROM wide WHERE id % 7 = 0")  # holes in the pages
    pg.execute("ANALYZE wide")
    query = sql.select_sql(TableRef("wide"), None, "postgres")
    parts = pg.partitions(TableRef("wide"), query, 4)
    assert len(parts) == 4 and all("ctid" in p for p in parts)
    ids = _read_all(pg, parts).column("id")
    assert len(ids) == 250000 - 250000 // 7
    assert pc.count_distinct(ids).as_py() == len(ids)
    assert (
        pc.sum(ids).as_py() == pg.read("SELECT sum(id) AS s FROM wide", 10).read_all()[0][0].as_py()
    )
    assert pg.partitions(TableRef("wide"), query, 1) == [query]


def test_partitions_of_a_partitioned_table_split_its_integer_key(pg: Any) -> None:
    pg.execute("CREATE TABLE parted (id bigint PRIMARY KEY, v text) PARTITION BY RANGE (id)")
    pg.execute("CREATE TABLE parted_a PARTITION OF parted FOR VALUES FROM (0) TO (60000)")
    pg.execute("CREATE TABLE parted_b PARTITION OF parted FOR VALUES FROM (60000) TO (200000)")
    pg.execute("INSERT INTO parted SELECT i, 'v' || i FROM generate_series(1, 150000) i")
    query = sql.select_sql(TableRef("parted"), None, "postgres")
    parts = pg.partitions(TableRef("parted"), query, 3)
    assert len(parts) == 3
    ids = _read_all(pg, parts).column("id")
    assert len(ids) == 150000 and pc.count_distinct(ids).as_py() == 150000
    assert TableRef("parted_a") not in {t.ref for t in pg.list_tables()}  # partitions hidden


def test_small_tables_are_not_split(pg: Any) -> None:
    load(pg, "small", pa.table({"id": pa.array(range(100), pa.int64())}), primary_key=("id",))
    query = sql.select_sql(TableRef("small"), None, "postgres")
    assert pg.partitions(TableRef("small"), query, 8) == [query]


def test_merge_uses_on_conflict_when_the_key_is_unique(
    pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "v": ["a", "b", "c"]})
    load(pg, "target", data, primary_key=("id",))
    ran: list[str] = []
    run = pg.execute_in_transaction

    def recorded(statements: list[str]) -> list[int]:
        ran.extend(statements)
        return run(statements)  # type: ignore[no-any-return]

    monkeypatch.setattr(pg, "execute_in_transaction", recorded)
    staged = pa.table({"id": pa.array([3, 4], pa.int64()), "v": ["C", "D"]})
    assert load_through_engine(pg, "target", staged, ["id"]) == 2
    assert [s.split(" ", 1)[0] for s in ran] == ["INSERT"]
    assert 'ON CONFLICT("id") DO UPDATE' in ran[0]
    assert read_table(pg, "target", "id").column("v").to_pylist() == ["a", "b", "C", "D"]


def test_execute_in_transaction_is_all_or_nothing(pg: Any) -> None:
    assert isinstance(pg, SqlExecutor)
    pg.execute("CREATE TABLE counted (n int)")
    assert pg.execute("INSERT INTO counted SELECT generate_series(1, 5)") == 5
    assert pg.execute_in_transaction(
        ["DELETE FROM counted WHERE n > 3", "UPDATE counted SET n = 0"]
    ) == [2, 3]
    with pytest.raises(Exception, match="nope"):
        pg.execute_in_transaction(["DELETE FROM counted", "SELECT nope FROM counted"])
    assert read_table(pg, "counted").num_rows == 3


def test_replace_keeps_the_primary_key_named_after_the_target(pg: Any) -> None:
    data = pa.table({"id": pa.array([1], pa.int64())})
    for _ in range(3):  # the same staging name again and again: constraint names never clash
        load(pg, "_conveyor_stage_t", data, primary_key=("id",))
        pg.replace_table(TableRef("_conveyor_stage_t"), TableRef("t"))
    names = pg._query("SELECT conname FROM pg_constraint WHERE conrelid = 't'::regclass")
    assert names == [("t_pkey",)]


def test_schemas_and_staging_in_another_schema(pg: Any) -> None:
    pg.ensure_schema("Mixed Case")
    target = TableRef("t", "Mixed Case")
    load(pg, TableRef("_conveyor_stage_t"), pa.table({"id": pa.array([1, 2], pa.int64())}))
    pg.replace_table(TableRef("_conveyor_stage_t"), target)
    assert pg.table_exists(target) and not pg.table_exists(TableRef("_conveyor_stage_t"))
    assert pg.estimate_rows(target) in (None, 2)
    assert read_table(pg, target).num_rows == 2


def test_abort_mid_stream_keeps_nothing_and_restores_the_key(pg: Any) -> None:
    data = pa.table({"id": pa.array(range(1000), pa.int64()), "v": ["x"] * 1000})
    pg.create_table(TableRef("half"), TableSchema.from_arrow(data.schema, ("id",)))
    writer = pg.open_writer(TableRef("half"), data.schema)
    for batch in data.to_batches(max_chunksize=100)[:3]:
        writer.write(batch)
    writer.abort()
    assert read_table(pg, "half").num_rows == 0
    assert [c.primary_key for c in pg.columns(TableRef("half"))] == [True, False]


def test_duplicate_keys_fail_the_load(pg: Any) -> None:
    from conveyor.errors import DataError

    data = pa.table({"id": pa.array([1, 1], pa.int64())})
    pg.create_table(TableRef("dup"), TableSchema.from_arrow(data.schema, ("id",)))
    writer = pg.open_writer(TableRef("dup"), data.schema)
    writer.write(data.to_batches()[0])
    with pytest.raises(DataError):
        writer.close()


def test_connections_are_reused_only_after_a_clean_finish(pg: Any) -> None:
    """A read stopped half-way or failed never hands its connection to the next read."""
    pg.execute("CREATE TABLE n AS SELECT i FROM generate_series(1, 100000) i")
    pid = "SELECT pg_backend_pid() AS pid"
    first = pg.read(pid, 10).read_all().column(0)[0].as_py()
    assert pg.read(pid, 10).read_all().column(0)[0].as_py() == first  # kept and reused
    stopped = pg.read("SELECT i FROM n", 1000)
    stopped.read_next_batch()
    stopped.close()  # abandoned mid-COPY: that connection is closed, not kept
    with pytest.raises(ConveyorError):
        pg.read("SELECT 1 / 0 AS x", 10).read_all()
    assert pg.read("SELECT count(*) AS c FROM n", 10).read_all().column(0)[0].as_py() == 100000


def test_short_numerics_read_exactly_as_scaled_integers(pg: Any) -> None:
    """numeric(p ≤ 18, s) travels as value × 10^s in an int8 and lands as decimal128(p, s)."""
    pg.execute(
        "CREATE TABLE n (id int, a numeric(18,0), b numeric(18,18), c numeric(4,2), d numeric(3,0))"
    )
    pg.execute(
        "INSERT INTO n VALUES (1, 999999999999999999, 0.000000000000000001, -12.34, NULL),"
        " (2, -999999999999999999, -0.999999999999999999, 99.99, -999)"
    )
    got = pg.read("SELECT * FROM n ORDER BY id", 1).read_all()
    assert [str(t) for t in got.schema.types[1:]] == [
        "decimal128(18, 0)",
        "decimal128(18, 18)",
        "decimal128(4, 2)",
        "decimal128(3, 0)",
    ]
    assert got.to_pylist() == [
        {
            "id": 1,
            "a": Decimal(10**18 - 1),
            "b": Decimal("1E-18"),
            "c": Decimal("-12.34"),
            "d": None,
        },
        {
            "id": 2,
            "a": Decimal(1 - 10**18),
            "b": Decimal("-0.999999999999999999"),
            "c": Decimal("99.99"),
            "d": Decimal(-999),
        },
    ]
    pg.execute("INSERT INTO n (id, c) VALUES (3, 'NaN')")
    with pytest.raises(DataError, match="NaN or infinite"):
        pg.read("SELECT c FROM n", 10).read_all()
