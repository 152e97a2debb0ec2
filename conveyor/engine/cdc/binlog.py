"""What a MySQL/MariaDB server must offer a change data capture job, and where its binlog is.

The binlog must be on, in ROW format with whole row images (an update must carry every
column before and after, or a row could not be merged whole), and the connection's user
needs REPLICATION SLAVE (to read it) and REPLICATION CLIENT / BINLOG MONITOR (to see where
it ends). `problems` decides from plain values, so the message is tested without changing
a server; `check_server` asks the server.

Positions are (file, offset) pairs, held as one growing number: the file's sequence
number (`mariadb-bin.000012` → 12) in the high 32 bits, the offset in the low ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conveyor.connectors.mysql.session_reads import BinlogPosition, binlog_status
from conveyor.errors import ConfigurationError

__all__ = [
    "BinlogColumn",
    "binary_logs",
    "check_server",
    "columns_of",
    "encode",
    "end_position",
    "key_of",
    "problems",
]

REQUIRED = {"log_bin": "ON", "binlog_format": "ROW", "binlog_row_image": "FULL"}
_HOW = {
    "log_bin": "log_bin = ON (log-bin in the server's configuration, then a restart)",
    "binlog_format": "binlog_format = ROW (SET GLOBAL binlog_format = 'ROW', and in the "
    "configuration)",
    "binlog_row_image": "binlog_row_image = FULL (SET GLOBAL binlog_row_image = 'FULL', and in "
    "the configuration)",
}
_READ = ("REPLICATION SLAVE", "REPLICATION REPLICA", "ALL PRIVILEGES")
_SEE = ("REPLICATION CLIENT", "BINLOG MONITOR", "ALL PRIVILEGES", "SUPER")


def problems(variables: Mapping[str, str], grants: Iterable[str]) -> list[str]:
    """What to set on the server (empty: ready): from its variables and the user's grants."""
    found = []
    for name, wanted in REQUIRED.items():
        value = str(variables.get(name, "")).upper()
        if value != wanted:
            found.append(f"{_HOW[name]}; it is {value or 'unset'}")
    grants = list(grants)
    if any(" ON " not in g.upper() for g in grants):
        return found  # privileges through roles: the binlog stream itself will tell
    global_grants = " ".join(g.upper() for g in grants if " ON *.* " in g.upper())
    if not any(p in global_grants for p in _READ):
        found.append("the user needs GRANT REPLICATION SLAVE ON *.* (to read the binlog)")
    if not any(p in global_grants for p in _SEE):
        found.append(
            "the user needs GRANT REPLICATION CLIENT ON *.* (MariaDB: BINLOG MONITOR), to see "
            "the binlog's position"
        )
    return found


def check_server(conn: Any) -> None:
    """Raise a ConfigurationError saying what to set when the server cannot be followed."""
    with conn.cursor() as cur:
        cur.execute(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN"
            " ('log_bin', 'binlog_format', 'binlog_row_image')"
        )
        variables = {str(k).lower(): str(v) for k, v in cur.fetchall()}
        cur.execute("SHOW GRANTS FOR CURRENT_USER()")
        grants = [str(r[0]) for r in cur.fetchall()]
    if found := problems(variables, grants):
        raise ConfigurationError(
            "change data capture reads the source's binlog, which is not ready: set "
            + "; ".join(found)
        )


@dataclass(frozen=True)
class BinlogColumn:
    """A table column as the binlog's rows carry it (in order)."""

    name: str
    data_type: str
    generated: bool
    key: bool


def columns_of(conn: Any, schema: str, table: str) -> list[BinlogColumn]:
    """The table's columns in order, with the key: the primary key, else the first unique
    index of NOT NULL columns; none (every column is then the key) otherwise."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT COLUMN_NAME, DATA_TYPE, EXTRA FROM information_schema.COLUMNS"
            " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            [schema, table],
        )
        rows = cur.fetchall()
        cur.execute(
            "SELECT s.INDEX_NAME, s.COLUMN_NAME, MAX(c.IS_NULLABLE) FROM information_schema.STATISTICS s"
            " JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND"
            " c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME"
            " WHERE s.TABLE_SCHEMA = %s AND s.TABLE_NAME = %s AND s.NON_UNIQUE = 0"
            " GROUP BY s.INDEX_NAME, s.COLUMN_NAME, s.SEQ_IN_INDEX"
            " ORDER BY s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
            [schema, table],
        )
        indexes: dict[str, list[tuple[str, str]]] = {}
        for index, column, nullable in cur.fetchall():
            indexes.setdefault(str(index), []).append((str(column), str(nullable)))
    if not rows:
        raise ConfigurationError(f"table {schema}.{table} does not exist on the source")
    usable = [cols for cols in indexes.values() if all(n == "NO" for _, n in cols)]
    key = {c for c, _ in usable[0]} if usable else set()
    return [
        BinlogColumn(
            str(name),
            str(kind).lower(),
            any(w in str(extra).upper() for w in ("VIRTUAL", "STORED", "PERSISTENT", "GENERATED")),
            str(name) in key,
        )
        for name, kind, extra in rows
    ]


def key_of(columns: Sequence[BinlogColumn]) -> tuple[str, ...]:
    """The key columns (every column when the table has no usable key)."""
    return tuple(c.name for c in columns if c.key) or tuple(c.name for c in columns)


def binary_logs(conn: Any) -> list[tuple[str, int]]:
    """The server's binlog files and their sizes, oldest first."""
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        return [(str(r[0]), int(r[1])) for r in cur.fetchall()]


def end_position(conn: Any) -> BinlogPosition:
    """Where the binlog ends now."""
    with conn.cursor() as cur:
        row = binlog_status(cur)
    if row is None:
        raise ConfigurationError("the source's binlog is off: set log_bin = ON")
    return BinlogPosition(str(row[0]), int(row[1]))


def encode(file: str, pos: int) -> int:
    """A (file, offset) as one number that grows along the binlog."""
    sequence = file.rpartition(".")[2]
    return ((int(sequence) if sequence.isdigit() else 0) << 32) + pos


def decode(file_like: str, position: int) -> tuple[str, int]:
    """The (file, offset) of a number, naming the file like `file_like`."""
    base, _, sequence = file_like.rpartition(".")
    return f"{base}.{position >> 32:0{len(sequence)}d}", position & 0xFFFFFFFF


def retained(logs: Sequence[tuple[str, int]], file: str, pos: int) -> int:
    """Bytes of binlog after (file, pos): what a purge must keep for the job."""
    total = 0
    for name, size in logs:
        if name == file:
            total += max(0, size - pos)
        elif encode(name, 0) > encode(file, 0):
            total += size
    return total
