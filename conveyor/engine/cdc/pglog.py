"""PostgreSQL's log for a change data capture run: the job's slot and publication.

`open_pg` checks the server, publishes the tasks' tables, takes the first snapshot (a new
slot exporting it) when needed, and returns a `PgLog` for `stream`: pgoutput messages
folded, converted through the source, the slot moved only after the destination
committed. Both modes read the streaming replication protocol (`replication`), where the
WAL sender decodes each record once (the SQL interface, `pg_logical_slot_peek_…`, decodes
again from the slot's restart position on every call); a batch-mode run up to the WAL's
end when it started, a continuous one until canceled. Reading does not touch the
connection the run converts rows on, so the run reads the next batch while it applies one
(`prefetches`).

Batches are sized by bytes: they grow towards `BATCH_BYTES` of pgoutput while a backlog
fills them and shrink after one past it, so memory stays bounded whatever the rows' width.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from conveyor.connectors.base import Readable
from conveyor.domain import RunLoad
from conveyor.engine.cdc.changelog import LogStatus
from conveyor.engine.cdc.changes import Batch, TableChanges
from conveyor.engine.cdc.convert import Converter
from conveyor.engine.cdc.pgoutput import Relation, decode, lsn_text, parse_lsn
from conveyor.engine.cdc.replication import ReplicationStream
from conveyor.engine.cdc.slot import Slot
from conveyor.engine.cdc.stream import CdcTask, save_position
from conveyor.engine.planner import TaskPlan
from conveyor.engine.reporting import CancelToken, Reporter
from conveyor.engine.table_load import replicate
from conveyor.errors import ConfigurationError

__all__ = ["BATCH_BYTES", "MAX_BATCH", "MIN_BATCH", "PgLog", "next_size", "open_pg"]

FIRST_BATCH = 50_000
"""Changes read by the first batch (the last transaction is read whole, however large)."""
BATCH_BYTES = 64 * 2**20
"""The pgoutput bytes a batch aims at."""
MIN_BATCH, MAX_BATCH = 1_000, 200_000
"""Bounds of the changes asked for by one batch. Larger batches fold more changes of one
key into one row (a backlog of updates applies faster) and pay each batch's fixed costs
(staging tables, the merge, moving the slot) less often."""
STREAM_WAIT = 0.1
"""Continuous mode: seconds a read gathers changes (or waits for some when there are none;
the run then looks whether it was canceled, or shows its status) — a change is applied
at most this late."""
BATCH_WAIT = 2.0
"""Batch mode: the same, for a run that drains a backlog and has no latency to keep —
batches as large as `next_size` allows, so more changes of one key fold into one row."""
END = 2**64 - 1
"""A continuous run's `current`: the stream reads whatever is there, there is no end."""
SETTLE_WAIT = 30.0
"""Seconds a run's end waits for the slot to show its last confirmed position."""


