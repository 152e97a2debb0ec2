"""The server connectors' pure parts, without servers: URLs, type plans, encodings, SQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from conveyor.connectors.mysql import load as mysql_load
from conveyor.connectors.mysql import sql as mysql_sql
from conveyor.connectors.mysql import types as mysql_types
from conveyor.connectors.postgres import sql as postgres_sql
from conveyor.connectors.postgres import types as postgres_types
from conveyor.connectors.registry import resolve
from conveyor.connectors.server import parse_server_url, redacted, returns_nothing
from conveyor.errors import DataError, InvalidInput


def test_server_urls_keep_the_password_out_of_sight() -> None:
    address = parse_server_url(
        "postgres://ann:p%40ss%2Fw0rd@db.example:6543/sales?sslmode=require",
        ("postgresql", "postgres"),
        5432,
    )
    assert (address.user, address.host, address.port, address.database) == (
        "ann",
        "db.example",
        6543,
        "sales",
    )
    assert address.password == "p@ss/w0rd" and address.params == {"sslmode": "require"}
    assert "p@ss" not in str(address) and "p@ss" not in repr(address)
    assert address.redactor.redact("failed for p@ss/w0rd") == "failed for ***"
    option = parse_server_url("mysql://bob@h/db", ("mysql",), 3306, password="from-option")
    assert option.password == "from-option" and option.port == 3306
    with pytest.raises(InvalidInput):
        parse_server_url("postgresql://h", ("postgresql",), 5432)


@pytest.mark.parametrize("scheme", ["postgresql", "mysql"])
def test_a_password_parameter_is_the_password_never_a_parameter(scheme: str) -> None:
    schemes = (scheme,)
    given = parse_server_url(f"{scheme}://ann@h/db?password=p%40ss&sslmode=require", schemes, 1)
    assert given.password == "p@ss" and given.params == {"sslmode": "require"}
    assert "p@ss" not in repr(given) and "p@ss" not in str(given)
    same = parse_server_url(f"{scheme}://ann:p%40ss@h/db?password=p%40ss", schemes, 1)
    assert same.password == "p@ss" and same.params == {}
    with pytest.raises(InvalidInput, match="two different passwords") as refused:
        parse_server_url(f"{scheme}://ann:one-pw@h/db?password=two-pw", schemes, 1)
    assert "one-pw" not in str(refused.value) and "two-pw" not in str(refused.value)
    option = parse_server_url(f"{scheme}://ann@h/db?password=in-url", schemes, 1, "in-option")
    assert option.password == "in-option" and option.params == {}


def test_a_servers_errors_mask_its_own_secrets_only() -> None:
    address = parse_server_url(
        "postgresql://ann:zebra42@h/db?sslpassword=keyphrase-77", ("postgresql",), 5432
    )
    text = "database 'zebra42' refused; key keyphrase-77; database 'tiger17'"
    assert (
        redacted(Exception(text), address) == "database '***' refused; key ***; database 'tiger17'"
    )
    assert redacted(Exception(text)) == text, "no address, no secret: nothing else is masked"
    assert "keyphrase" not in repr(address)


def test_schemes_resolve_to_the_server_connectors() -> None:
    assert resolve("postgres://h/db").name == resolve("postgresql://h/db").name == "postgres"
    assert resolve("mariadb://h/db").name == resolve("mysql://h/db").name == "mysql"
    spec = resolve("postgresql://h/db")
    assert spec.validate_options({"connect_timeout": 3}).connect_timeout == 3  # type: ignore[attr-defined]
    with pytest.raises(InvalidInput):
        spec.validate_options({"connect_timeout": -1})


@pytest.mark.parametrize(
    ("typmod", "expected"),
    [
        (((10 << 16) | 2) + 4, pa.decimal128(10, 2)),
        (((50 << 16) | 20) + 4, pa.decimal256(50, 20)),
        (((200 << 16) | 2) + 4, pa.string()),
        (-1, pa.decimal128(38, 9)),
    ],
)
def test_numeric_typmods_map_to_exact_decimals(typmod: int, expected: pa.DataType) -> None:
    assert postgres_types.numeric_type(typmod, "decimal") == expected
    assert postgres_types.numeric_type(-1, "text") == pa.string()


def test_an_unconstrained_numeric_that_does_not_fit_fails_loudly() -> None:
    column = postgres_types.ReadColumn("n", pa.decimal128(38, 9), decimal_from_text=True)
    schema = postgres_types.schema_of([column])
    ok = pa.record_batch({"n": pa.array(["1.5", None])})
    assert postgres_types.convert(ok, [column], schema).column(0).to_pylist() == [
        Decimal("1.5"),
        None,
    ]
    with pytest.raises(DataError, match="numeric"):
        postgres_types.convert(pa.record_batch({"n": ["0.0000000001"]}), [column], schema)


def test_mysql_column_definitions_plan_exact_types() -> None:
    plan = mysql_types.plan_column
    assert plan("d", mysql_types.NEWDECIMAL, 0, 12, 2, 63).type == pa.decimal128(10, 2)
    assert plan("d", mysql_types.NEWDECIMAL, 32, 66, 30, 63).type == pa.decimal256(65, 30)
    assert plan("u", mysql_types.LONGLONG, 32, 20, 0, 63).type == pa.uint64()
    assert plan("b", mysql_types.TINY, 0, 1, 0, 63).type == pa.bool_()
    assert plan("t", mysql_types.TINY, 0, 4, 0, 63).type == pa.int8()
    assert plan("bits", mysql_types.BIT, 32, 12, 0, 63).type == pa.int64()
    assert plan("ts", mysql_types.TIMESTAMP, 0, 26, 6, 63).type == pa.timestamp("us", "UTC")
    assert plan("blob", mysql_types.VARCHAR, 0, 10, 0, 63).type == pa.binary()
    assert plan("text", mysql_types.VARCHAR, 0, 40, 0, 45).type == pa.string()


def test_mysql_time_outside_a_day_is_refused() -> None:
    column = mysql_types.plan_column("t", mysql_types.TIME, 0, 17, 6, 63)
    schema = mysql_types.schema_of([column])
    day = pa.record_batch({"t": pa.array([3_600_000_000, None], pa.int64())})
    assert mysql_types.convert(day, [column], schema).column(0).to_pylist() == [dt.time(1), None]
    with pytest.raises(DataError, match="TIME"):
        mysql_types.convert(pa.record_batch({"t": pa.array([-1], pa.int64())}), [column], schema)


def test_load_data_encoding_escapes_what_mysql_would_misread() -> None:
    batch = pa.record_batch(
        {
            "s": pa.array(["tab\there", "nl\nback\\slash", "\\N", "", None]),
            "b": pa.array([b"\x00\t", b"\\", None, b"", b"\xff"], pa.binary()),
            "flag": pa.array([True, False, None, True, False]),
            "at": pa.array(
                [dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)] * 5, pa.timestamp("us", "UTC")
            ),
            "d": pa.array([Decimal("0.000000001")] * 5, pa.decimal128(38, 9)),
        }
    )
    lines = mysql_load.encode(batch).to_pybytes().split(b"\n")
    assert lines[-1] == b""
    assert lines[0] == b"tab\\there\t\x00\\t\t1\t2024-01-01 12:00:00.000000\t1E-9"
    assert lines[1] == b"nl\\nback\\\\slash\t\\\\\t0\t2024-01-01 12:00:00.000000\t1E-9"
    assert lines[2].split(b"\t")[:3] == [b"\\\\N", b"\\N", b"\\N"]
    assert lines[3].split(b"\t")[:2] == [b"", b""]
    assert lines[4].split(b"\t")[:2] == [b"\\N", b"\xff"]
    assert mysql_load.column_type(pa.timestamp("us", "UTC"), False).startswith("DATETIME(6)")
    assert mysql_load.column_type(pa.decimal256(60, 35), False) == "LONGTEXT"


def test_mysql_conversions_keep_the_query_order() -> None:
    planned = [
        mysql_types.ReadColumn("id", pa.int64()),
        mysql_types.ReadColumn("amount", pa.decimal128(10, 2), "CAST({col} AS CHAR)"),
    ]
    moved = mysql_sql.computed("SELECT id, amount FROM t WHERE id > 3 ORDER BY id DESC", planned)
    assert moved.endswith("ORDER BY `__conveyor_q`.`id` DESC")
    assert "CAST(`__conveyor_q`.`amount` AS CHAR) AS `amount`" in moved
    pinned = mysql_sql.computed("SELECT * FROM t ORDER BY id + 1", planned)
    assert "LIMIT 18446744073709551615" in pinned
    assert mysql_sql.probe("SELECT * FROM t LIMIT 5").endswith("LIMIT 0")


def test_postgres_ranges_and_probes() -> None:
    parts = postgres_sql.ranged(
        'SELECT * FROM "t"', postgres_sql.exp.column("ctid"), [10, 20], lambda b: f"({b},0)", "tid"
    )
    assert len(parts) == 3
    assert "ctid < CAST('(10,0)' AS tid)" in parts[0]
    assert "ctid >= CAST('(20,0)' AS tid)" in parts[2] and "<" not in parts[2]
    assert returns_nothing('SELECT * FROM "t" LIMIT 0', "postgres")
    assert returns_nothing("SELECT * FROM `t` LIMIT 0", "mysql")
    assert not returns_nothing('SELECT * FROM "t"', "postgres")
