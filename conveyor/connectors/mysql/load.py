"""Bulk loads into MySQL/MariaDB: `LOAD DATA LOCAL INFILE` fed through a named pipe.

Each Arrow batch is encoded, column by column with Arrow compute, into MySQL's own
tab-separated format — `\\N` for NULL, backslash escapes for backslash, tab and newline —
and written into a FIFO that a background thread's `LOAD DATA LOCAL INFILE` is reading.
The whole stream is one statement inside one transaction: `abort` rolls it back.

With LOCAL, MySQL turns conversion errors and duplicate keys into warnings rather than
stopping the transfer, so the loader reads the warnings afterwards and fails (rolling
back) when there is any: nothing is converted silently.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from conveyor.connectors import sql
from conveyor.connectors.base import TableRef
from conveyor.connectors.command_limit import timed_out
from conveyor.errors import ConnectorError, ConveyorError, DataError

DIALECT = "mysql"
MAX_SCALE = 30  # MySQL's limit (MariaDB allows 38)
UTC_MARK = "conveyor:utc"  # the comment of DATETIME columns that hold UTC instants
_LINE = pa.scalar(b"\n", pa.large_binary())
_TAB = pa.scalar(b"\t", pa.large_binary())
_EMPTY = pa.scalar(b"", pa.large_binary())
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"))


def column_type(dt: pa.DataType, key: bool) -> str:
    """The DDL type of an Arrow type in MySQL (sql.py's table, with MySQL's decimal limits).

    MySQL has no zoned type wide enough (TIMESTAMP ends in 2038), so zoned timestamps
    are stored in DATETIME(6) as UTC, marked by a column comment that makes reads give
    them back as UTC instants.
    """
    if pa.types.is_timestamp(dt) and dt.tz is not None:
        return f"DATETIME(6) COMMENT '{UTC_MARK}'"
    if pa.types.is_decimal(dt) and dt.scale > MAX_SCALE:
        return "VARCHAR(255)" if key else "LONGTEXT"
    if pa.types.is_dictionary(dt):
        return column_type(dt.value_type, key)
    return sql.column_type(dt, DIALECT, key=key)


def _as_text(values: pa.Array) -> pa.Array:
    """One column as the bytes LOAD DATA reads back as the same value (NULLs stay null)."""
    dt = values.type
    if pa.types.is_dictionary(dt):
        return _as_text(values.dictionary_decode())
    if pa.types.is_boolean(dt):
        values = pc.cast(values, pa.int8())
    elif pa.types.is_timestamp(dt):
        unit = "us" if dt.unit == "ns" else dt.unit
        values = values.cast(pa.timestamp(dt.unit)).cast(pa.timestamp(unit))  # UTC wall time
    elif pa.types.is_date64(dt):
        values = pc.cast(values, pa.date32())
    elif pa.types.is_duration(dt):
        values = pc.cast(values, pa.int64())
    if pa.types.is_string(dt) or pa.types.is_large_string(dt) or pa.types.is_string_view(dt):
        values = pc.cast(values, pa.large_binary())
    elif not (pa.types.is_binary(dt) or pa.types.is_large_binary(dt)):
        return pc.cast(pc.cast(values, pa.string()), pa.large_binary())
    else:
        values = pc.cast(values, pa.large_binary())
    for old, new in _ESCAPES:
        values = pc.replace_substring(values, old, new)
    return values


def encode(batch: pa.RecordBatch) -> pa.Buffer:
    """A batch as tab-separated lines in MySQL's escaping (one buffer, no per-row Python)."""
    batch = sql.nested_to_json(batch)
    try:
        columns = [_as_text(values) for values in batch.columns]
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise DataError(f"cannot write a value for MySQL: {exc}") from exc
    lines = pc.binary_join_element_wise(
        *columns, _TAB, null_handling="replace", null_replacement=b"\\N"
    )
    lines = pc.binary_join_element_wise(lines, _LINE, _EMPTY)
    offsets, data = lines.buffers()[1], lines.buffers()[2]
    start = struct.unpack_from("<q", offsets, 8 * lines.offset)[0]
    end = struct.unpack_from("<q", offsets, 8 * (lines.offset + len(lines)))[0]
    return data[start:end] if data is not None else pa.py_buffer(b"")


def load_sql(table: TableRef, names: list[str], path: str) -> str:
    """LOAD DATA LOCAL INFILE of our format into the named columns of `table`."""
    columns = ", ".join(sql.quote(n, DIALECT) for n in names)
    return (
        f"LOAD DATA LOCAL INFILE {exp.Literal.string(path).sql(dialect=DIALECT)}"
        f" INTO TABLE {sql.table_sql(table, DIALECT)} CHARACTER SET binary"
        " FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n'"
        f" ({columns})"
    )