class PgLog:
    """A job's slot as a `ChangeLog`, streamed up to an end (batch mode) or until canceled."""

    kind = "WAL"
    waits = True
    prefetches = True

    def __init__(
        self, slot: Slot, source: Readable, replication: ReplicationStream, continuous: bool
    ):
        self.slot = slot
        self.source = source
        self.replication = replication
        self.continuous = continuous
        self.name = f"slot {slot.name}"
        self.size = FIRST_BATCH
        self.relations: dict[int, Relation] = {}
        """Tables described so far: a WAL sender describes each once per stream (a peek
        describes them again in every batch)."""

    def close(self) -> None:
        """Send the last confirmation and end the replication stream (the slot stays)."""
        with contextlib.suppress(Exception):
            self.settle()
        with contextlib.suppress(Exception):
            self.replication.close()

    def settle(self) -> None:
        """The last position the destination committed, confirmed, and shown by the slot
        (the run's reader has stopped)."""
        self.replication.settle()
        wanted, deadline = self.replication.confirmed, time.monotonic() + SETTLE_WAIT
        while wanted and time.monotonic() < deadline:
            status = self.slot.status()
            if status is None or parse_lsn(status.position) >= wanted:
                return
            time.sleep(0.01)

    def current(self) -> int:
        """The WAL's end now, every transaction committed before it flushed (a continuous
        run has no end)."""
        return END if self.continuous else self.slot.current(flushed=True)

    def read(self, upto: int, keys: dict[str, tuple[str, ...]], changes: int) -> Batch | None:
        """Whole transactions read from the stream (confirmed with `advance`), folded:
        None when a batch run has read everything before `upto`, or a continuous one
        found nothing new; an empty batch when a batch run is still waiting for the
        sender. `changes` is ignored: batches are sized by bytes."""
        if self.continuous:
            messages = self.replication.read(self.size, STREAM_WAIT)
        else:
            messages = self.replication.read(self.size, BATCH_WAIT, upto)
        self.size = next_size(self.size, len(messages), sum(len(m) for m in messages))
        if not messages:
            waiting = not self.continuous and not self.replication.finished
            return Batch(keys, self.relations) if waiting else None
        batch = Batch(keys, self.relations)
        batch.fold(decode(m) for m in messages)
        return batch

    def converter(self, plan: TaskPlan, changes: TableChanges) -> Converter:
        """Rows cast back through the source as the columns' declared types."""
        columns = changes.relation.columns
        types = self.slot.type_names([(c.type_oid, c.typmod) for c in columns])
        return Converter(
            plan,
            self.source,
            dict(zip([c.name for c in columns], types, strict=True)),
            changes.keys,
        )

    def position_text(self, position: int) -> str:
        """`16/B374D848`."""
        return lsn_text(position)

    def advance(self, position: int) -> None:
        """Confirm the position to the sender, which moves the slot there."""
        self.replication.confirm(position)

    def noted(self) -> dict[str, Any]:
        """Nothing beside the LSN."""
        return {}

    def status(self) -> LogStatus | None:
        """The slot's position and the WAL it retains."""
        found = self.slot.status()
        return None if found is None else LogStatus(found.position, found.retained_bytes)


def open_pg(
    slot: Slot,
    load: RunLoad,
    tasks: list[CdcTask],
    source: Any,
    stored: str | None,
    reporter: Reporter,
    cancel: CancelToken,
    continuous: bool,
) -> tuple[PgLog, dict[str, tuple[str, ...]]]:
    """Check, publish, snapshot when needed; the log to stream and each table's key."""
    name = slot.name
    slot.check_server()
    found = slot.keys([t.plan.source_table for t in tasks])
    for task, (table, _) in zip(tasks, found, strict=True):
        task.table = table
    keys = dict(found)
    slot.publish(sorted(keys))
    if load is RunLoad.full or not slot.exists():
        if not slot.exists() and stored is not None and load is not RunLoad.full:
            raise ConfigurationError(
                f"the replication slot {name!r} was dropped on the source after position "
                f"{stored}: changes since then are lost to it. Run the job with "
                "job_type full to take a new snapshot"
            )
        _snapshot(slot, source, tasks, reporter, cancel)
    elif stored is not None:
        status = slot.status()
        if status is not None and parse_lsn(status.position) < parse_lsn(stored):
            slot.advance(parse_lsn(stored))  # the destination had committed past it
    replication = ReplicationStream(slot.conninfo, slot.name)
    return PgLog(slot, source, replication, continuous), keys


def next_size(size: int, count: int, read: int) -> int:
    """The changes the next batch asks for: scaled towards `BATCH_BYTES` after a batch
    that filled its size (a backlog), and shrunk after any batch past it."""
    if read <= 0 or (count < size and read <= BATCH_BYTES):
        return size
    scaled = int(size * BATCH_BYTES / read)
    return max(MIN_BATCH, min(MAX_BATCH, scaled))


def _snapshot(
    slot: Slot, source: Any, tasks: Sequence[CdcTask], reporter: Reporter, cancel: CancelToken
) -> None:
    """A new slot, and every table loaded whole as of its exported snapshot."""
    if slot.exists():
        reporter.log("info", f"replication slot {slot.name}: dropped for a new snapshot")
        slot.drop_slot()
    with slot.created(cancel, lambda line: reporter.log("warning", line)) as (snapshot, position):
        reporter.log(
            "info", f"replication slot {slot.name} created at {position}; loading the snapshot"
        )
        source.read_in_snapshot(snapshot)
        states = []
        try:
            for task in tasks:
                quiet = replace(task.ctx, save=lambda _: None)  # saved below, all at once
                states.append(replicate(quiet, task.plan, {}))
        except BaseException:
            slot.drop_slot()
            raise  # the next run takes a new snapshot
        finally:
            source.read_in_snapshot(None)
    for task, state in zip(tasks, states, strict=True):
        saved = save_position(task, state, position, slot=slot.name)
        task.spec.state.clear()
        task.spec.state.update(saved)
