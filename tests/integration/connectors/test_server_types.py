"""No silent conversions: each server's common types survive PG → MariaDB → PG and back.

A table declared with the server's own types is read through its connector, loaded into
the other server (tables created from the Arrow schema, as the engine does), loaded back
into the first, and read again: every value must be identical. Types may widen where the
other server has no exact counterpart (TINYINT → SMALLINT, BIGINT UNSIGNED → NUMERIC(20,0),
jsonb → text), never narrow or round.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef, TableSchema, iterate_batches
from conveyor.connectors.registry import open_connector
from tests.services import fresh_mysql_database, fresh_pg_database, mysql_admin, mysql_url

PG_TABLE = """
CREATE TABLE every_type (
    id integer PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision,
    n10 numeric(10, 2), n50 numeric(50, 20), n numeric, flag boolean, t text,
    vc varchar(20), ch char(4), blob bytea, day date, clock time, at timestamp,
    at_tz timestamptz, doc jsonb, js json, uid uuid, tags text[]
)"""
PG_ROWS = """
INSERT INTO every_type VALUES
 (1, -32768, -2147483648, -9223372036854775808, 1.5, 1e300, -12345678.91,
  123456789012345678901234567890.12345678901234567890, 3.141592653, true,
  E'tab\\t nl\\n back\\\\ quote'' "dq" é 😀', 'varchar', 'ab', '\\x00ff5c0a09'::bytea,
  '0001-01-01', '23:59:59.999999', '2024-02-29 23:59:59.999999',
  '2024-02-29 23:59:59.999999+02', '{"a": [1, 2], "b": null}', '{"x":1}',
  '123e4567-e89b-12d3-a456-426614174000', '{a,"b c"}'),
 (2, 32767, 2147483647, 9223372036854775807, -0.1, -2.5e-300, 0.01, -0.00000000000000000001,
  -99999999999999999999999999999.999999999, false, '', '\\N', 'NULL', '', '9999-12-31',
  '00:00:00', '1970-01-01 00:00:00', '1900-01-01 00:00:00+00', '[]', '"s"',
  '00000000-0000-0000-0000-000000000000', '{}'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL)
"""

MARIADB_TABLE = """
CREATE TABLE every_type (
    id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, su SMALLINT UNSIGNED,
    mi MEDIUMINT, mu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, bu BIGINT UNSIGNED,
    flag BOOLEAN, b1 BIT(1), b12 BIT(12), f FLOAT, d DOUBLE, d10 DECIMAL(10, 2),
    d65 DECIMAL(65, 30), day DATE, at DATETIME(6), ts TIMESTAMP(6) NULL, clock TIME(6),
    yr YEAR, ch CHAR(4), vc VARCHAR(50), tx TEXT, lt LONGTEXT, bn BINARY(3), vb VARBINARY(8),
    bl BLOB, doc JSON, color ENUM('red', 'green'), opts SET('x', 'y')
) DEFAULT CHARSET = utf8mb4"""
MARIADB_ROWS = r"""
INSERT INTO every_type VALUES
 (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
  -9223372036854775808, 18446744073709551615, 1, b'1', b'101010101010', 1.5, 1e300,
  -12345678.91, 12345678901234567890123456789012345.123456789012345678901234567890,
  '1000-01-01', '2024-02-29 23:59:59.999999', '2038-01-19 03:14:07.999999',
  '23:59:59.999999', 2024, 'ab', 'héllo 😀', 'tab\t nl\n back\\ quote'' "dq"', 'long',
  0x00FF5C, 0x0A09, 0x0001FF, '{"a": [1, 2]}', 'green', 'x,y'),
 (2, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 0, 0, b'0',
  b'0', -0.1, -2.5e-300, 0.01, -0.000000000000000000000000000001, '9999-12-31',
  '1970-01-01 00:00:00', '1970-01-01 00:00:01', '00:00:00', 1901, '', '\\N', 'NULL', '',
  0x000000, X'', X'', '[]', 'red', ''),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL)
