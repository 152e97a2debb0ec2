"""A job's publication and logical replication slot on a PostgreSQL source.

The slot is the job's durable position: changes are streamed from it (`replication`)
and it is moved past them only after the destination committed, so a crash between the
two repeats a batch and never loses one.

A new slot is created on a `replication=database` connection with an exported snapshot
(`CREATE_REPLICATION_SLOT … (SNAPSHOT 'export')`): the snapshot is read while that
connection stays open, and it shows exactly the data before the slot's first change.
"""

from __future__ import annotations

import contextlib
import select
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import make_conninfo

from conveyor.connectors.base import TableRef
from conveyor.engine.cdc.pgoutput import lsn_text, parse_lsn
from conveyor.engine.reporting import CancelToken
from conveyor.errors import ConfigurationError, RunCanceled, SourceUnavailable

__all__ = ["Slot", "SlotStatus", "names_for"]


def names_for(job_id: str, name: str | None) -> str:
    """The slot's (and publication's) name: `cdc_engine_settings.name`, else from the job id."""
    if name:
        return name
    digits = "".join(c for c in job_id.lower() if c.isalnum())[:32]
    return f"conveyor_{digits}"


@dataclass(frozen=True)
class SlotStatus:
    """Where the slot stands: its position, what WAL it holds back, how far behind it is."""

    position: str
    retained_bytes: int
    lag_bytes: int


DROP_WAIT = 10.0
"""Seconds `drop` waits for a WAL sender that still holds the slot (a run's, ending)."""


