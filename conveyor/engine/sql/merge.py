"""Merging staged rows into a target by key, in the cheapest statements with the same result.

Where the dialect has an upsert that can find the target rows, one statement does it
(`UPSERTS`): ON CONFLICT or ON DUPLICATE KEY through a unique constraint on exactly the
key, MERGE INTO by joining on it. Elsewhere, and where re-inserting is cheaper and loses
nothing, the staged keys are deleted from the target and the staged rows inserted; the
caller runs both in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.engine.sql.rows import STAGED, insert_from, keys_match

Build = Callable[[TableRef, TableRef, Sequence[str], Sequence[str]], exp.Expr]


def _insert(staging: TableRef, target: TableRef, columns: Sequence[str]) -> exp.Insert:
    select = exp.select(*(sql.column(c) for c in columns)).from_(sql.table_expr(staging))
    names = [sql.identifier(c) for c in columns]
    return exp.insert(select, sql.table_expr(target), columns=names)


def _on_conflict(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str]
) -> exp.Insert:
    """INSERT … SELECT … ON CONFLICT (keys) DO UPDATE SET c = excluded.c (DO NOTHING: all keys)."""
    others = [c for c in columns if c not in keys]
    excluded = exp.to_identifier("excluded")
    sets = [
        exp.EQ(this=sql.column(c), expression=exp.column(sql.identifier(c), excluded))
        for c in others
    ]
    insert = _insert(staging, target, columns)
    insert.set(
        "conflict",
        exp.OnConflict(
            conflict_keys=[sql.identifier(k) for k in keys],
            action=exp.var("DO UPDATE" if others else "DO NOTHING"),
            expressions=sets,
        ),
    )
    return insert


def _on_conflict_after_where(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str]
) -> exp.Insert:
    """ON CONFLICT after `WHERE true`: SQLite cannot parse it right after a plain SELECT."""
    insert = _on_conflict(staging, target, keys, columns)
    insert.expression.set("where", exp.Where(this=exp.true()))
    return insert


def _on_duplicate_key(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str]
) -> exp.Insert:
    """INSERT … SELECT … ON DUPLICATE KEY UPDATE c = VALUES(c) (MySQL, MariaDB)."""
    others = [c for c in columns if c not in keys] or list(keys[:1])
    sets = [
        exp.EQ(
            this=sql.column(c), expression=exp.Anonymous(this="VALUES", expressions=[sql.column(c)])
        )
        for c in others
    ]
    insert = _insert(staging, target, columns)
    insert.set(
        "conflict", exp.OnConflict(duplicate=True, action=exp.var("UPDATE"), expressions=sets)
    )
    return insert


def _merge_into(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str]
) -> exp.Merge:
    """MERGE INTO target USING staging ON keys: update matched rows, insert the others."""
    others = [c for c in columns if c not in keys]
    whens = []
    if others:
        sets = [exp.EQ(this=sql.column(c), expression=sql.column(c, STAGED)) for c in others]
        whens.append(exp.When(matched=True, then=exp.Update(expressions=sets)))
    insert = exp.Insert(
        this=exp.Tuple(expressions=[sql.column(c) for c in columns]),
        expression=exp.Tuple(expressions=[sql.column(c, STAGED) for c in columns]),
    )
    whens.append(exp.When(matched=False, then=insert))
    return exp.Merge(
        this=sql.table_expr(target),
        using=sql.table_expr(staging, STAGED),
        on=keys_match(keys, target, STAGED),
        whens=exp.Whens(expressions=whens),
    )


@dataclass(frozen=True)
class Upsert:
    """A dialect's one-statement merge, and when it is the right one."""

    build: Build
    by_constraint: bool
    """It finds target rows through a unique constraint on exactly the key; without
    one, it would add a second row instead of updating the first."""
    reinsert_when_whole: bool = False
    """Deleting and re-inserting matched rows is cheaper when every target column is
    loaded (then it is also the same result: no column of the target's own is emptied)."""


UPSERTS: dict[str, Upsert] = {
    "postgres": Upsert(_on_conflict, by_constraint=True),
    "sqlite": Upsert(_on_conflict_after_where, by_constraint=True),
    "mysql": Upsert(_on_duplicate_key, by_constraint=True),
    # MERGE INTO joins on the key: no constraint needed. DuckDB updates scattered rows
    # slowly: 10,000 changed rows of a 1M-row table took 70-90 ms by MERGE INTO or ON
    # CONFLICT from a cold start, 12 ms by delete-then-insert without a key index.
    "duckdb": Upsert(_merge_into, by_constraint=False, reinsert_when_whole=True),
}


def statements(
    staging: TableRef,
    target: TableRef,
    keys: Sequence[str],
    columns: Sequence[str],
    dialect: str,
    *,
    unique_key: bool,
    target_columns: Collection[str],
    upsert: bool = True,
) -> list[str]:
    """The statements merging staged rows into `target` by `keys` (without keys: appending).

    `unique_key`: the target has a unique constraint on exactly `keys`; `target_columns`:
    every column the target has; `upsert`: whether a one-statement merge may be used at all.
    """
    if not keys:
        return [insert_from(staging, target, columns, dialect)]
    how = UPSERTS.get(dialect) if upsert else None
    if (
        how is not None
        and (unique_key or not how.by_constraint)
        and not (how.reinsert_when_whole and set(target_columns) <= set(columns))
    ):
        return [how.build(staging, target, keys, columns).sql(dialect=dialect)]
    return [
        delete_matching(staging, target, keys, dialect),
        insert_from(staging, target, columns, dialect),
    ]


def delete_matching(staging: TableRef, target: TableRef, keys: Sequence[str], dialect: str) -> str:
    """DELETE the target rows whose key is staged (the first half of a merge)."""
    staged = (
        exp.select("1")
        .from_(sql.table_expr(staging, STAGED))
        .where(keys_match(keys, target, STAGED))
    )
    return exp.delete(sql.table_expr(target), where=exp.Exists(this=staged)).sql(dialect=dialect)


def duplicate_key(staging: TableRef, keys: Sequence[str], dialect: str) -> str:
    """One key value that more than one staged row has (no row when keys are unique)."""
    grouped = [sql.column(k) for k in keys]
    return (
        exp.select(*grouped)
        .from_(sql.table_expr(staging))
        .group_by(*grouped)
        .having(exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(1)))
        .limit(1)
        .sql(dialect=dialect)
    )
