"""Whether a connection can be read and whether it can be written, told apart.

Reaching a server says little about what a run may do there: a role with only SELECT,
a read-only database or a folder Conveyor may not write passes a ping, and its first run
then fails. A connection test therefore also tries the two things runs do:

    read   list what the connection holds (a missing database file or a role that
           cannot see the catalog fails here)
    write  create a uniquely named scratch table in the schema unqualified tables land
           in (a hidden scratch file in a folder), write one row into it, and drop it

The scratch table's name starts with `_conveyor_` so discovery and `REPLICATE ALL` never
take it for a table of the user's, even if dropping it failed.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

import pyarrow as pa

from conveyor.connectors.base import (
    ColumnInfo,
    Connector,
    Discoverable,
    Readable,
    TableRef,
    TableSchema,
    Writable,
)
from conveyor.errors import ConveyorError

__all__ = ["SCRATCH_PREFIX", "Access", "check_access", "scratch_table"]

SCRATCH_PREFIX = "_conveyor_check_"


@dataclass(frozen=True)
class Access:
    """What a connection allowed when it was tried: the reason each of reading and
    writing was refused, None where it was allowed (so the two can never disagree)."""

    read_error: str | None
    write_error: str | None

    @property
    def can_read(self) -> bool:
        """Whether runs could read the connection."""
        return self.read_error is None

    @property
    def can_write(self) -> bool:
        """Whether runs could write to the connection."""
        return self.write_error is None

    @classmethod
    def unreachable(cls, reason: str) -> Access:
        """Neither reading nor writing: the connection itself failed."""
        return cls(reason, reason)


def scratch_table() -> TableRef:
    """A table name no run or other check uses, in the connection's default schema."""
    return TableRef(f"{SCRATCH_PREFIX}{uuid.uuid4().hex[:12]}")


def _reason(exc: Exception) -> str:
    return exc.message if isinstance(exc, ConveyorError) else f"{type(exc).__name__}: {exc}"


def check_read(connector: Connector) -> str | None:
    """Why the connection cannot be read, or None when it can."""
    if not isinstance(connector, Readable):
        return "this kind of connection cannot be read (it is a destination only)"
    if isinstance(connector, Discoverable):
        try:
            connector.list_tables()
        except Exception as exc:
            return f"cannot list its tables: {_reason(exc)}"
    return None


def check_write(connector: Connector) -> str | None:
    """Why a run could not write to the connection, or None when it could.

    Creates a scratch table in the default schema, appends a row and drops it: the same
    statements a run's staging table takes. The table is dropped even when a step fails.
    """
    if not isinstance(connector, Writable):
        return "this kind of connection cannot be written (it is a source only)"
    table = scratch_table()
    layout = TableSchema([ColumnInfo("id", pa.int64(), nullable=False)])
    created = False
    step = "create a table"
    try:
        connector.create_table(table, layout)
        created, step = True, "write rows"
        writer = connector.open_writer(table, layout.arrow_schema)
        try:
            writer.write(pa.record_batch([pa.array([1], pa.int64())], schema=layout.arrow_schema))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        step = "drop a table"
        connector.drop_table(table)
        created = False
    except Exception as exc:  # the scratch name is ours: the reason is what matters
        reason = _reason(exc).removeprefix(f"{table}: ").replace(table.name, "a scratch table")
        return f"cannot {step}: {reason}"
    finally:
        if created:
            with contextlib.suppress(Exception):
                connector.drop_table(table)
    return None


def check_access(connector: Connector) -> Access:
    """Try reading and writing an open, reachable connection (no store transaction open:
    each step waits as long as the connection's timeouts allow)."""
    read_error = check_read(connector)
    write_error = check_write(connector)
    return Access(read_error, write_error)
