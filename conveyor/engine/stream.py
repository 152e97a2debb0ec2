"""Moving one query's rows into one table: reader thread → bounded channel → writer.

This is the hot path. It touches only Arrow record batches; between batches it checks
for cancelation and reports progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

from conveyor.connectors.base import TableRef, Writable, iterate_batches
from conveyor.engine.channel import BoundedChannel, pump_many
from conveyor.engine.reporting import CancelToken, raise_if_canceled
from conveyor.errors import CommandTimedOut

PROGRESS_EVERY_SECONDS = 0.5
CHANNEL_BATCHES = 2
"""Batches a reader may run ahead of the writer: one queued while the writer works on one
is all the overlap two threads can use; deeper queues only held memory (a CSV → PostgreSQL
load peaked 15 MB higher with four, and ran no faster; neither did PostgreSQL → PostgreSQL)."""


@dataclass
class StreamStats:
    """What a stream moved."""

    rows: int = 0
    bytes_written: int = 0


def copy_stream(
    readers: list[pa.RecordBatchReader],
    destination: Writable,
    table: TableRef,
    cancel: CancelToken,
    on_progress: Callable[[int], None],
    batch_rows: int,
    transform: Callable[[pa.RecordBatch], pa.RecordBatch] | None = None,
    schema: pa.Schema | None = None,
    max_bytes: int = 64 * 1024 * 1024,
    command_timeout: float | None = None,
) -> StreamStats:
    """Append every batch of `reader` to `table`; return rows and bytes written.

    The channel holds at most `CHANNEL_BATCHES` batches per reader (and `max_bytes`), so
    reading runs ahead of writing by a bounded amount and memory stays flat.
    """
    channel = BoundedChannel(
        max_rows=CHANNEL_BATCHES * batch_rows * len(readers), max_bytes=max_bytes
    )
    threads = pump_many([iterate_batches(r) for r in readers], channel)
    writer = destination.open_writer(table, schema or readers[0].schema)
    stats = StreamStats()
    last_report = time.monotonic()
    try:
        while (batch := _next(channel, command_timeout)) is not None:
            raise_if_canceled(cancel)
            if transform is not None:
                batch = transform(batch)
            writer.write(batch)
            stats.rows += batch.num_rows
            now = time.monotonic()
            if now - last_report >= PROGRESS_EVERY_SECONDS:
                on_progress(stats.rows)
                last_report = now
        stats.bytes_written = writer.close()
    except BaseException:
        channel.abort()
        writer.abort()
        raise
    finally:
        for thread in threads:
            thread.join(timeout=5)
    on_progress(stats.rows)
    return stats


def _next(channel: BoundedChannel, timeout: float | None) -> pa.RecordBatch | None:
    """The next batch; a source silent for longer than `timeout` seconds fails the load."""
    try:
        return channel.get(timeout)
    except TimeoutError:
        raise source_stalled(timeout or 0) from None


def source_stalled(timeout: float) -> CommandTimedOut:
    """The error of a load whose source sent nothing for `command_timeout` seconds."""
    return CommandTimedOut(
        f"the source sent no rows for {timeout:g} s (command_timeout); the query was stopped"
    )
