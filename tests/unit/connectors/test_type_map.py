"""The one type table: its rendering in docs/connections.md, its spellings, and declared types parsed."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors import sql, type_map
from conveyor.connectors.base import ColumnInfo, TableRef, TableSchema
from conveyor.connectors.type_map import Declared, Logical

CONNECTIONS_DOC = Path(__file__).parents[3] / "docs" / "connections.md"
BLOCK = re.compile(r"<!-- type-map:start[^>]*-->\n(.*?)<!-- type-map:end -->", re.DOTALL)


def test_the_documented_table_is_the_code_table() -> None:
    found = BLOCK.search(CONNECTIONS_DOC.read_text())
    assert found is not None, "docs/connections.md has no type-map block"
    assert found.group(1) == type_map.markdown(), (
        "docs/connections.md's column type table differs from type_map.TYPES: paste type_map.markdown()"
    )


@pytest.mark.parametrize(
    ("dialect", "native", "logical"),
    [
        ("postgres", "character varying(200)", "varchar(200)"),
        ("postgres", "character(4)", "char(4)"),
        ("postgres", "timestamp(3) with time zone", "timestamptz"),
        ("postgres", "numeric", "numeric"),
        ("postgres", "numeric(12,2)", "decimal(12,2)"),
        ("postgres", "integer[]", "int32[]"),
        ("postgres", "uuid", "uuid"),
        ("postgres", "jsonb", "jsonb"),
        ("postgres", "money", None),
        ("mysql", "int(10) unsigned", "uint32"),
        ("mysql", "tinyint(1)", "boolean"),
        ("mysql", "enum('a','b''c')", "enum('a','b''c')"),
        ("mysql", "timestamp(6)", "timestamptz"),
        ("mysql", "datetime(6)", "timestamp"),
        ("mysql", "year(4)", "year"),
        ("duckdb", "VARCHAR", "text"),
        ("duckdb", "ENUM('x', 'y')", "enum('x','y')"),
        ("duckdb", "TIMESTAMP WITH TIME ZONE", "timestamptz"),
        ("duckdb", "STRUCT(a INTEGER)", None),
        ("sqlite", "SMALLINT", "int64"),
        ("sqlite", "VARCHAR(40)", "varchar(40)"),
    ],
)
def test_declared_types_have_logical_types(dialect: str, native: str, logical: str | None) -> None:
    found = type_map.logical_of(dialect, native)
    assert (str(found) if found else None) == logical
    if found is not None:
        assert type_map.parse(str(found)) == found


@pytest.mark.parametrize(
    ("declared", "dialect", "ddl"),
    [
        (Declared(Logical("varchar", ("200",)), "character varying(200)", "postgres"),
         "postgres", "character varying(200)"),
        (Declared(Logical("varchar", ("200",)), "character varying(200)", "postgres"),
         "mysql", "VARCHAR(200)"),
        (Declared(Logical("varchar", ("2000",))), "mysql", "LONGTEXT"),
        (Declared(Logical("text"), "text", "mysql"), "mysql", "text"),
        (Declared(Logical("uuid")), "duckdb", "UUID"),
        (Declared(Logical("enum", ("a", "b'c"))), "mysql", "ENUM('a', 'b''c')"),
        (Declared(Logical("enum", ("a",))), "postgres", "TEXT"),
        (Declared(Logical("int32", (), 1)), "postgres", "INTEGER[]"),
        (Declared(Logical("int32", (), 1)), "mysql", "JSON"),
        (Declared(Logical("numeric")), "mysql", None),
        (Declared(None, "money", "postgres"), "postgres", "money"),
        (Declared(None, "money", "postgres"), "duckdb", None),
    ],
)  # fmt: skip
def test_spellings(declared: Declared, dialect: str, ddl: str | None) -> None:
    assert type_map.spell(declared, dialect) == ddl


def test_a_text_key_gets_a_bounded_type_even_from_its_own_dialect() -> None:
    declared = Declared(Logical("text"), "text", "mysql")
    assert type_map.spell(declared, "mysql", key=True) == "VARCHAR(255)"


def test_declared_types_travel_as_field_metadata_and_make_the_ddl() -> None:
    declared = Declared(Logical("varchar", ("200",)), "character varying(200)", "postgres")
    column = ColumnInfo("name", pa.string(), nullable=False, declared=declared)
    layout = TableSchema.from_arrow(pa.schema([column.field, pa.field("id", pa.int64())]), ["id"])
    assert layout.columns[0].declared == declared
    assert not layout.columns[0].nullable and not layout.arrow_schema.field("id").nullable
    ddl = sql.create_table_sql(TableRef("t"), layout, "mysql")
    assert ddl == (
        "CREATE TABLE `t` (`name` VARCHAR(200) NOT NULL, `id` BIGINT NOT NULL, PRIMARY KEY (`id`))"
    )


def test_values_that_do_not_fit_the_declared_type_drop_it() -> None:
    assert type_map.declared("sqlite", "SMALLINT", pa.int64()) == Declared(
        Logical("int64"), "SMALLINT", "sqlite"
    )
    found = type_map.declared("postgres", "uuid", pa.int64())
    assert found is not None and found.logical is None and found.native == "uuid"
    assert type_map.declared("postgres", "mood", pa.string(), verbatim=False) is None
