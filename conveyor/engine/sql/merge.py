"""Merging staged rows into a target by key, in the cheapest statements with the same result.

A merge updates the target rows whose key is staged and inserts the others. Only the
staged columns are written: a column of the target's own (one the source never had, or
the job's query stopped selecting, or an application's in reverse ETL) keeps its value
on updated rows and takes its default on inserted ones, whatever the statements.

Where the dialect has an upsert that can find the target rows, one statement does it
(`UPSERTS`): ON CONFLICT through a unique constraint on exactly the key, MERGE INTO by
joining on it. MySQL's ON DUPLICATE KEY UPDATE fires on a collision with *any* unique
index, so a row with a new key that repeats another row's unique value would silently
update that other row: it is used only where the key is the table's one unique index.
Elsewhere the matched rows are updated and the missing ones inserted (`MATCHING`), and
where re-inserting is cheaper and loses nothing (every target column is staged) the
staged keys are deleted from the target and the staged rows inserted. The caller runs
the statements in one transaction.
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
    any_unique: bool = False
    """It fires on a collision with any unique index, not only the key's: right only
    where the key's is the table's one unique index."""


UPSERTS: dict[str, Upsert] = {
    "postgres": Upsert(_on_conflict, by_constraint=True),
    "sqlite": Upsert(_on_conflict_after_where, by_constraint=True),
    # 45,000 changed and 5,000 new rows into 500,000 (MariaDB 10.11): 0.5 s, against 1.1 s
    # for UPDATE … JOIN then INSERT, and 2.1 s for DELETE … JOIN then INSERT.
    "mysql": Upsert(_on_duplicate_key, by_constraint=True, any_unique=True),
    # MERGE INTO joins on the key: no constraint needed. DuckDB updates scattered rows
    # slowly: 10,000 changed rows of a 1M-row table took 70-90 ms by MERGE INTO or ON
    # CONFLICT from a cold start, 12 ms by delete-then-insert without a key index.
    "duckdb": Upsert(_merge_into, by_constraint=False, reinsert_when_whole=True),
}


def _update_from(
    staging: TableRef, target: TableRef, keys: Sequence[str], others: Sequence[str]
) -> exp.Update:
    """UPDATE target SET c = staged.c FROM staging AS staged WHERE keys match."""
    sets = [exp.EQ(this=sql.column(c), expression=sql.column(c, STAGED)) for c in others]
    return exp.Update(
        this=sql.table_expr(target),
        expressions=sets,
        from_=exp.From(this=sql.table_expr(staging, STAGED)),
        where=exp.Where(this=keys_match(keys, target, STAGED)),
    )


def _update_join(
    staging: TableRef, target: TableRef, keys: Sequence[str], others: Sequence[str]
) -> exp.Update:
    """UPDATE target JOIN staging AS staged ON keys SET target.c = staged.c (MySQL)."""
    joined = sql.table_expr(target)
    joined.set(
        "joins",
        [exp.Join(this=sql.table_expr(staging, STAGED), on=keys_match(keys, target, STAGED))],
    )
    sets = [exp.EQ(this=sql.column(c, target), expression=sql.column(c, STAGED)) for c in others]
    return exp.Update(this=joined, expressions=sets)


def _not_in_target(staging: TableRef, target: TableRef, keys: Sequence[str]) -> exp.Select:
    """SELECT the staged rows whose key the target lacks: NOT EXISTS (a keyed lookup)."""
    present = exp.select("1").from_(sql.table_expr(target)).where(keys_match(keys, target, STAGED))
    return (
        exp.select()
        .from_(sql.table_expr(staging, STAGED))
        .where(exp.not_(exp.Exists(this=present)))
    )


def _not_joined(staging: TableRef, target: TableRef, keys: Sequence[str]) -> exp.Select:
    """The same by LEFT JOIN … IS NULL: MySQL runs a correlated NOT EXISTS row by row, which
    is a scan of the target per staged row when the key has no index there."""
    return (
        exp.select()
        .from_(sql.table_expr(staging, STAGED))
        .join(sql.table_expr(target), on=keys_match(keys, target, STAGED), join_type="LEFT")
        .where(exp.Is(this=sql.column(keys[0], target), expression=exp.null()))
    )


@dataclass(frozen=True)
class Matching:
    """How a dialect updates matched rows and inserts the missing ones, without an upsert."""

    update: Callable[[TableRef, TableRef, Sequence[str], Sequence[str]], exp.Update] = _update_from
    missing: Callable[[TableRef, TableRef, Sequence[str]], exp.Select] = _not_in_target
    reinsert_when_whole: bool = True
    """Delete-then-insert when every target column is staged (the same result)."""


MATCHING: dict[str, Matching] = {
    # MySQL updates in place faster than it deletes and re-inserts (see UPSERTS), and
    # its single-table DELETE … WHERE EXISTS is a scan of the staged rows per target row.
    "mysql": Matching(_update_join, _not_joined, reinsert_when_whole=False),
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
    other_unique: bool = False,
    upsert: bool = True,
) -> list[str]:
    """The statements merging staged rows into `target` by `keys` (without keys: appending).

    `unique_key`: the target has a unique constraint on exactly `keys`; `target_columns`:
    every column the target has; `other_unique`: the target has unique indexes besides the
    key's; `upsert`: whether a one-statement merge may be used at all.
    """
    if not keys:
        return [insert_from(staging, target, columns, dialect)]
    whole = set(target_columns) <= set(columns)
    how = UPSERTS.get(dialect) if upsert else None
    if (
        how is not None
        and (unique_key or not how.by_constraint)
        and not (how.any_unique and other_unique)
        and not (how.reinsert_when_whole and whole)
    ):
        return [how.build(staging, target, keys, columns).sql(dialect=dialect)]
    matching = MATCHING.get(dialect, Matching())
    if whole and matching.reinsert_when_whole:
        return [
            delete_matching(staging, target, keys, dialect),
            insert_from(staging, target, columns, dialect),
        ]
    others = [c for c in columns if c not in keys]
    updates = [matching.update(staging, target, keys, others)] if others else []
    missing = matching.missing(staging, target, keys).select(
        *(sql.column(c, STAGED) for c in columns)
    )
    insert = exp.insert(
        missing, sql.table_expr(target), columns=[sql.identifier(c) for c in columns]
    )
    return [statement.sql(dialect=dialect) for statement in [*updates, insert]]


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
