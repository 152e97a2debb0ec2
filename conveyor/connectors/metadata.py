"""What SQL connectors share around their catalog: the one connection their metadata
lookups and DDL go through, and the check that a table exists before it is used.

Reads and loads open connections or cursors of their own; what a connector asks its
catalog (does this table exist, what are its columns) and the DDL it runs (create, swap,
drop) go through one `SharedConnection`, whose lock keeps its threads apart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from conveyor.connectors.base import Readable, TableRef, Writable
from conveyor.errors import TableNotFound


class _Closable(Protocol):
    def close(self) -> object: ...


Conn = TypeVar("Conn", bound=_Closable)


class SharedConnection(Generic[Conn]):
    """The one connection a connector's metadata lookups and DDL share between threads:
    opened on first use (and again once it is found closed), used under `lock`."""

    def __init__(self, is_open: Callable[[Conn], bool] = lambda conn: True) -> None:
        self.lock = threading.RLock()
        self._is_open = is_open
        self._conn: Conn | None = None

    def get(self, connect: Callable[[], Conn]) -> Conn:
        """The connection, opened with `connect` when there is none yet (or it was closed)."""
        with self.lock:
            if self._conn is None or not self._is_open(self._conn):
                self._conn = connect()
            return self._conn

    def forget(self) -> None:
        """Let go of the connection without closing it (a statement that cannot be
        stopped still runs on it, abandoned); the next `get` opens another."""
        with self.lock:
            self._conn = None

    def close(self) -> None:
        """Close the connection if it is open; the next `get` opens another."""
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def require_table(connector: Readable | Writable, table: TableRef) -> None:
    """Raise `TableNotFound` unless the connector has the table (or a view of that name)."""
    if not connector.table_exists(table):
        raise TableNotFound(f"table {str(table)!r} does not exist", table=str(table))
