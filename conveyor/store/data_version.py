"""The store's data version: a value that changes whenever anyone commits a change to it.

The API's read cache (`conveyor.api.read_cache`) stamps each answer with the version it
read *before* reading the answer's data, and serves the answer again only while the
version is still that one. So the version must change on every commit by anyone — this
process's other connections, another API process, a worker, the scheduler, another node —
and reading it must be cheap, because it is read on every cached request.

- **SQLite**: `PRAGMA data_version` on a connection of its own. SQLite changes it for a
  connection whenever another connection (of any process) commits to the file, and never
  for that connection's own commits — this one never writes. Reading it costs a few
  microseconds and takes no lock that a writer waits for.
- **PostgreSQL**: `pg_current_snapshot()`, the snapshot a statement would see now: the
  newest completed transaction id and the ones still in progress. Two equal snapshots
  see exactly the same committed transactions, and what a snapshot sees only grows, so
  when the snapshot read before an answer's data equals the one read now, nothing was
  committed in between and the data read in between is still what the store holds.
  No trigger, no table, no lock: every committing writer changes it by finishing its
  transaction. (The WAL insert position was the other candidate, but a commit record is
  written to the WAL before the commit becomes visible, so a reader can take the new
  position and still miss that commit's data; a trigger-maintained counter row would
  make every writer of every table queue on that one row.) The snapshot is cluster
  wide: a commit in another database also changes it — an answer is then read again,
  never served stale.

A source that cannot be read (the connection broke) answers None, and the cache then
answers nothing from memory; the next read reconnects.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable
from typing import Any

from sqlalchemy import Engine

log = logging.getLogger(__name__)

TIMEOUT_MS = 250
"""How long a read of the version may wait (it runs on the event loop): past it, the
request is answered without the cache."""
_QUERIES = {
    "sqlite": "PRAGMA data_version",
    "postgresql": "SELECT pg_current_snapshot()::text",
}


class DataVersion:
    """One process's reader of the store's data version, on a connection of its own."""

    def __init__(self, engine: Engine) -> None:
        dialect = engine.dialect.name
        if dialect not in _QUERIES:
            raise ValueError(f"no data version for a {dialect} store")
        self.engine = engine
        self.query = _QUERIES[dialect]
        self.remote = dialect != "sqlite"
        """Whether a read is a round trip to a server (not a look at a local file)."""
        self._connection: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def supports(engine: Engine) -> bool:
        """Whether the store's kind has a data version."""
        return engine.dialect.name in _QUERIES

    def current(self) -> Hashable | None:
        """The version now, or None when it cannot be read (the caller then trusts nothing)."""
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                cursor = self._connection.cursor()
                try:
                    cursor.execute(self.query)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
            except Exception:
                log.warning("could not read the store's data version", exc_info=True)
                self._discard()
                return None
            return None if row is None else row[0]

    def _connect(self) -> Any:
        """A DBAPI connection outside the engine's pool, reading outside any transaction:
        on SQLite the engine's own set-up has already left it in autocommit mode."""
        connection = self.engine.raw_connection()
        connection.detach()  # ours alone: never returned to the pool
        dbapi: Any = connection.dbapi_connection
        cursor = dbapi.cursor()
        try:
            if self.engine.dialect.name == "postgresql":
                dbapi.autocommit = True
                cursor.execute(f"SET statement_timeout = {TIMEOUT_MS}")
            else:
                cursor.execute(f"PRAGMA busy_timeout = {TIMEOUT_MS}")
        finally:
            cursor.close()
        return dbapi

    def _discard(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # already broken: nothing more to release
                log.debug("closing the data version's connection failed", exc_info=True)
        self._connection = None

    def close(self) -> None:
        """Release the connection."""
        with self._lock:
            self._discard()
