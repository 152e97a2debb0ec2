"""MySQL/MariaDB's log for a change data capture run: the row binlog, from a stored position.

`BinlogLog` reads the binlog as a replica does (`mysql-replication`,
non-blocking, up to the position asked for), turns its events into the same messages
pgoutput gives (`Relation`, `Begin`, `Change`, `Truncate`, `Commit`: a transaction ends
at its XID, or with a DDL statement) and folds them with `changes.Batch`.

Nothing is held on the server for the job (no slot): the position is the job's own, and
the binlog's retention (`binlog_expire_logs_seconds`, `expire_logs_days`) decides how long a
stopped job can be resumed.
"""

from __future__ import annotations

import datetime as dt
import re
import ssl
from typing import Any

from conveyor.connectors.mysql.client import Client
from conveyor.connectors.mysql.session_reads import BinlogPosition
from conveyor.engine.cdc import binlog
from conveyor.engine.cdc.binlog import BinlogColumn
from conveyor.engine.cdc.changelog import LogStatus
from conveyor.engine.cdc.changes import Batch, TableChanges
from conveyor.engine.cdc.mysql_convert import MySQLConverter
from conveyor.engine.cdc.pgoutput import Begin, Change, Column, Commit, Message, Relation, Truncate
from conveyor.engine.planner import TaskPlan
from conveyor.errors import ConfigurationError, DataError, SourceUnavailable

__all__ = ["BinlogLog"]

_DDL = re.compile(
    r"^\s*(?:/\*.*?\*/\s*)*(TRUNCATE|ALTER|DROP|RENAME|CREATE)\s+(?:TABLE\s+)?(?:IF\s+EXISTS\s+)?"
    r"((?:`[^`]+`|\w+)(?:\s*\.\s*(?:`[^`]+`|\w+))?)",
    re.IGNORECASE | re.DOTALL,
)


def _table_name(text: str, default: str) -> tuple[str, str]:
    parts = [p.strip().strip("`") for p in re.split(r"`?\s*\.\s*`?", text.strip())]
    if len(parts) == 2:
        return parts[0], parts[1]
    return default, parts[0]


