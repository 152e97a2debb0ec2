"""SQL modes on destinations that cannot run SQL (files): apply, then rewrite the table.

The tables a statement list touches are copied into a scratch DuckDB database, the
statements (in DuckDB's dialect) run there in one transaction, and the changed target
is streamed back through a staging table and swapped in — so merges, deletes and
history work on a folder of Parquet files exactly as on a database, atomically. The
statements are the engine's, but carry values from the data: the scratch database
reaches no file but its own, whatever they say. Columns the statements leave as they
were keep their exact Arrow types through DuckDB (a parquet large_string stays one).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.arrow_types import restore
from conveyor.connectors.base import Readable, TableRef, TableSchema, Writable

if TYPE_CHECKING:  # DuckDB is loaded when a file destination is rewritten, not at every start
    import duckdb

BATCH_ROWS = 65_536
_INCOMING = "__conveyor_incoming"


class RewriteExecutor:
    """Runs the engine's SQL against `target` (and helper tables) of a file-like destination."""

    dialect = "duckdb"

    def __init__(
        self,
        destination: Writable,
        target: TableRef,
        helpers: Sequence[TableRef],
        staging: TableRef,
        primary_key: Sequence[str] = (),
    ) -> None:
        if not isinstance(destination, Readable):
            raise TypeError("a rewritten destination must be readable")
        self.destination = destination
        self.reader: Readable = destination
        self.target = target
        self.helpers = list(helpers)
        self.staging = staging
        self.primary_key = tuple(primary_key)
        self._types: tuple[pa.Schema, pa.Schema] | None = None  # the target's: stored, in DuckDB

    def execute(self, statement: str) -> int:
        """Run one statement (and rewrite the target)."""
        return self.execute_in_transaction([statement])[0]

    def execute_in_transaction(self, statements: Sequence[str]) -> list[int]:
        """Run the statements on copies, then swap the changed target in."""
        import duckdb

        from conveyor.connectors.duckdb_access import affected_rows, connect_database, map_error

        with tempfile.TemporaryDirectory(prefix="conveyor-rewrite-") as scratch:
            database = str(Path(scratch) / "rewrite.duckdb")
            con = connect_database(database, {}, external_access=False)
            self._types = None
            try:
                for table in [self.target, *self.helpers]:
                    self._load(con, table)
                con.execute("BEGIN")
                counts = [affected_rows(con.execute(statement)) for statement in statements]
                con.execute("COMMIT")
                self._write_back(con)
            except duckdb.Error as exc:
                raise map_error(exc) from exc
            finally:
                con.close()
        return counts

    def _load(self, con: duckdb.DuckDBPyConnection, table: TableRef) -> None:
        if not self.reader.table_exists(table):
            return
        reader = self.reader.read(sql.select_sql(table, None, self.reader.dialect), BATCH_ROWS)
        copy = exp.Create(
            this=sql.table_expr(TableRef(table.name)),
            kind="TABLE",
            expression=exp.select("*").from_(_INCOMING),
        )
        con.register(_INCOMING, reader)
        con.execute(copy.sql(dialect="duckdb"))
        con.unregister(_INCOMING)
        if table == self.target:
            self._types = (reader.schema, self._select(con, limit=0).schema)

    def _select(
        self, con: duckdb.DuckDBPyConnection, limit: int | None = None
    ) -> pa.RecordBatchReader:
        """The target's rows in the scratch database."""
        query = sql.select_sql(TableRef(self.target.name), None, "duckdb", limit=limit)
        return con.sql(query).to_arrow_reader(BATCH_ROWS)

    def _restored(self, output: pa.Schema) -> pa.Schema | None:
        """The stored types of the columns DuckDB only normalized (None: nothing to restore).

        A column whose type is still the one DuckDB gave it on loading is unchanged by the
        statements; one they added or widened keeps its new type.
        """
        if self._types is None:
            return None
        stored, loaded = self._types
        fields, changed = [], False
        for field in output:
            if field.name in stored.names and field.name in loaded.names:
                exact = stored.field(field.name).type
                if loaded.field(field.name).type == field.type and exact != field.type:
                    field, changed = field.with_type(exact), True
            fields.append(field)
        return pa.schema(fields, metadata=output.metadata) if changed else None

    def _write_back(self, con: duckdb.DuckDBPyConnection) -> None:
        reader = self._select(con)
        reader = restore(reader, self._restored(reader.schema))
        staging = self.staging.with_name(self.staging.name + "_rw")
        self.destination.drop_table(staging)
        self.destination.create_table(
            staging, TableSchema.from_arrow(reader.schema, self.primary_key)
        )
        writer = self.destination.open_writer(staging, reader.schema)
        try:
            for batch in reader:
                writer.write(batch)
            writer.close()
            self.destination.replace_table(staging, self.target)
        except BaseException:
            writer.abort()
            with contextlib.suppress(Exception):
                self.destination.drop_table(staging)
            raise
