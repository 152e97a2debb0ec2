"""Changed rows from a binlog into Arrow with the full load's exact types.

The binlog's values are decoded by `mysql-replication` into Python values (int, Decimal,
datetime, bytes, str …). Rather than map each to Arrow by hand, the rows are written
back to the source into a TEMPORARY copy of their table (`CREATE … LIKE`: the very same
column types) and the task's own SELECT is run over that copy, read with the connector's
type plan: a changed row gets exactly the types, the mapping and the WHERE a full load
gives it, computed by the same server. The WHERE becomes a column saying whether the row
still belongs to the task; a row that left it is deleted downstream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from conveyor.connectors.mysql import session_reads
from conveyor.engine.cdc.binlog import BinlogColumn
from conveyor.engine.cdc.changes import Row
from conveyor.engine.cdc.convert import MATCH, key_names, matches, over_changed_rows
from conveyor.engine.planner import TaskPlan

__all__ = ["MySQLConverter", "prepared"]

DIALECT = "mysql"


def prepared(value: Any, column: BinlogColumn) -> Any:
    """A decoded binlog value as pymysql can write it back into its column."""
    if value is None:
        return None
    if isinstance(value, set | frozenset):
        return ",".join(sorted(value))
    if column.data_type == "bit" and isinstance(value, str):
        return int(value, 2) if value else 0
    if isinstance(value, dict | list) or (
        column.data_type == "json" and not isinstance(value, str | bytes)
    ):
        return json.dumps(value, ensure_ascii=False)
    return value


@dataclass
class MySQLConverter:
    """Turns one table's changed rows into the task's rows (and their keys)."""

    plan: TaskPlan
    session: Any
    """The pymysql session holding the TEMPORARY copies."""
    schema: str
    table: str
    columns: list[BinlogColumn]
    keys: tuple[str, ...]

    def key_names(self) -> dict[str, str]:
        """Each source key column's name in the task's rows (its alias in the SELECT)."""
        return key_names(self.plan, self.keys)

    def _stage(self, rows: Sequence[Row]) -> str:
        written = [c for c in self.columns if not c.generated]
        values = [[prepared(row.get(c.name), c) for c in written] for row in rows]
        return session_reads.stage(
            self.session, self.schema, self.table, [c.name for c in written], values
        )

    def _read(self, query: str) -> pa.Table:
        schema, batches = session_reads.read_batches(self.session, query, 65_536)
        return pa.Table.from_batches(list(batches), schema=schema)

    def rows(self, rows: Sequence[Row]) -> pa.Table:
        """The task's rows for changed source rows; `MATCH` says whether a row passes the
        task's WHERE."""
        copy = self._stage(rows)
        table = exp.table_(
            exp.to_identifier(copy, quoted=True), db=exp.to_identifier(self.schema, quoted=True)
        )
        query, where = over_changed_rows(self.plan, table, quote_alias=True)
        if where is not None:
            query.select(matches(where), copy=False)
        converted = self._read(query.sql(dialect=DIALECT))
        if MATCH in converted.column_names:
            index = converted.column_names.index(MATCH)
            mask = pc.cast(converted.column(MATCH), pa.bool_())
            converted = converted.set_column(index, MATCH, mask)
        return converted

    def deleted_keys(self, rows: Sequence[Row]) -> pa.Table:
        """The task's key columns of deleted source rows."""
        names = self.key_names()
        copy = self._stage(rows)
        projections = [
            exp.alias_(
                exp.column(exp.to_identifier(k, quoted=True)),
                exp.to_identifier(names[k], quoted=True),
            )
            for k in self.keys
        ]
        table = exp.table_(
            exp.to_identifier(copy, quoted=True), db=exp.to_identifier(self.schema, quoted=True)
        )
        return self._read(exp.select(*projections).from_(table).sql(dialect=DIALECT))