class BinlogLog:
    """The source's binlog as a `ChangeLog`, from `start` on."""

    kind = "binlog"
    waits = False
    prefetches = False

    def __init__(
        self,
        source: Any,
        session: Any,
        name: str,
        tables: dict[str, list[BinlogColumn]],
        start: BinlogPosition,
        server_id: int,
    ) -> None:
        self.source = source
        self.session = session
        self.name = f"job {name}"
        self.tables = tables
        self.keys = {t: binlog.key_of(c) for t, c in tables.items()}
        self.ids = {t: i + 1 for i, t in enumerate(sorted(tables))}
        self.file = start.file
        self.position = binlog.encode(start.file, start.pos)
        self.gtid = start.gtid
        self.server_id = server_id
        self._stream: Any = None
        self._announced: set[str] = set()

    def close(self) -> None:
        """Close the replication stream and the session."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self.session.close()

    # --- ChangeLog ------------------------------------------------------------------------

    def current(self) -> int:
        """Where the binlog ends now."""
        end = binlog.end_position(self.session)
        return binlog.encode(end.file, end.pos)

    def position_text(self, position: int) -> str:
        """`mariadb-bin.000012:4567`."""
        file, pos = binlog.decode(self.file, position)
        return f"{file}:{pos}"

    def advance(self, position: int) -> None:
        """Nothing to release on the server: the position is the job's own."""

    def settle(self) -> None:
        """Nothing to confirm: `advance` does nothing."""

    def noted(self) -> dict[str, Any]:
        """The GTID of the last transaction read, where the server writes GTIDs."""
        return {"gtid": self.gtid} if self.gtid else {}

    def status(self) -> LogStatus | None:
        """The job's position, and the binlog bytes after it (what a purge must keep)."""
        file, pos = binlog.decode(self.file, self.position)
        logs = binlog.binary_logs(self.session)
        return LogStatus(f"{file}:{pos}", binlog.retained(logs, file, pos))

    def converter(self, plan: TaskPlan, changes: TableChanges) -> MySQLConverter:
        """Rows written back into a TEMPORARY copy of their table and selected by the task."""
        relation = changes.relation
        return MySQLConverter(
            plan,
            self.session,
            relation.schema,
            relation.name,
            self.tables[f"{relation.schema}.{relation.name}"],
            changes.keys,
        )

    def read(self, upto: int, keys: dict[str, tuple[str, ...]], changes: int) -> Batch | None:
        """Whole transactions from the job's position up to `upto` (about `changes` rows)."""
        if self.position >= upto:
            return None
        messages: list[Message] = []
        self._announced = set()  # each batch folds on its own: describe tables again
        count, opened, settled = 0, False, self.position
        stream = self._open()
        while True:
            event = stream.fetchone()
            if event is None:  # the end of the binlog (non-blocking): a transaction's end
                self._close_stream()
                break
            if stream.log_file and stream.log_file != self.file:
                self.file = stream.log_file
            at = binlog.encode(stream.log_file, stream.log_pos)
            before = len(messages)
            count += self._event(event, messages)
            added = messages[before:]
            if any(isinstance(m, Begin) for m in added):
                opened = True
            if any(isinstance(m, Commit) for m in added):
                opened = False
            if not opened:
                settled = at  # between transactions: a place to resume from
                if at >= upto or (count >= changes and added):
                    break
        self.position = max(self.position, settled)
        ends = [i for i, m in enumerate(messages) if isinstance(m, Commit)]
        if opened:  # the stream ended inside a transaction: read it whole next time
            messages = messages[: ends[-1] + 1] if ends else []
            self._close_stream()
        batch = Batch(keys)
        batch.fold(messages)
        return batch if batch.transactions else None

    # --- events ---------------------------------------------------------------------------

    def _open(self) -> Any:
        if self._stream is not None:
            return self._stream
        from pymysqlreplication import BinLogStreamReader
        from pymysqlreplication.event import (
            GtidEvent,
            MariadbGtidEvent,
            QueryEvent,
            RotateEvent,
            XidEvent,
        )
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        address = self.source.address
        settings: dict[str, Any] = {
            "host": address.host,
            "port": address.port,
            "user": address.user,
            "password": address.password or "",
            "charset": "utf8mb4",
            "connect_timeout": self.source.options.connect_timeout,
        }
        if self.source.options.ssl:  # as the connector's own sessions: verified TLS
            settings["ssl"] = ssl.create_default_context()
        reach = self.source.reach
        file, pos = binlog.decode(self.file, self.position)
        try:
            self._stream = BinLogStreamReader(
                connection_settings=settings,
                server_id=self.server_id,
                resume_stream=True,
                log_file=file,
                log_pos=pos,
                blocking=False,
                only_events=[
                    WriteRowsEvent,
                    UpdateRowsEvent,
                    DeleteRowsEvent,
                    XidEvent,
                    QueryEvent,
                    MariadbGtidEvent,
                    GtidEvent,
                    RotateEvent,
                ],
                pymysql_wrapper=lambda **kwargs: Client(reach=reach, **_renamed(kwargs)),
                enable_logging=False,
            )
        except Exception as exc:
            raise SourceUnavailable(f"the binlog of the CDC source cannot be read: {exc}") from exc
        return self._stream

    def _close_stream(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _relation(self, table: str) -> Relation:
        schema, _, name = table.partition(".")
        columns = self.tables[table]
        identity = "d" if any(c.key for c in columns) else "f"
        described = tuple(Column(c.name, 0, 0, c.key) for c in columns)
        return Relation(self.ids[table], schema, name, identity, described)

    def _event(self, event: Any, messages: list[Message]) -> int:
        """Append the event's messages; return how many row changes it carried."""
        from pymysqlreplication.event import GtidEvent, MariadbGtidEvent, QueryEvent, XidEvent
        from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

        when = dt.datetime.fromtimestamp(event.timestamp, dt.UTC)
        at = binlog.encode(self._stream.log_file, self._stream.log_pos)
        if isinstance(event, MariadbGtidEvent | GtidEvent):
            self.gtid = str(event.gtid)
            messages.append(Begin(at, when, 0))
            return 0
        if isinstance(event, XidEvent):
            messages.append(Commit(at, at, when))
            return 0
        if isinstance(event, QueryEvent):
            return self._query(event, messages, at, when)
        if not isinstance(event, WriteRowsEvent | UpdateRowsEvent | DeleteRowsEvent):
            return 0  # a rotation: the stream's position says where it went
        table = f"{event.schema}.{event.table}"
        if table not in self.tables:
            return 0
        if table not in self._announced:
            self._announced.add(table)
            messages.append(self._relation(table))
        oid = self.ids[table]
        width = len(self.tables[table])
        for row in event.rows:
            if isinstance(event, WriteRowsEvent):
                messages.append(Change("I", oid, None, self._values(table, row["values"], width)))
            elif isinstance(event, UpdateRowsEvent):
                old = self._values(table, row["before_values"], width)
                new = self._values(table, row["after_values"], width)
                messages.append(Change("U", oid, old, new, True))
            elif isinstance(event, DeleteRowsEvent):
                messages.append(
                    Change("D", oid, self._values(table, row["values"], width), None, True)
                )
        return len(event.rows)

    def _values(self, table: str, values: dict[str, Any], width: int) -> tuple[Any, ...]:
        if len(values) != width:
            raise DataError(
                f"{table}: a change in the binlog has {len(values)} columns, the table has "
                f"{width} now (its columns changed before the change was read): run the job "
                "with job_type full to load it again"
            )
        return tuple(values.values())

    def _query(self, event: Any, messages: list[Message], at: int, when: dt.datetime) -> int:
        """BEGIN/COMMIT of non-transactional writes, and DDL (which commits on its own)."""
        text = str(event.query).strip()
        upper = text.upper()
        if upper == "BEGIN" or upper.startswith("XA START"):
            messages.append(Begin(at, when, 0))
            return 0
        if upper == "COMMIT" or upper.startswith("XA COMMIT"):
            messages.append(Commit(at, at, when))
            return 0
        found = _DDL.match(text)
        if found is not None:
            schema = event.schema.decode() if isinstance(event.schema, bytes) else event.schema
            table = ".".join(_table_name(found.group(2), str(schema or "")))
            verb = found.group(1).upper()
            if table in self.tables:
                if verb == "TRUNCATE":
                    if table not in self._announced:
                        self._announced.add(table)
                        messages.append(self._relation(table))
                    messages.append(Truncate((self.ids[table],)))
                elif verb in ("ALTER", "CREATE"):
                    self.tables[table] = binlog.columns_of(self.session, *table.split(".", 1))
                    self._announced.add(table)
                    messages.append(self._relation(table))
                else:
                    raise ConfigurationError(
                        f"{table} was dropped or renamed on the source ({text[:100]!r}): run "
                        "the job with job_type full once the table is back"
                    )
        messages.append(Commit(at, at, when))  # DDL commits implicitly
        return 0


def _renamed(settings: dict[str, Any]) -> dict[str, Any]:
    """mysql-replication's connection settings with pymysql's current names."""
    names = {"db": "database", "passwd": "password"}
    return {names.get(k, k): v for k, v in settings.items()}
