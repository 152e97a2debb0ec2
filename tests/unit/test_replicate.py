"""The REPLICATE grammar: every form parses into the right plan; errors carry positions."""

from __future__ import annotations

import pytest

from conveyor.connectors.base import TableRef
from conveyor.engine.replicate import parse
from conveyor.errors import BadStatement


def test_plain_table_copies_the_table_of_the_same_name() -> None:
    statement = parse("REPLICATE [orders]")
    assert statement.target == TableRef("orders")
    assert statement.source_table == TableRef("orders")
    assert statement.select_sql("sqlite") == 'SELECT * FROM "orders"'


def test_select_with_brackets_is_transpiled_per_dialect() -> None:
    statement = parse(
        "REPLICATE [dw].[Order Copy] SELECT id, [total amount] AS amt FROM [orders] WHERE id > 5"
    )
    assert statement.target == TableRef("Order Copy", "dw")
    assert statement.source_table == TableRef("orders")
    assert (
        statement.select_sql("duckdb")
        == 'SELECT id, "total amount" AS amt FROM "orders" WHERE id > 5'
    )
    assert (
        statement.select_sql("mysql")
        == "SELECT id, `total amount` AS amt FROM `orders` WHERE id > 5"
    )


def test_brackets_inside_string_literals_are_left_alone() -> None:
    statement = parse("REPLICATE x SELECT * FROM [y] WHERE note = '[not a name]'")
    assert "'[not a name]'" in statement.select_sql("sqlite")


def test_columns_primary_key_and_options() -> None:
    statement = parse(
        "REPLICATE t (id INT, price DECIMAL(10,2), PRIMARY KEY(id)) "
        "WITH DropTable, IncrementalCheckColumns='updated_at,id', DeletionBehavior=SoftDelete, BatchSize=500 "
        "SELECT * FROM s"
    )
    assert [c.name for c in statement.columns] == ["id", "price"]
    assert statement.columns[1].type_sql == "DECIMAL(10,2)"
    assert statement.primary_key == ("id",)
    assert statement.options == {
        "drop_table": True,
        "incremental_check_columns": ["updated_at", "id"],
        "deletion_behavior": "soft_delete",
        "batch_size": 500,
    }
    assert statement.source_table == TableRef("s")


def test_replicate_all_with_exclusions() -> None:
    statement = parse("REPLICATE ALL EXCLUDE TABLES (audit, [tmp table]) WITH TruncateTableData")
    assert statement.replicate_all
    assert statement.exclude_tables == ("audit", "tmp table")
    assert statement.options == {"truncate_table_data": True}


def test_quoted_identifiers_with_quotes_and_unicode() -> None:
    statement = parse('REPLICATE "Bestellungen ""2024""" SELECT * FROM [Größe]]n]')
    assert statement.target == TableRef('Bestellungen "2024"')
    assert statement.source_table == TableRef("Größe]n")


def test_common_table_expressions_are_part_of_the_select() -> None:
    statement = parse("REPLICATE [x] WITH c AS (SELECT 1 AS a FROM t) SELECT * FROM c")
    assert statement.options == {}
    assert statement.select_sql("sqlite").startswith("WITH c AS")


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("", 0, "empty"),
        ("REPLICATE", 9, "end of statement"),
        ("REPLICAT [x]", 0, "expected REPLICATE"),
        ("REPLICATE [x] WITH Bogus", 19, "unknown option"),
        ("REPLICATE [x] WITH BatchSize=0", 19, "batch_size"),
        ("REPLICATE x SELEC a FROM t", 12, "expected SELECT"),
        ("REPLICATE x SELECT * FROM t WHERE a >", 36, "missing"),
        ("REPLICATE x (a BOGUS TYPE) SELECT 1 FROM t", 15, "unknown column type"),
        ("REPLICATE x SELECT 1", 12, "no source table"),
        ("REPLICATE ALL EXCLUDE (a)", 22, "expected TABLES"),
        ("REPLICATE x SELECT " + "(" * 500 + "1" + ")" * 500 + " FROM t", 12, "nests too deeply"),
    ],
)
def test_bad_statements_name_the_position(text: str, position: int, reason: str) -> None:
    with pytest.raises(BadStatement) as caught:
        parse(text)
    assert caught.value.position == position
    assert reason in caught.value.message
    assert f"position {position}" in caught.value.message


@pytest.mark.parametrize(
    ("option", "suggested"),
    [
        ("IncrementalCheckColum='updated_at'", "IncrementalCheckColumns"),
        ("DropTabel", "DropTable"),
        ("batch_sise=10", "BatchSize"),
    ],
)
def test_a_misspelt_option_is_refused_naming_the_closest_known_one(
    option: str, suggested: str
) -> None:
    with pytest.raises(BadStatement) as refused:
        parse(f"REPLICATE [x] WITH {option}")
    assert f"did you mean {suggested!r}?" in refused.value.message
    assert refused.value.position == 19


def test_every_suggested_spelling_is_an_option_the_parser_knows() -> None:
    from conveyor.engine.replicate import OPTION_NAMES, OPTION_SPELLINGS

    for spelling in OPTION_SPELLINGS:
        assert spelling.lower() in {*OPTION_NAMES, "skipdeleted"}, spelling