class LoadWriter:
    """One LOAD DATA statement in a thread, reading a FIFO that `write` fills batch by batch.

    `connect(path)` opens the statement's connection, which sends the server the file at
    `path` when asked for it and refuses any other (see `client`). With a `timeout`, the
    load fails when the server reads nothing of a batch (or does not finish once the
    last one is sent) for that long.
    """

    def __init__(
        self,
        connect: Callable[[str], Any],
        table: TableRef,
        schema: pa.Schema,
        map_error: Callable[[Exception], ConveyorError],
        timeout: float | None = None,
    ) -> None:
        self._map_error = map_error
        self._timeout = timeout
        self._table = table
        self._folder = tempfile.mkdtemp(prefix="conveyor-load-")
        self._path = os.path.join(self._folder, "rows.tsv")
        os.mkfifo(self._path, 0o600)
        self._conn = connect(self._path)  # a connection that sends this file and no other
        self._error: BaseException | None = None
        self._warnings: list[Any] = []
        self._pipe: int | None = None
        self._bytes = 0
        statement = load_sql(table, schema.names, self._path)
        self._statement = statement
        self._thread = threading.Thread(target=self._load, args=(statement,), daemon=True)
        self._thread.start()

    def _load(self, statement: str) -> None:
        try:
            with self._conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute(statement)
                cur.execute("SHOW WARNINGS LIMIT 5")
                self._warnings = list(cur.fetchall())
        except BaseException as exc:
            self._error = exc

    def _open_pipe(self) -> int:
        """Open the FIFO for writing once the load has opened it for reading."""
        while self._pipe is None:
            self._raise_load_error()
            try:
                self._pipe = os.open(self._path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno != errno.ENXIO:  # no reader yet
                    raise
                if not self._thread.is_alive():
                    self._raise_load_error()
                    raise ConnectorError("the load ended before it read any row") from exc
                time.sleep(0.005)
            else:  # without a timeout, writes wait as long as the server takes
                os.set_blocking(self._pipe, self._timeout is None)
        return self._pipe

    def _raise_load_error(self) -> None:
        if self._error is not None:
            error = self._error
            if isinstance(error, Exception):
                raise self._map_error(error) from error
            raise error

    def write(self, batch: pa.RecordBatch) -> None:
        """Encode a batch and push it into the pipe (waits while the server catches up)."""
        if not batch.num_rows:
            return
        data = memoryview(encode(batch))
        pipe = self._open_pipe()
        try:
            while data:
                self._wait_writable(pipe)
                try:
                    written = os.write(pipe, data)
                except BlockingIOError:
                    continue
                data = data[written:]
        except BrokenPipeError as exc:
            self._thread.join()
            self._raise_load_error()
            raise ConnectorError("the load stopped reading rows") from exc
        self._bytes += batch.nbytes

    def _wait_writable(self, pipe: int) -> None:
        """With a timeout, wait until the server reads from the pipe, at most that long."""
        if self._timeout is None:
            return
        _, ready, _ = select.select([], [pipe], [], self._timeout)
        if not ready:
            self._raise_load_error()
            raise timed_out(self._timeout, self._statement, str(self._table))

    def close(self) -> int:
        """End the stream, wait for the load, check its warnings, and commit."""
        try:
            self._open_pipe()  # a stream of no rows still ends the load
            self._close_pipe()
            self._thread.join(self._timeout)
            if self._thread.is_alive():
                assert self._timeout is not None
                raise timed_out(self._timeout, self._statement, str(self._table))
            self._raise_load_error()
            if self._warnings:
                details = "; ".join(f"{w[2]}" for w in self._warnings)
                raise DataError(f"MySQL could not store some values exactly: {details}")
            try:
                self._conn.commit()
            except Exception as exc:
                raise self._map_error(exc) from exc
        except BaseException:
            self.abort()
            raise
        self._release()
        return self._bytes

    def abort(self) -> None:
        """Stop the load and roll back whatever it received."""
        self._close_pipe()
        self._thread.join(timeout=30)
        with contextlib.suppress(Exception):
            self._conn.rollback()
        self._release()

    def _close_pipe(self) -> None:
        """Close our end, opening it first if need be so that the load sees the end."""
        deadline = time.monotonic() + 30
        while self._pipe is None and self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._pipe = os.open(self._path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.005)
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None

    def _release(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()
        shutil.rmtree(self._folder, ignore_errors=True)