class Slot:
    """One job's slot and publication, over an ordinary autocommit connection."""

    def __init__(self, conninfo: str, name: str) -> None:
        self.name = name
        self._conninfo = conninfo
        try:
            self.conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise SourceUnavailable(f"the CDC source cannot be reached: {exc}") from exc

    @property
    def conninfo(self) -> str:
        """The source's connection string (the replication stream opens its own)."""
        return self._conninfo

    def close(self) -> None:
        """Close the connection (the slot stays)."""
        self.conn.close()

    def _one(self, query: Any, params: Sequence[Any] = ()) -> Any:
        row = self.conn.execute(query, list(params) or None).fetchone()
        return None if row is None else row[0]

    # --- checks --------------------------------------------------------------------------

    def check_server(self) -> None:
        """wal_level must be logical, and the role must be allowed to replicate."""
        level = self._one("SELECT current_setting('wal_level')")
        if level != "logical":
            raise ConfigurationError(
                f"the source's wal_level is {level!r}: change data capture needs "
                "wal_level = logical (ALTER SYSTEM SET wal_level = logical, then restart)"
            )
        if not self._one(
            "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
        ):
            raise ConfigurationError(
                "the source's role may not replicate: ALTER ROLE … WITH REPLICATION"
            )

    def keys(self, tables: Sequence[TableRef]) -> list[tuple[str, tuple[str, ...]]]:
        """Each table's key for changes (`schema.name` → columns): its primary key, else
        the replica identity index's columns, else (REPLICA IDENTITY FULL) every column.
        A table whose changes would carry no key is a clear error."""
        found: list[tuple[str, tuple[str, ...]]] = []
        for table in tables:
            parts = [p for p in (table.schema, table.name) if p]
            row = self.conn.execute(
                "SELECT c.oid, n.nspname, c.relname, c.relreplident FROM pg_class c"
                " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(%s)",
                [pgsql.Identifier(*parts).as_string(self.conn)],
            ).fetchone()
            if row is None:
                raise ConfigurationError(f"table {'.'.join(parts)!r} does not exist on the source")
            oid, schema, name, identity = row
            keys = self._index_columns(oid, "indisprimary")
            if not keys and identity == "i":
                keys = self._index_columns(oid, "indisreplident")
            if not keys and identity == "f":
                keys = tuple(
                    r[0]
                    for r in self.conn.execute(
                        "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0"
                        " AND NOT attisdropped ORDER BY attnum",
                        [oid],
                    )
                )
            if not keys or identity == "n":
                raise ConfigurationError(
                    f"table {schema}.{name} has no primary key (or REPLICA IDENTITY NOTHING): "
                    "its updates and deletes carry no key in the log. Give it a primary key, "
                    f"or run ALTER TABLE {schema}.{name} REPLICA IDENTITY FULL"
                )
            found.append((f"{schema}.{name}", keys))
        return found

    def _index_columns(self, oid: int, which: str) -> tuple[str, ...]:
        flag = pgsql.Identifier(which)
        query = pgsql.SQL(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s AND i.{}"
            " ORDER BY array_position(i.indkey::int2[], a.attnum)"
        ).format(flag)
        return tuple(r[0] for r in self.conn.execute(query, [oid]))

    # --- publication and slot ------------------------------------------------------------

    def publish(self, tables: Sequence[str]) -> None:
        """The job's publication, on exactly these tables (`schema.name`)."""
        names = pgsql.SQL(", ").join(pgsql.Identifier(*t.split(".", 1)) for t in tables)
        publication = pgsql.Identifier(self.name)
        if self._one("SELECT 1 FROM pg_publication WHERE pubname = %s", [self.name]):
            self.conn.execute(
                pgsql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(publication, names)
            )
        else:
            self.conn.execute(
                pgsql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(publication, names)
            )

    def exists(self) -> bool:
        """Whether the slot is there."""
        return bool(
            self._one("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [self.name])
        )

    @contextlib.contextmanager
    def created(self, cancel: CancelToken, log: Callable[[str], None]) -> Iterator[tuple[str, str]]:
        """Create the slot; yield (exported snapshot, start position) while the snapshot
        is valid (the replication connection is open and idle until the block ends).

        The server creates a logical slot only once every transaction then running on
        it (in any database) has ended: the wait is logged, and a cancel stops it."""
        conninfo = make_conninfo(self._conninfo, replication="database")
        try:
            replication = psycopg.connect(conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise SourceUnavailable(f"no replication connection to the source: {exc}") from exc
        try:
            name = pgsql.Identifier(self.name).as_string(replication)
            command = f"CREATE_REPLICATION_SLOT {name} LOGICAL pgoutput (SNAPSHOT 'export')"
            result = _wait_for(replication.pgconn, command.encode(), cancel, log)
            if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
                message = (result.error_message or b"").decode(errors="replace").strip()
                raise ConfigurationError(f"replication slot {self.name!r} not created: {message}")
            position = (result.get_value(0, 1) or b"").decode()
            snapshot = (result.get_value(0, 2) or b"").decode()
            yield snapshot, position
        finally:
            replication.close()

    def drop(self) -> None:
        """Drop the slot and the publication (what deleting the job does); missing ones
        are fine."""
        self.drop_slot()
        self.conn.execute(
            pgsql.SQL("DROP PUBLICATION IF EXISTS {}").format(pgsql.Identifier(self.name))
        )

    def drop_slot(self) -> None:
        """Drop the slot, if it is there. A run that just ended may leave its WAL sender
        holding the slot for a moment: that is waited for (`DROP_WAIT`); a slot still in
        use after it is an error."""
        deadline = time.monotonic() + DROP_WAIT
        while (
            self._one("SELECT active FROM pg_replication_slots WHERE slot_name = %s", [self.name])
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        if self.exists():
            self.conn.execute("SELECT pg_drop_replication_slot(%s)", [self.name])

    def type_names(self, columns: Sequence[tuple[int, int]]) -> list[str]:
        """Each (type OID, typmod)'s declared name (`format_type`), in order."""
        rows = self.conn.execute(
            "SELECT format_type(t.oid, t.mod) FROM unnest(%s::oid[], %s::int[])"
            " WITH ORDINALITY AS t(oid, mod, i) ORDER BY t.i",
            [[c[0] for c in columns], [c[1] for c in columns]],
        ).fetchall()
        return [r[0] for r in rows]

    # --- reading and moving on -----------------------------------------------------------

    def current(self, flushed: bool = False) -> int:
        """The source's WAL position now: a batch-mode run reads up to it.

        Logical decoding reads only WAL flushed to disk, and a transaction committed with
        `synchronous_commit = off` may not even be written yet: with `flushed`, a
        transaction that writes a WAL record commits synchronously first, which flushes
        every WAL record before its own, so a batch run does not stop short of a change
        committed before it started; the position is that record's. The record is a
        transactional logical decoding message (pgoutput passes it on only to a subscriber
        that asks for messages): a transaction that wrote no WAL besides its commit record
        (one that only took an id) commits without a flush whatever `synchronous_commit`
        says. (A read-only standby source cannot write: there the run reads what is
        flushed, and the next run the rest.)"""
        if flushed:
            with contextlib.suppress(psycopg.Error), self.conn.transaction():
                self.conn.execute("SET LOCAL synchronous_commit = on")
                marked = self._one("SELECT pg_logical_emit_message(true, 'conveyor', '')::text")
                return parse_lsn(marked)
        return parse_lsn(self._one("SELECT pg_current_wal_lsn()::text"))

    def advance(self, lsn: int) -> None:
        """Move the slot's confirmed position to `lsn` (the destination committed up to it)."""
        self.conn.execute(
            "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", [self.name, lsn_text(lsn)]
        )

    def status(self) -> SlotStatus | None:
        """The slot's position and what it costs the source; None when it is gone."""
        row = self.conn.execute(
            "SELECT confirmed_flush_lsn::text,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,"
            " pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint"
            " FROM pg_replication_slots WHERE slot_name = %s",
            [self.name],
        ).fetchone()
        if row is None:
            return None
        return SlotStatus(row[0], int(row[1] or 0), int(row[2] or 0))


WAIT_NOTICE = 5.0
"""Seconds of waiting for the slot before the run says what it waits for."""


def _wait_for(pgconn: Any, command: bytes, cancel: CancelToken, log: Callable[[str], None]) -> Any:
    """Send a replication command and wait for its result, polling `cancel`."""
    pgconn.send_query(command)
    started, told = time.monotonic(), False
    while True:
        select.select([pgconn.socket], [], [], 0.25)
        pgconn.consume_input()
        if not pgconn.is_busy():
            break
        if cancel.is_set():
            pgconn.get_cancel().cancel()
            raise RunCanceled()
        if not told and time.monotonic() - started > WAIT_NOTICE:
            told = True
            log(
                "creating the replication slot waits for the transactions open on the source "
                "server to end (see pg_stat_activity, backend_xid)"
            )
    result = pgconn.get_result()
    while pgconn.get_result() is not None:
        pass
    return result
