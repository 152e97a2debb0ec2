"""Decoding PostgreSQL's `pgoutput` logical replication messages (protocol version 1).

Each message of a slot's change stream is one bytea; this module turns them into plain
values — a relation's description, and changes whose column values are the server's text
forms (None for NULL, `UNCHANGED` for a TOASTed value the change did not touch). It does
no I/O; `changes` folds the decoded messages into what the destination must do.
See https://www.postgresql.org/docs/current/protocol-logicalrep-message-formats.html
"""

from __future__ import annotations

import datetime as dt
import functools
import struct
from dataclasses import dataclass
from typing import Final

from conveyor.errors import DataError

__all__ = [
    "UNCHANGED",
    "Begin",
    "Change",
    "Commit",
    "Message",
    "Relation",
    "Truncate",
    "decode",
    "lsn_text",
    "parse_lsn",
]


class _Unchanged:
    """A TOASTed value the change left as it was: the destination keeps its own."""

    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()
Value = object
"""A column's value in a change: pgoutput's text form, None, `UNCHANGED` — or, from a
binlog, the value as decoded (int, Decimal, datetime, bytes …)."""
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Column:
    """A column as a Relation message describes it."""

    name: str
    type_oid: int
    typmod: int
    key: bool


@dataclass(frozen=True)
class Relation:
    """A table's shape at this point of the stream (sent before its first change, and
    again after its columns changed)."""

    oid: int
    schema: str
    name: str
    replica_identity: str
    """d (default: the primary key), n (nothing), f (full row), i (an index)."""
    columns: tuple[Column, ...]

    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        """The column names, in order (a change's values come in this order)."""
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Begin:
    """A transaction starts; its changes follow, then its `Commit`."""

    final_lsn: int
    committed_at: dt.datetime
    xid: int


@dataclass(frozen=True)
class Commit:
    """The transaction committed at `lsn`; the stream goes on from `end_lsn`."""

    lsn: int
    end_lsn: int
    committed_at: dt.datetime


@dataclass(frozen=True)
class Change:
    """One row inserted ('I'), updated ('U') or deleted ('D').

    `old` is the old key ('K') or old row ('O', REPLICA IDENTITY FULL) of an update that
    changed them, and of every delete; `new` is the row after an insert or update."""

    kind: str
    relation: int
    old: tuple[Value, ...] | None
    new: tuple[Value, ...] | None
    old_full: bool = False
    """`old` is the whole old row ('O'), not only its key ('K', other columns NULL)."""


@dataclass(frozen=True)
class Truncate:
    """Every row of these relations is gone."""

    relations: tuple[int, ...]


Message = Relation | Begin | Commit | Change | Truncate | None


_U32 = struct.Struct("!I")
_I32 = struct.Struct("!i")
_I16 = struct.Struct("!h")
_COMMIT = struct.Struct("!xQQq")
"""A Commit's flags, position, end position and time (microseconds since 2000)."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.at = 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return int(value)

    def byte(self) -> str:
        value = chr(self.data[self.at])
        self.at += 1
        return value

    def text(self) -> str:
        end = self.data.index(0, self.at)
        value = self.data[self.at : end].decode()
        self.at = end + 1
        return value

    def time(self) -> dt.datetime:
        return _EPOCH + dt.timedelta(microseconds=self.take("!q"))


_NULL, _TOAST, _TEXT = ord("n"), ord("u"), ord("t")


def _tuple(data: bytes, at: int) -> tuple[tuple[Value, ...], int]:
    """A TupleData at `at`: its values, and where it ends. The hot path of a change
    stream (every column of every row), so written flat: no method call per value."""
    (count,) = _I16.unpack_from(data, at)
    at += 2
    values: list[Value] = []
    append = values.append
    size_of = _I32.unpack_from
    for _ in range(count):
        kind = data[at]
        at += 1
        if kind == _TEXT:
            (size,) = size_of(data, at)
            at += 4
            append(data[at : at + size].decode())
            at += size
        elif kind == _NULL:
            append(None)
        elif kind == _TOAST:
            append(UNCHANGED)
        else:
            raise DataError(f"pgoutput: unexpected column kind {chr(kind)!r}")
    return tuple(values), at


def _row_change(data: bytes) -> Change:
    """An Insert, Update or Delete message (the bulk of any stream), decoded flat."""
    kind = chr(data[0])
    (oid,) = _U32.unpack_from(data, 1)
    marker = chr(data[5])
    if kind == "I":
        new, _ = _tuple(data, 6)
        return Change("I", oid, None, new)
    if kind == "D":
        key, _ = _tuple(data, 6)
        return Change("D", oid, key, None, marker == "O")
    if marker not in ("K", "O"):
        new, _ = _tuple(data, 6)
        return Change("U", oid, None, new)
    old, at = _tuple(data, 6)
    new, _ = _tuple(data, at + 1)  # past 'N'
    return Change("U", oid, old, new, marker == "O")


def decode(data: bytes) -> Message:
    """One pgoutput message; None for those a destination has nothing to do with (origin,
    type, logical decoding messages)."""
    kind = chr(data[0])
    if kind in ("I", "U", "D"):
        return _row_change(data)
    if kind == "C":
        lsn, end_lsn, micros = _COMMIT.unpack_from(data, 1)
        return Commit(lsn, end_lsn, _EPOCH + dt.timedelta(microseconds=micros))
    reader = _Reader(data)
    reader.at = 1
    if kind == "B":
        return Begin(reader.take("!Q"), reader.time(), reader.take("!I"))
    if kind == "R":
        oid, schema, name = reader.take("!I"), reader.text(), reader.text()
        identity = reader.byte()
        columns = []
        for _ in range(reader.take("!h")):
            flags = reader.take("!b")
            columns.append(Column(reader.text(), reader.take("!I"), reader.take("!i"), flags == 1))
        return Relation(oid, schema, name, identity, tuple(columns))
    if kind == "T":
        count = reader.take("!i")
        reader.byte()  # options (CASCADE, RESTART IDENTITY)
        return Truncate(tuple(reader.take("!I") for _ in range(count)))
    return None


def parse_lsn(text: str) -> int:
    """`16/B374D848` as a number."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


def lsn_text(lsn: int) -> str:
    """A number as PostgreSQL writes an LSN (`16/B374D848`)."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"
