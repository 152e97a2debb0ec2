"""What a change data capture run needs from a source's log, whatever the source.

A `ChangeLog` hands out batches of whole transactions folded per key (`changes.Batch`),
a converter per changed table (changed rows → the task's rows, with the full load's
types), and moves on only when told the destination committed. PostgreSQL's
(`pglog`: a logical replication slot) and MySQL/MariaDB's (`mysqllog`: the row binlog)
implement it; `stream` applies any of them the same way, so deletion behaviour, history
mode and key changes mean the same for both.

Positions are numbers that grow along the log (an LSN; for a binlog, the file's sequence
number in the high 32 bits and the offset in the low ones), shown as the source writes
them (`16/B374D848`, `mariadb-bin.000012:4567`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import pyarrow as pa

from conveyor.engine.cdc.changes import Batch, Row, TableChanges
from conveyor.engine.planner import TaskPlan

__all__ = ["ChangeLog", "LogStatus", "RowConverter", "position_order"]


@dataclass(frozen=True)
class LogStatus:
    """Where the job stands in the log, and what its position costs the source."""

    position: str
    retained_bytes: int


class RowConverter(Protocol):
    """One table's changed source rows → the task's rows (and the keys to delete)."""

    keys: tuple[str, ...]

    def key_names(self) -> dict[str, str]:
        """Each source key column's name in the task's rows."""
        ...

    def rows(self, rows: Sequence[Row]) -> pa.Table:
        """The task's rows (with `convert.MATCH` when the task has a WHERE)."""
        ...

    def deleted_keys(self, rows: Sequence[Row]) -> pa.Table:
        """The task's key columns of deleted rows."""
        ...


class ChangeLog(Protocol):
    """A source's log as a change data capture run reads it."""

    name: str
    """What the job holds on the source (a slot's name; for a binlog, the job's name)."""
    kind: str
    """What the log is called in messages (`WAL`, `binlog`)."""
    waits: bool
    """Whether `read` itself waits a moment for changes when there are none yet (a
    replication stream): the run then does not sleep between two looks."""
    prefetches: bool
    """Whether `read` may run on a thread of its own while the run converts and applies
    the batch before (it touches no connection the rest of the log uses, and `advance`
    may be called while it runs)."""

    def current(self) -> int:
        """The log's end now: a batch-mode run applies up to it."""
        ...

    def read(self, upto: int, keys: dict[str, tuple[str, ...]], changes: int) -> Batch | None:
        """The next whole transactions committed before `upto` (about `changes` changes,
        the last transaction whole), folded; None when there is none yet (a batch run: when
        everything before `upto` is read), an empty batch when the log is still waiting."""
        ...

    def converter(self, plan: TaskPlan, changes: TableChanges) -> RowConverter:
        """How the batch's rows of the task's table become the task's rows."""
        ...

    def position_text(self, position: int) -> str:
        """A position as the source writes it."""
        ...

    def advance(self, position: int) -> None:
        """The destination committed up to `position`: the log may let go of what is before."""
        ...

    def settle(self) -> None:
        """Make the last `advance` take effect on the source now (the reader stopped)."""
        ...

    def noted(self) -> dict[str, Any]:
        """What the job stores beside the position of the last batch read (a GTID)."""
        ...

    def status(self) -> LogStatus | None:
        """The job's position and what the source retains for it; None when it is gone."""
        ...


def position_order(text: str) -> int:
    """A shown position as a number that orders like the log: an LSN (`16/B374D848`) or
    a binlog `file.000012:4567`."""
    if ":" in text:
        file, _, offset = text.rpartition(":")
        sequence = file.rpartition(".")[2]
        return (int(sequence) << 32) + int(offset) if sequence.isdigit() else int(offset)
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)
