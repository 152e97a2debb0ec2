"""DuckDB specifics: URLs, exact native types, keys, and SQL execution."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.duckdb.connector import DuckDBConnector, parse_url
from conveyor.errors import ConfigurationError, DataError, InvalidInput
from tests.unit.connectors.conftest import load, read_table


def test_url_forms() -> None:
    assert parse_url("duckdb:///rel.duckdb") == "rel.duckdb"
    assert parse_url("duckdb:////abs/x.duckdb") == "/abs/x.duckdb"
    assert parse_url("duckdb:///:memory:") == ":memory:"
    with pytest.raises(InvalidInput):
        parse_url("duckdb://host/x")


def test_native_types_round_trip_exactly(tmp_path: Path) -> None:
    conn = DuckDBConnector(f"duckdb:///{tmp_path}/x.duckdb")
    data = pa.table(
        {
            "i8": pa.array([1, None], pa.int8()),
            "u64": pa.array([2**64 - 1, 0], pa.uint64()),
            "f32": pa.array([0.5, None], pa.float32()),
            "s": pa.array([1, None], pa.timestamp("s")),
            "ns": pa.array([1, None], pa.timestamp("ns")),
            "nested": pa.array([[1, 2], None], pa.list_(pa.int64())),
            "record": pa.array([{"a": 1, "b": "x"}, None]),
        }
    )
    load(conn, "t", data)
    result = read_table(conn, "t")
    for field in data.schema:
        assert result.column(field.name).equals(data.column(field.name)), field.name


def test_wide_decimals_are_kept_as_exact_text(tmp_path: Path) -> None:
    conn = DuckDBConnector(f"duckdb:///{tmp_path}/x.duckdb")
    value = Decimal("1234567890123456789012345678901234567890.5")
    load(conn, "t", pa.table({"d": pa.array([value], pa.decimal256(50, 1))}))
    assert read_table(conn, "t").column("d").to_pylist() == [str(value)]


def test_zoned_timestamps_read_back_in_utc(tmp_path: Path) -> None:
    conn = DuckDBConnector(f"duckdb:///{tmp_path}/x.duckdb")
    moment = dt.datetime(2024, 6, 1, 12, tzinfo=dt.UTC)
    load(conn, "t", pa.table({"at": pa.array([moment], pa.timestamp("us", "Europe/Paris"))}))
    result = read_table(conn, "t")
    assert result.schema.field("at").type == pa.timestamp("us", "UTC")
    assert result.column("at").to_pylist() == [moment]


def test_columns_and_execute(tmp_path: Path) -> None:
    conn = DuckDBConnector(f"duckdb:///{tmp_path}/x.duckdb")
    load(conn, "t", pa.table({"k": pa.array([1, 2, 3], pa.int64()), "v": ["a", "b", "c"]}), ("k",))
    columns = conn.columns(TableRef("t"))
    assert [(c.name, c.native_type, c.primary_key, c.nullable) for c in columns] == [
        ("k", "BIGINT", True, False),
        ("v", "VARCHAR", False, True),
    ]
    assert conn.execute('DELETE FROM "t" WHERE "k" > 1') == 2
    assert conn.execute('CREATE VIEW "v" AS SELECT * FROM "t"') == -1
    assert {(t.ref.name, t.kind) for t in conn.list_tables()} == {("t", "table"), ("v", "view")}


def test_a_statement_is_not_a_query(tmp_path: Path) -> None:
    conn = DuckDBConnector(f"duckdb:///{tmp_path}/x.duckdb")
    with pytest.raises(ConfigurationError):
        conn.read("SELEC nonsense", 10)


def test_in_memory_database() -> None:
    conn = DuckDBConnector("duckdb:///:memory:")
    load(conn, "t", pa.table({"a": [1]}))
    assert read_table(conn, "t").num_rows == 1
    conn.close()


def test_keys_are_kept_without_an_index_unless_constraints_are_asked_for(tmp_path: Path) -> None:
    """By default a key is NOT NULL columns marked in their comment (DuckDB then keeps no
    ART index to update on every merge); `primary_key_constraints` makes it a constraint."""
    from conveyor.connectors.duckdb.options import DuckDBOptions

    data = pa.table({"k": pa.array([1, 2], pa.int64()), "v": ["a", "b"]})
    plain = DuckDBConnector(f"duckdb:///{tmp_path}/plain.duckdb")
    plain.ensure_schema("s p")
    load(plain, TableRef("t", "s p"), data, ("k",))
    assert [c.primary_key for c in plain.columns(TableRef("t", "s p"))] == [True, False]
    assert plain._run(
        "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
    ) == [(0,)]
    assert plain.execute('INSERT INTO "s p"."t" VALUES (1, \'again\')') == 1  # not enforced

    strict = DuckDBConnector(
        f"duckdb:///{tmp_path}/strict.duckdb", DuckDBOptions(primary_key_constraints=True)
    )
    load(strict, "t", data, ("k",))
    assert [c.primary_key for c in strict.columns(TableRef("t"))] == [True, False]
    with pytest.raises(DataError):
        strict.execute("INSERT INTO \"t\" VALUES (1, 'again')")
