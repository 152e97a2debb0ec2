"""SQLite specifics: URLs, missing and foreign files, declared types, and honest errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef, TableSchema
from conveyor.connectors.sqlite.connector import SQLiteConnector, parse_url
from conveyor.connectors.sqlite.options import SQLiteOptions
from conveyor.errors import ConfigurationError, DataError, InvalidInput, SourceUnavailable
from tests.unit.connectors.conftest import load, read_table


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.db", "relative.db"),
        ("sqlite:///dir/relative.db", "dir/relative.db"),
        ("sqlite:////abs/path.db", "/abs/path.db"),
        ("sqlite+adbc:////abs/path.db", "/abs/path.db"),
    ],
)
def test_url_forms(url: str, path: str) -> None:
    assert parse_url(url) == path


@pytest.mark.parametrize(
    "url", ["sqlite://host/x.db", "sqlite:///", "sqlite:///:memory:", "pg:///x"]
)
def test_bad_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        parse_url(url)


@pytest.mark.parametrize("create", [False, True])
def test_a_missing_source_file_is_not_found_by_test_tables_and_reads(
    tmp_path: Path, create: bool
) -> None:
    path = tmp_path / "missing.db"
    source = SQLiteConnector(f"sqlite:///{path}", SQLiteOptions(create=create))
    for attempt in (
        source.test,
        source.list_tables,
        lambda: source.columns(TableRef("orders")),
        lambda: source.read("SELECT * FROM orders", 10),
    ):
        with pytest.raises(SourceUnavailable, match=f"SQLite database file '{path}' not found"):
            attempt()
    assert source.table_exists(TableRef("orders")) is False  # a destination's check
    if not create:
        with pytest.raises(SourceUnavailable, match="not found"):
            source.create_table(
                TableRef("t"), TableSchema.from_arrow(pa.schema([("a", pa.int64())]))
            )
    assert not path.exists()


def test_a_missing_destination_file_is_created_on_first_write(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    destination = SQLiteConnector(f"sqlite:///{path}")
    with pytest.raises(SourceUnavailable, match="created by the first write"):
        destination.test()
    assert not path.exists()
    load(destination, "t", pa.table({"a": [1]}))
    assert path.exists()
    assert path.read_bytes()[18:20] == b"\x02\x02"  # WAL mode
    destination.test()


def test_a_missing_destination_folder_is_created_on_first_write(tmp_path: Path) -> None:
    path = tmp_path / "new" / "deeper" / "new.db"
    destination = SQLiteConnector(f"sqlite:///{path}")
    load(destination, "t", pa.table({"a": [1]}))
    assert path.exists()
    assert [t.as_dict()["schema"] for t in destination.list_tables()] == ["main"]


def test_a_missing_folder_is_not_created_without_create(tmp_path: Path) -> None:
    path = tmp_path / "new" / "new.db"
    source = SQLiteConnector(f"sqlite:///{path}", SQLiteOptions(create=False))
    with pytest.raises(SourceUnavailable, match="not found"):
        source.create_table(TableRef("t"), TableSchema.from_arrow(pa.schema([("a", pa.int64())])))
    assert not path.parent.exists()


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database, just some text" * 100)
    with pytest.raises(DataError, match="not a readable SQLite database"):
        SQLiteConnector(f"sqlite:///{path}").test()


def test_only_the_main_schema(tmp_path: Path) -> None:
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/x.db")
    conn.ensure_schema("main")
    with pytest.raises(ConfigurationError):
        conn.create_table(
            TableRef("t", "other"), TableSchema.from_arrow(pa.schema([("a", pa.int64())]))
        )


@pytest.fixture
def legacy(tmp_path: Path) -> SQLiteConnector:
    """A database written by another tool: declared types SQLite does not enforce."""
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/legacy.db")
    conn.execute(
        "CREATE TABLE legacy (id INTEGER PRIMARY KEY, price DECIMAL(10,2), at DATETIME,"
        " loose, amount NUMERIC, label VARCHAR(20), ok BOOLEAN, day DATE,"
        " zoned TIMESTAMPTZ, ratio DOUBLE, data BLOB, doc JSON)"
    )
    assert (
        conn.execute(
            "INSERT INTO legacy VALUES"
            " (1, 19.99, '2024-01-02 03:04:05', 7, 5, 'a', 1, '2024-01-02',"
            "  '2024-01-02T03:04:05+02:00', 2, x'00ff', '{\"a\": 1}'),"
            " (2, '0.10', '2024-01-02T03:04:05.123456', NULL, NULL, NULL, 'false',"
            "  '2024-01-03 00:00:00',"
            "  '2024-01-02 03:04:05', 0.5, NULL, NULL),"
            " (3, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL)"
        )
        == 3
    )
    return conn


def test_declared_types_become_exact_arrow_types(legacy: SQLiteConnector) -> None:
    result = read_table(legacy, "legacy", order_by="id")
    assert result.schema == pa.schema(
        [
            ("id", pa.int64()),
            ("price", pa.decimal128(10, 2)),
            ("at", pa.timestamp("us")),
            ("loose", pa.int64()),  # no declared type: typeof() of the first value
            ("amount", pa.int64()),  # bare NUMERIC: probed too
            ("label", pa.string()),
            ("ok", pa.bool_()),
            ("day", pa.date32()),
            ("zoned", pa.timestamp("us", "UTC")),
            ("ratio", pa.float64()),
            ("data", pa.binary()),
            ("doc", pa.string()),
        ]
    )
    rows = result.to_pylist()
    assert rows[0]["price"] == Decimal("19.99")
    assert rows[1]["price"] == Decimal("0.10")
    assert rows[0]["at"] == dt.datetime(2024, 1, 2, 3, 4, 5)
    assert rows[1]["at"] == dt.datetime(2024, 1, 2, 3, 4, 5, 123456)
    assert rows[0]["zoned"] == dt.datetime(2024, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert rows[1]["zoned"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)  # no zone: UTC
    assert [r["ok"] for r in rows] == [True, False, False]
    assert [r["day"] for r in rows] == [dt.date(2024, 1, 2), dt.date(2024, 1, 3), None]
    assert rows[0]["ratio"] == 2.0 and rows[0]["data"] == b"\x00\xff"


def test_columns_report_declared_types_and_keys(legacy: SQLiteConnector) -> None:
    columns = {c.name: c for c in legacy.columns(TableRef("legacy"))}
    assert columns["id"].primary_key and not columns["id"].nullable
    assert columns["price"].native_type == "DECIMAL(10,2)"
    assert columns["price"].type == pa.decimal128(10, 2)
    assert not columns["price"].primary_key


def test_arithmetic_on_a_decimal_column_reads_as_the_decimal_it_stands_for(
    tmp_path: Path,
) -> None:
    """SQLite stores 15.01 + 1 as the double 16.009999999999998: that is 16.01, not an error."""
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/sums.db")
    conn.execute("CREATE TABLE sums (id INTEGER, amount DECIMAL(16,2))")
    conn.execute("INSERT INTO sums VALUES (1, 15.01), (2, '123456789012.34'), (3, 0.1)")
    conn.execute("UPDATE sums SET amount = amount + 1 WHERE id <> 2")
    conn.execute("UPDATE sums SET amount = amount + 0.2 WHERE id = 3")
    rows = read_table(conn, "sums", order_by="id").column("amount").to_pylist()
    assert rows == [Decimal("16.01"), Decimal("123456789012.34"), Decimal("1.30")]


@pytest.mark.parametrize(
    ("column", "declared", "value"),
    [
        ("n", "INTEGER", "'abc'"),
        ("n", "INTEGER", "1.5"),
        ("d", "DECIMAL(5,2)", "'12.345'"),
        ("d", "DECIMAL(5,2)", "'lots'"),
        ("d", "DECIMAL(5,2)", "1.005"),  # a double with more digits than the scale keeps
        ("day", "DATE", "'not a date'"),
        ("at", "TIMESTAMP", "'yesterday-ish'"),
        ("flag", "BOOLEAN", "'maybe'"),
    ],
)
def test_values_that_do_not_convert_name_table_column_and_value(
    tmp_path: Path, column: str, declared: str, value: str
) -> None:
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/bad.db")
    conn.execute(f'CREATE TABLE "odd one" (id INTEGER, "{column}" {declared})')
    conn.execute(f'INSERT INTO "odd one" VALUES (1, NULL), (2, {value})')
    with pytest.raises(DataError) as caught:
        read_table(conn, "odd one")
    message = str(caught.value)
    assert "odd one" in message and column in message
    assert value.strip("'") in message


def test_arrow_types_sqlite_cannot_hold_are_stored_faithfully(tmp_path: Path) -> None:
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/wide.db")
    data = pa.table(
        {
            "small": pa.array([1, None], pa.int8()),
            "huge": pa.array([2**64 - 1, 0], pa.uint64()),
            "single": pa.array([0.5, None], pa.float32()),
            "nanos": pa.array([1, None], pa.timestamp("ns")),
            "paris": pa.array(
                [dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC), None],
                pa.timestamp("us", "Europe/Paris"),
            ),
            "words": pa.array(["a", None]).dictionary_encode(),
            "large": pa.array(["b", None], pa.large_string()),
            "nested": pa.array([[1, 2], None], pa.list_(pa.int64())),
            "clock": pa.array([dt.time(1, 2, 3), None], pa.time32("s")),
        }
    )
    load(conn, "wide", data)
    result = read_table(conn, "wide").drop_columns(["nanos"]).to_pylist()
    assert result[0] == {
        "small": 1,
        "huge": Decimal(2**64 - 1),
        "single": 0.5,
        "paris": dt.datetime(2020, 1, 1, 12, tzinfo=dt.UTC),
        "words": "a",
        "large": "b",
        "nested": "[1,2]",
        "clock": dt.time(1, 2, 3),
    }
    again = read_table(conn, "wide")
    assert again.column("nanos").equals(data.column("nanos"))
    assert again.schema.field("huge").type == pa.decimal128(20, 0)


def test_execute_reports_changed_rows(tmp_path: Path) -> None:
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/x.db")
    load(conn, "t", pa.table({"a": pa.array([1, 2, 3], pa.int64())}))
    assert conn.execute('UPDATE "t" SET "a" = "a" + 1 WHERE "a" > 1') == 2


def test_a_writer_and_a_reader_on_the_same_file_at_once(tmp_path: Path) -> None:
    conn = SQLiteConnector(f"sqlite:///{tmp_path}/busy.db")
    ref = load(conn, "t", pa.table({"a": pa.array(range(5000), pa.int64())}))
    reader = conn.read('SELECT * FROM "t"', 100)
    first = reader.read_next_batch()
    writer = conn.open_writer(ref, pa.schema([("a", pa.int64())]))
    writer.write(pa.record_batch({"a": pa.array([-1], pa.int64())}))
    writer.close()
    assert first.num_rows + sum(b.num_rows for b in reader) == 5000
    assert read_table(conn, "t").num_rows == 5001
