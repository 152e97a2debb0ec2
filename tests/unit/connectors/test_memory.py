"""The memory fake: shared by URL, honest about keys and types, and able to run SQL."""

from __future__ import annotations

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.registry import open_connector
from conveyor.errors import ConfigurationError, DataError, TableNotFound
from conveyor.policy import StatementRefused
from conveyor.testing import MemoryConnector, memory_tables, put_table, reset_memory
from tests.unit.connectors.conftest import Land, load, read_table


def test_connectors_on_one_url_share_tables() -> None:
    first, second = open_connector("memory://shared"), MemoryConnector("memory://shared")
    load(first, "t", pa.table({"a": [1, 2]}))
    assert read_table(second, "t").num_rows == 2
    assert not MemoryConnector("memory://other").table_exists(TableRef("t"))
    assert memory_tables("shared")["t"].num_rows == 2
    reset_memory("shared")
    assert memory_tables("shared") == {}


def test_seeding_a_source() -> None:
    data = pa.table(
        {"id": pa.array([1, 2], pa.int64()), "big": pa.array(["x", "y"], pa.large_string())}
    )
    put_table("src", "items", data, primary_key=["id"], schema="shop")
    conn = MemoryConnector("memory://src")
    assert [c.primary_key for c in conn.columns(TableRef("items", "shop"))] == [True, False]
    result = conn.read('SELECT "big" FROM "shop"."items" WHERE "id" = 2', 10).read_all()
    assert result.schema.field("big").type == pa.large_string()  # stored type kept
    assert memory_tables("src")["shop.items"].equals(data)


def test_keys_are_enforced() -> None:
    conn = MemoryConnector("memory://keys")
    ref = load(conn, "t", pa.table({"k": pa.array([1], pa.int64())}), primary_key=("k",))
    for rows in ([1], [None]):
        writer = conn.open_writer(ref, pa.schema([("k", pa.int64())]))
        writer.write(pa.record_batch({"k": pa.array(rows, pa.int64())}))
        with pytest.raises(DataError):
            writer.close()
    with pytest.raises(ConfigurationError):
        load(conn, "t", pa.table({"k": [1]}))


def test_a_writer_to_a_dropped_table() -> None:
    conn = MemoryConnector("memory://dropped")
    ref = load(conn, "t", pa.table({"a": [1]}))
    writer = conn.open_writer(ref, pa.schema([("a", pa.int64())]))
    conn.drop_table(ref)
    with pytest.raises(TableNotFound):
        writer.close()


def test_execute_changes_tables_and_keeps_their_types() -> None:
    conn = MemoryConnector("memory://sql")
    data = pa.table(
        {"k": pa.array([1, 2, 3], pa.int32()), "v": pa.array(["a", "b", "c"], pa.large_string())}
    )
    load(conn, "t", data, primary_key=("k",))
    assert conn.execute('UPDATE "t" SET "v" = \'z\' WHERE "k" >= 2') == 2
    assert conn.execute('CREATE TABLE "copy" AS SELECT * FROM "t" WHERE "k" = 1') == 1
    tables = memory_tables("sql")
    assert tables["t"].schema.types == data.schema.types
    assert tables["t"].column("v").to_pylist() == ["a", "z", "z"]
    assert tables["copy"].num_rows == 1
    assert [c.primary_key for c in conn.columns(TableRef("t"))] == [True, False]
    conn.execute('DROP TABLE "copy"')
    assert "copy" not in memory_tables("sql")


def test_sql_reaches_no_file_without_external_access(land: Land) -> None:
    conn = MemoryConnector("memory://closed", reach=land.reach)
    load(conn, "t", pa.table({"a": [1]}))
    steal = f"SELECT content FROM read_text('{land.key}')"
    with pytest.raises(StatementRefused, match="allow_external_access"):
        conn.read(steal, 10).read_all()
    with pytest.raises(StatementRefused):
        conn.execute(f"COPY t TO '{land.allowed}/out.csv'")
    assert conn.execute('UPDATE "t" SET "a" = 2') == 1
    opened = MemoryConnector("memory://closed", reach=land.trusted)
    opened.execute(f"COPY t TO '{land.allowed}/out.csv'")
    assert (land.allowed / "out.csv").read_text().splitlines() == ["a", "2"]
