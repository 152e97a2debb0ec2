"""The shared SQL helpers: quoting, DDL types and the statements SQL destinations run."""

from __future__ import annotations

import pyarrow as pa
import pytest

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef, TableSchema
from conveyor.errors import Unsupported


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("sqlite", '"a ""b"" [c]"'),
        ("duckdb", '"a ""b"" [c]"'),
        ("postgres", '"a ""b"" [c]"'),
        ("mysql", '`a "b" [c]`'),
    ],
)
def test_identifiers_are_quoted_and_escaped(dialect: str, expected: str) -> None:
    assert sql.quote('a "b" [c]', dialect) == expected


def test_mysql_backticks_are_escaped() -> None:
    assert sql.quote("a`b", "mysql") == "`a``b`"


def test_qualified_tables() -> None:
    assert sql.table_sql(TableRef("t", "s"), "duckdb") == '"s"."t"'
    assert sql.table_sql(TableRef("t"), "sqlite") == '"t"'


@pytest.mark.parametrize(
    ("arrow", "dialect", "ddl"),
    [
        (pa.decimal128(38, 9), "sqlite", "DECIMAL_TEXT(38,9)"),
        (pa.decimal128(38, 9), "duckdb", "DECIMAL(38,9)"),
        (pa.decimal256(50, 2), "duckdb", "VARCHAR"),
        (pa.decimal256(50, 2), "postgres", "NUMERIC(50,2)"),
        (pa.timestamp("us", "UTC"), "sqlite", "TIMESTAMP WITH TIME ZONE"),
        (pa.timestamp("ns"), "sqlite", "TIMESTAMP(9)"),
        (pa.timestamp("ms"), "duckdb", "TIMESTAMP_MS"),
        (pa.timestamp("us", "UTC"), "postgres", "TIMESTAMPTZ"),
        (pa.uint64(), "sqlite", "DECIMAL_TEXT(20,0)"),
        (pa.uint64(), "postgres", "NUMERIC(20,0)"),
        (pa.uint32(), "duckdb", "UINTEGER"),
        (pa.binary(), "postgres", "BYTEA"),
        (pa.large_string(), "mysql", "LONGTEXT"),
        (pa.dictionary(pa.int32(), pa.string()), "duckdb", "VARCHAR"),
        (pa.list_(pa.int64()), "duckdb", "BIGINT[]"),
        (pa.struct([("a b", pa.int64())]), "duckdb", 'STRUCT("a b" BIGINT)'),
        (pa.list_(pa.int64()), "sqlite", "JSON"),
        (pa.null(), "sqlite", "TEXT"),
        (pa.bool_(), "mysql", "BOOLEAN"),
    ],
)
def test_column_types(arrow: pa.DataType, dialect: str, ddl: str) -> None:
    assert sql.column_type(arrow, dialect) == ddl


def test_text_keys_in_mysql_need_a_length() -> None:
    assert sql.column_type(pa.string(), "mysql", key=True) == "VARCHAR(255)"


def test_unknown_dialect() -> None:
    with pytest.raises(Unsupported):
        sql.column_type(pa.int64(), "oracle")


def test_create_table() -> None:
    schema = pa.schema([("id", pa.int64()), ("note", pa.string())])
    layout = TableSchema.from_arrow(schema, ("id",))
    assert sql.create_table_sql(TableRef("t", "s"), layout, "duckdb") == (
        'CREATE TABLE "s"."t" ("id" BIGINT NOT NULL, "note" VARCHAR, PRIMARY KEY ("id"))'
    )


def test_replace_statements() -> None:
    staging, target = TableRef("stage"), TableRef("tar get")
    assert sql.replace_statements(staging, target, "duckdb") == [
        'DROP TABLE IF EXISTS "tar get"',
        'ALTER TABLE "stage" RENAME TO "tar get"',
    ]


def test_run_in_transaction_rolls_back_on_error() -> None:
    ran: list[str] = []

    def execute(statement: str) -> None:
        ran.append(statement)
        if statement == "boom":
            raise RuntimeError(statement)

    sql.run_in_transaction(execute, ["a", "b"])
    assert ran == ["BEGIN", "a", "b", "COMMIT"]
    ran.clear()
    with pytest.raises(RuntimeError):
        sql.run_in_transaction(execute, ["a", "boom", "c"], begin="BEGIN IMMEDIATE")
    assert ran == ["BEGIN IMMEDIATE", "a", "boom", "ROLLBACK"]


def test_nested_values_become_json_text() -> None:
    batch = pa.record_batch(
        {
            "id": pa.array([1, 2]),
            "tags": pa.array([["a", "b"], None]),
            "wide": pa.array([1, 2], pa.decimal256(50, 0)),
        }
    )
    out = sql.nested_to_json(batch)
    assert out.column(1).to_pylist() == ['["a","b"]', None]
    assert out.schema.field("tags").type == pa.string()
    assert out.column(2).equals(batch.column(2))
