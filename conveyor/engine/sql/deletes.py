"""Deleting rows: those gone from the source (or flagging them, `DELETED`), a re-read
window, or all of them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.engine.sql.rows import missing, update
from conveyor.engine.sql.values import compare

DELETED = "_conveyor_deleted"


def delete_missing(
    target: TableRef, keys_table: TableRef, keys: Sequence[str], dialect: str
) -> str:
    """DELETE target rows whose key the source no longer has (hard delete)."""
    return exp.delete(sql.table_expr(target), where=missing(target, keys_table, keys)).sql(
        dialect=dialect
    )


def flag_missing(target: TableRef, keys_table: TableRef, keys: Sequence[str], dialect: str) -> str:
    """Mark target rows whose key the source no longer has as deleted (soft delete)."""
    live = exp.EQ(this=sql.column(DELETED, target), expression=exp.false())
    return update(
        target, {DELETED: exp.true()}, exp.and_(live, missing(target, keys_table, keys)), dialect
    )


def delete_window(
    target: TableRef, column: str, cursor: Any, arrow_type: pa.DataType | None, dialect: str
) -> str:
    """DELETE target rows at or past the cursor: the window an append re-reads."""
    where = compare(sql.column(column, target), ">=", cursor, arrow_type, dialect)
    return exp.delete(sql.table_expr(target), where=where).sql(dialect=dialect)


def delete_all(target: TableRef, dialect: str) -> str:
    """DELETE every row (truncate_table_data, transactional everywhere unlike TRUNCATE)."""
    return exp.delete(sql.table_expr(target)).sql(dialect=dialect)
