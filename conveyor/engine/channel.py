"""A bounded channel of Arrow record batches between a reader thread and a writer.

Bounded by rows *and* bytes, so memory stays flat whatever the table's width: the
reader blocks when the writer falls behind. An error on either side is carried across,
and closing from the consumer side unblocks a producer waiting for room.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

import pyarrow as pa


class ChannelClosed(Exception):
    """The other side closed the channel."""


class BoundedChannel:
    """A queue of record batches holding at most `max_rows` rows and `max_bytes` bytes."""

    def __init__(self, max_rows: int = 500_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self._items: deque[pa.RecordBatch] = deque()
        self._rows = 0
        self._bytes = 0
        self._done = False
        self._aborted = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()

    def put(self, batch: pa.RecordBatch) -> None:
        """Add a batch, waiting for room; one batch is always accepted into an empty channel."""
        size = batch.nbytes
        with self._cond:
            while (
                self._items
                and not self._aborted
                and (
                    self._rows + batch.num_rows > self.max_rows
                    or self._bytes + size > self.max_bytes
                )
            ):
                self._cond.wait()
            if self._aborted:
                raise ChannelClosed("the consumer stopped")
            self._items.append(batch)
            self._rows += batch.num_rows
            self._bytes += size
            self._cond.notify_all()

    def close(self, error: BaseException | None = None) -> None:
        """Producer side: no more batches; `error` is re-raised to the consumer."""
        with self._cond:
            self._done = True
            self._error = self._error or error  # the first error wins
            self._cond.notify_all()

    def abort(self) -> None:
        """Consumer side: stop; a producer blocked in `put` gets `ChannelClosed`."""
        with self._cond:
            self._aborted = True
            self._items.clear()
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> pa.RecordBatch | None:
        """The next batch, or None once the producer closed; raises the producer's error."""
        with self._cond:
            while not self._items and not self._done:
                if not self._cond.wait(timeout):
                    raise TimeoutError
            if self._items:
                batch = self._items.popleft()
                self._rows -= batch.num_rows
                self._bytes -= batch.nbytes
                self._cond.notify_all()
                return batch
            if self._error is not None:
                raise self._error
            return None

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        while (batch := self.get()) is not None:
            yield batch

    @property
    def buffered_bytes(self) -> int:
        """Bytes currently held."""
        return self._bytes


def pump(source: Iterator[pa.RecordBatch], channel: BoundedChannel) -> threading.Thread:
    """Start a thread that moves batches from `source` into `channel`, then closes it."""
    return pump_many([source], channel)[0]


def pump_many(
    sources: list[Iterator[pa.RecordBatch]], channel: BoundedChannel
) -> list[threading.Thread]:
    """One reader thread per source (parallel partitions); the channel closes after the last.

    The first error stops the load: it is handed to the consumer, and the other readers
    end when they next find the channel aborted.
    """
    remaining = [len(sources)]
    lock = threading.Lock()

    def run(source: Iterator[pa.RecordBatch]) -> None:
        error: BaseException | None = None
        try:
            for batch in source:
                channel.put(batch)
        except ChannelClosed:
            pass
        except BaseException as exc:
            error = exc
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if error is not None:
            channel.close(error)
        elif last:
            channel.close()

    threads = [
        threading.Thread(target=run, args=(source,), name=f"conveyor-reader-{i}", daemon=True)
        for i, source in enumerate(sources)
    ]
    for thread in threads:
        thread.start()
    return threads
