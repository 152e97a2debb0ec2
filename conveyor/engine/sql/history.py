"""History mode (SCD type 2): versions of a row, one of them active, each with its span.

A changed row ends its active version and gets a new one; a row gone from the source
ends its active version. Staged rows already carry their bookkeeping: active, starting
now, no end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.engine.sql.rows import STAGED, insert_from, keys_match, missing, update
from conveyor.engine.sql.values import literal

ACTIVE = "_conveyor_active"
START = "_conveyor_start"
END = "_conveyor_end"
HISTORY_COLUMNS = (ACTIVE, START, END)


def _end(target: TableRef, which: exp.Expr, now: Any, dialect: str) -> str:
    """End the active versions of the rows `which` selects."""
    active = exp.EQ(this=sql.column(ACTIVE, target), expression=exp.true())
    values = {ACTIVE: exp.false(), END: literal(now, dialect)}
    return update(target, values, exp.and_(active, which), dialect)


def close_missing(
    target: TableRef, keys_table: TableRef, keys: Sequence[str], now: Any, dialect: str
) -> str:
    """End the active version of rows the source no longer has."""
    return _end(target, missing(target, keys_table, keys), now, dialect)


def close_changed(
    staging: TableRef,
    target: TableRef,
    keys: Sequence[str],
    compared: Sequence[str],
    now: Any,
    dialect: str,
) -> str:
    """End the active version of rows whose staged values differ in a `compared` column."""
    differs = (
        exp.or_(
            *(
                exp.Not(
                    this=exp.NullSafeEQ(
                        this=sql.column(c, target), expression=sql.column(c, STAGED)
                    )
                )
                for c in compared
            )
        )
        if compared
        else exp.false()
    )
    changed = (
        exp.select("1")
        .from_(sql.table_expr(staging, STAGED))
        .where(exp.and_(keys_match(keys, target, STAGED), differs))
    )
    return _end(target, exp.Exists(this=changed), now, dialect)


def insert_new_versions(
    staging: TableRef, target: TableRef, keys: Sequence[str], columns: Sequence[str], dialect: str
) -> str:
    """Insert a version for every staged row that has no active version."""
    has_active = (
        exp.select("1")
        .from_(sql.table_expr(target))
        .where(
            exp.and_(
                keys_match(keys, target, STAGED),
                exp.EQ(this=sql.column(ACTIVE, target), expression=exp.true()),
            )
        )
    )
    return insert_from(
        staging, target, columns, dialect, where=exp.Not(this=exp.Exists(this=has_active))
    )
