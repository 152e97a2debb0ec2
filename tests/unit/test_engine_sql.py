"""The engine's SQL, per dialect: which merge each destination gets, and what it says.

The statements run against real databases in `tests/integration/engine`; here each
dialect's choice and spelling is pinned, so a change of shape is a deliberate one.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlglot

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef, TableSchema
from conveyor.engine.sql import deletes, history, merge, schema, values

STAGE, TARGET = TableRef("stage"), TableRef('tar"get', "dw")
DIALECTS = ["postgres", "sqlite", "mysql", "duckdb"]
DELETE_THEN_INSERT = [
    'DELETE FROM "dw"."tar""get" WHERE EXISTS(SELECT 1 FROM "stage" AS "__conveyor_staged"'
    ' WHERE "dw"."tar""get"."k" = "__conveyor_staged"."k")',
    'INSERT INTO "dw"."tar""get" ("k", "v") SELECT "__conveyor_staged"."k",'
    ' "__conveyor_staged"."v" FROM "stage" AS "__conveyor_staged"',
]


def merged(
    dialect: str, *, unique_key: bool, target: tuple[str, ...] = ("k", "v", "own")
) -> list[str]:
    return merge.statements(
        STAGE, TARGET, ["k"], ["k", "v"], dialect, unique_key=unique_key, target_columns=target
    )


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            "postgres",
            'INSERT INTO "dw"."tar""get" ("k", "v") SELECT "k", "v" FROM "stage"'
            ' ON CONFLICT("k") DO UPDATE SET "v" = excluded."v"',
        ),
        (
            "sqlite",
            'INSERT INTO "dw"."tar""get" ("k", "v") SELECT "k", "v" FROM "stage" WHERE TRUE'
            ' ON CONFLICT("k") DO UPDATE SET "v" = excluded."v"',
        ),
        (
            "mysql",
            'INSERT INTO `dw`.`tar"get` (`k`, `v`) SELECT `k`, `v` FROM `stage`'
            " ON DUPLICATE KEY UPDATE `v` = VALUES(`v`)",
        ),
        (
            "duckdb",
            'MERGE INTO "dw"."tar""get" USING "stage" AS "__conveyor_staged"'
            ' ON "dw"."tar""get"."k" = "__conveyor_staged"."k"'
            ' WHEN MATCHED THEN UPDATE SET "v" = "__conveyor_staged"."v"'
            ' WHEN NOT MATCHED THEN INSERT ("k", "v")'
            ' VALUES ("__conveyor_staged"."k", "__conveyor_staged"."v")',
        ),
    ],
)
def test_a_keyed_target_gets_the_dialects_upsert(dialect: str, expected: str) -> None:
    assert merged(dialect, unique_key=True) == [expected]
    sqlglot.parse_one(expected, dialect=dialect)  # and it is SQL the dialect reads


@pytest.mark.parametrize("dialect", ["postgres", "sqlite", "mysql"])
def test_without_a_unique_key_an_upsert_by_constraint_would_duplicate(dialect: str) -> None:
    """Matched rows are updated and the others inserted: a column of the target's own
    ("own") keeps its values; re-inserting would empty it (issue 17)."""
    statements = merged(dialect, unique_key=False)
    assert [s.split(" ", 1)[0] for s in statements] == ["UPDATE", "INSERT"]
    assert all("own" not in s for s in statements)


@pytest.mark.parametrize("dialect", ["postgres", "sqlite"])
def test_without_a_unique_key_a_whole_target_is_deleted_then_inserted(dialect: str) -> None:
    statements = merged(dialect, unique_key=False, target=("k", "v"))
    assert [s.split(" ", 1)[0] for s in statements] == ["DELETE", "INSERT"]


def test_mysql_updates_by_join_and_inserts_the_unmatched_rows() -> None:
    """No ON DUPLICATE KEY where the table has another unique index (it would update the
    row that index finds), and no delete-then-insert (slower than updating in place)."""
    expected = [
        'UPDATE `dw`.`tar"get` JOIN `stage` AS `__conveyor_staged`'
        ' ON `dw`.`tar"get`.`k` = `__conveyor_staged`.`k`'
        ' SET `dw`.`tar"get`.`v` = `__conveyor_staged`.`v`',
        'INSERT INTO `dw`.`tar"get` (`k`, `v`) SELECT `__conveyor_staged`.`k`,'
        " `__conveyor_staged`.`v` FROM `stage` AS `__conveyor_staged`"
        ' LEFT JOIN `dw`.`tar"get` ON `dw`.`tar"get`.`k` = `__conveyor_staged`.`k`'
        ' WHERE `dw`.`tar"get`.`k` IS NULL',
    ]
    assert merged("mysql", unique_key=False, target=("k", "v")) == expected
    other_unique = merge.statements(
        STAGE,
        TARGET,
        ["k"],
        ["k", "v"],
        "mysql",
        unique_key=True,
        target_columns=("k", "v"),
        other_unique=True,
    )
    assert other_unique == expected


def test_duckdb_merges_by_join_unless_reinserting_loses_nothing() -> None:
    assert merged("duckdb", unique_key=False)[0].startswith("MERGE INTO")
    assert merged("duckdb", unique_key=False, target=("k", "v")) == DELETE_THEN_INSERT


def test_unknown_dialects_and_rewrites_update_then_insert_or_reinsert_a_whole_target() -> None:
    assert merged("snowflake", unique_key=True)[0].startswith("UPDATE")
    assert merged("snowflake", unique_key=True, target=("k", "v"))[0].startswith("DELETE")
    rewritten = merge.statements(
        STAGE, TARGET, ["k"], ["k", "v"], "duckdb", unique_key=True, target_columns=(), upsert=False
    )
    assert rewritten == DELETE_THEN_INSERT
    kept = merge.statements(
        STAGE,
        TARGET,
        ["k"],
        ["k", "v"],
        "duckdb",
        unique_key=True,
        target_columns=("k", "v", "own"),
        upsert=False,
    )
    assert [s.split(" ", 1)[0] for s in kept] == ["UPDATE", "INSERT"]


def test_without_keys_rows_are_appended() -> None:
    statements = merge.statements(
        STAGE, TARGET, [], ["k", "v"], "sqlite", unique_key=False, target_columns=("k", "v")
    )
    assert statements == DELETE_THEN_INSERT[1:]


def test_a_merge_of_key_columns_only_updates_nothing() -> None:
    for dialect, tail in [("postgres", "DO NOTHING"), ("mysql", "UPDATE `k` = VALUES(`k`)")]:
        [statement] = merge.statements(
            STAGE, TARGET, ["k"], ["k"], dialect, unique_key=True, target_columns=("k",)
        )
        assert statement.endswith(tail), statement


@pytest.mark.parametrize(
    ("dialect", "column", "key"),
    [
        ("postgres", 'ALTER TABLE "dw"."tar""get" ALTER COLUMN "c" SET DATA TYPE BIGINT', True),
        ("mysql", 'ALTER TABLE `dw`.`tar"get` MODIFY COLUMN `c` BIGINT', True),
        ("duckdb", 'ALTER TABLE "dw"."tar""get" ALTER COLUMN "c" SET DATA TYPE BIGINT', False),
        ("sqlite", None, False),
    ],
)
def test_widening_in_place_or_by_rebuild(dialect: str, column: str | None, key: bool) -> None:
    assert schema.widen_column(TARGET, "c", "BIGINT", dialect) == column
    in_place = schema.widen_column(TARGET, "c", "BIGINT", dialect, key=True)
    assert (in_place is not None) == key


def test_added_columns_keep_the_destinations_own_type_text() -> None:
    utc = "DATETIME(6) COMMENT 'conveyor:utc'"
    assert schema.add_column(TARGET, "at `x`", utc, "mysql") == (
        f'ALTER TABLE `dw`.`tar"get` ADD COLUMN `at ``x``` {utc}'
    )
    assert schema.add_column(TARGET, "n", "DECIMAL_TEXT(20,0)", "sqlite").endswith(
        '"n" DECIMAL_TEXT(20,0)'
    )


def test_rebuild_declares_the_table_anew_with_the_destinations_types() -> None:
    layout = TableSchema.from_arrow(pa.schema([("k", pa.int64())]), ("k",))
    statements = schema.rebuild(TARGET, layout, "duckdb", lambda t, key: "HUGEINT")
    assert statements[1] == (
        'CREATE TABLE "dw"."tar""get__conveyor_rebuild" ("k" HUGEINT NOT NULL, PRIMARY KEY ("k"))'
    )
    assert statements[-1] == 'ALTER TABLE "dw"."tar""get__conveyor_rebuild" RENAME TO "tar""get"'


@pytest.mark.parametrize(
    ("dialect", "instant", "day"),
    [
        (
            "postgres",
            "CAST('2024-01-02 03:04:05.000006+00:00' AS TIMESTAMPTZ)",
            "CAST('2024-01-02' AS DATE)",
        ),
        (
            "duckdb",
            "CAST('2024-01-02 03:04:05.000006+00:00' AS TIMESTAMPTZ)",
            "CAST('2024-01-02' AS DATE)",
        ),
        (
            "mysql",
            "CAST('2024-01-02 03:04:05.000006' AS DATETIME(6))",
            "CAST('2024-01-02' AS DATE)",
        ),
        ("sqlite", "'2024-01-02T03:04:05.000006'", "'2024-01-02'"),
    ],
)
def test_cursor_literals(dialect: str, instant: str, day: str) -> None:
    zoned = dt.datetime(2024, 1, 2, 5, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert values.literal(zoned, dialect).sql(dialect=dialect) == instant
    assert values.literal(dt.date(2024, 1, 2), dialect).sql(dialect=dialect) == day
    assert values.literal(7, dialect).sql(dialect=dialect) == "7"
    assert values.literal("it's", dialect).sql(dialect=dialect) in ("'it''s'", "'it\\'s'")


def test_sqlite_compares_timestamps_as_days_then_precisely() -> None:
    at = dt.datetime(2024, 1, 2, 3, 4, 5)
    where = values.compare(sql.column("at"), ">=", at, pa.timestamp("us"), "sqlite")
    assert where.sql(dialect="sqlite") == (
        "\"at\" >= '2024-01-02' AND JULIANDAY(\"at\") >= JULIANDAY('2024-01-02T03:04:05.000000')"
    )
    plain = values.compare(sql.column("n"), "<", 5, pa.int64(), "sqlite")
    assert plain.sql(dialect="sqlite") == '"n" < 5'


def test_rows_gone_from_the_source_are_deleted_flagged_or_ended() -> None:
    keys = TableRef("keys")
    gone = (
        'NOT EXISTS(SELECT 1 FROM "keys" AS "__conveyor_keys"'
        ' WHERE "dw"."tar""get"."k" = "__conveyor_keys"."k")'
    )
    assert deletes.delete_missing(TARGET, keys, ["k"], "duckdb") == (
        f'DELETE FROM "dw"."tar""get" WHERE {gone}'
    )
    assert deletes.flag_missing(TARGET, keys, ["k"], "duckdb") == (
        'UPDATE "dw"."tar""get" SET "_conveyor_deleted" = TRUE'
        f' WHERE "dw"."tar""get"."_conveyor_deleted" = FALSE AND {gone}'
    )
    now = dt.datetime(2024, 5, 5, tzinfo=dt.UTC)
    assert history.close_missing(TARGET, keys, ["k"], now, "duckdb") == (
        'UPDATE "dw"."tar""get" SET "_conveyor_active" = FALSE,'
        " \"_conveyor_end\" = CAST('2024-05-05 00:00:00.000000+00:00' AS TIMESTAMPTZ)"
        f' WHERE "dw"."tar""get"."_conveyor_active" = TRUE AND {gone}'
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_statement_is_sql_the_dialect_reads(dialect: str) -> None:
    now = dt.datetime(2024, 5, 5, tzinfo=dt.UTC)
    statements = [
        *merged(dialect, unique_key=False),
        merge.duplicate_key(STAGE, ["k", "j"], dialect),
        history.close_changed(STAGE, TARGET, ["k"], ["v"], now, dialect),
        history.insert_new_versions(STAGE, TARGET, ["k"], ["k", "v"], dialect),
        deletes.delete_window(TARGET, "at", now, pa.timestamp("us", "UTC"), dialect),
        deletes.delete_all(TARGET, dialect),
    ]
    for statement in statements:
        sqlglot.parse_one(statement, dialect=dialect)