"""


@pytest.fixture
def pg() -> Iterator[Any]:
    with fresh_pg_database() as url:
        conn = open_connector(url)
        yield conn
        conn.close()


@pytest.fixture
def maria() -> Iterator[Any]:
    with fresh_mysql_database() as name:
        conn = open_connector(mysql_url(name))
        yield conn
        conn.close()


def read(conn: Any, table: str) -> pa.Table:
    from conveyor.connectors import sql

    query = (
        sql.select_sql(TableRef(table), None, conn.dialect)
        + " ORDER BY "
        + sql.quote("id", conn.dialect)
    )
    reader = conn.read(query, 2)
    return pa.Table.from_batches(list(iterate_batches(reader)), schema=reader.schema)


def copy(data: pa.Table, conn: Any, table: str) -> None:
    """Load rows into a new table created from their Arrow schema, as the engine does."""
    conn.create_table(TableRef(table), TableSchema.from_arrow(data.schema, ("id",)))
    writer = conn.open_writer(TableRef(table), data.schema)
    for batch in data.to_batches(max_chunksize=2):
        writer.write(batch)
    writer.close()


def assert_same_values(got: pa.Table, want: pa.Table) -> None:
    assert got.column_names == want.column_names
    for name in want.column_names:
        assert got.column(name).to_pylist() == want.column(name).to_pylist(), name


def test_postgres_types_round_trip_through_mariadb(pg: Any, maria: Any) -> None:
    pg.execute(PG_TABLE)
    pg.execute(PG_ROWS)
    original = read(pg, "every_type")
    assert original.schema.field("n10").type == pa.decimal128(10, 2)
    assert original.schema.field("n50").type == pa.decimal256(50, 20)
    assert original.schema.field("n").type == pa.decimal128(38, 9)
    assert original.schema.field("at_tz").type == pa.timestamp("us", "UTC")
    assert original.column("n").to_pylist()[0] == Decimal("3.141592653")

    copy(original, maria, "every_type")
    there = read(maria, "every_type")
    expected = original.set_column(
        original.schema.get_field_index("tags"),
        "tags",
        pa.array(['["a","b c"]', "[]", None]),
    )
    assert_same_values(there, expected)
    copy(there, pg, "back")
    assert_same_values(read(pg, "back"), expected)
    kept = {f.name: f.type for f in read(pg, "back").schema}
    for name in ("n10", "n50", "at", "at_tz", "clock", "day", "blob", "i2", "i4", "i8", "f4"):
        assert kept[name] == original.schema.field(name).type, name


def test_mariadb_types_round_trip_through_postgres(pg: Any, maria: Any) -> None:
    maria.execute(MARIADB_TABLE)
    maria.execute(MARIADB_ROWS)
    original = read(maria, "every_type")
    types = {f.name: f.type for f in original.schema}
    assert types["bu"] == pa.uint64() and types["tu"] == pa.uint8()
    assert types["d65"] == pa.decimal256(65, 30) and types["d10"] == pa.decimal128(10, 2)
    assert types["flag"] == pa.bool_() and types["b1"] == pa.bool_()
    assert types["b12"] == pa.int64() and types["clock"] == pa.time64("us")
    assert types["ts"] == pa.timestamp("us", "UTC") and types["at"] == pa.timestamp("us")
    assert types["bl"] == pa.binary() and types["tx"] == pa.string()
    assert original.column("ts").to_pylist()[0] == dt.datetime(
        2038, 1, 19, 3, 14, 7, 999999, tzinfo=dt.UTC
    )
    assert original.column("b12").to_pylist()[0] == 0b101010101010

    copy(original, pg, "every_type")
    there = read(pg, "every_type")
    assert_same_values(there, original)
    copy(there, maria, "back")
    back = read(maria, "back")
    assert_same_values(back, original)
    assert back.schema.field("ts").type == pa.timestamp("us", "UTC")
    assert back.schema.field("d65").type == pa.decimal256(65, 30)


def test_mysql_local_infile_warnings_fail_the_load(maria: Any) -> None:
    """LOAD DATA LOCAL turns bad values into warnings; the writer must refuse them."""
    from conveyor.errors import DataError

    maria.execute("CREATE TABLE narrow (id INT PRIMARY KEY, v TINYINT)")
    writer = maria.open_writer(
        TableRef("narrow"), pa.schema([("id", pa.int32()), ("v", pa.int32())])
    )
    writer.write(
        pa.record_batch({"id": pa.array([1, 1], pa.int32()), "v": pa.array([1, 1000], pa.int32())})
    )
    with pytest.raises(DataError):
        writer.close()
    assert read(maria, "narrow").num_rows == 0
    assert mysql_admin() is not None
