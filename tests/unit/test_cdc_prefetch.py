"""The change log's reader: one batch read ahead on a thread, in order, errors handed over."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from conveyor.engine.cdc.changes import Batch
from conveyor.engine.cdc.prefetch import Reader
from conveyor.errors import RunCanceled, SourceUnavailable


class FakeLog:
    """A log of numbered batches; notes which thread read each and how far ahead it got."""

    waits = True

    def __init__(self, batches: int, prefetches: bool = True, fail_at: int | None = None):
        self.prefetches = prefetches
        self.left = batches
        self.read_count = 0
        self.fail_at = fail_at
        self.threads: list[str] = []

    def read(self, upto: int, keys: dict[str, tuple[str, ...]], changes: int) -> Batch | None:
        self.threads.append(threading.current_thread().name)
        if self.fail_at is not None and self.read_count == self.fail_at:
            raise SourceUnavailable("the replication stream broke")
        if self.left == 0:
            return None
        self.left -= 1
        self.read_count += 1
        batch = Batch(keys)
        batch.transactions, batch.end_lsn = 1, self.read_count
        return batch

    def __getattr__(self, name: str) -> Any:  # the rest of ChangeLog is not used here
        raise AttributeError(name)


def test_batches_come_in_order_and_the_reader_stays_one_ahead() -> None:
    log = FakeLog(5)
    reader = Reader(log, lambda: 100, {}, 10, threading.Event(), continuous=False)  # type: ignore[arg-type]
    try:
        first = reader.next()
        deadline = time.monotonic() + 30  # the reader reads the second batch meanwhile
        while log.read_count < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)  # and no further
        assert first is not None and first.end_lsn == 1
        assert log.read_count == 2
        got = [first.end_lsn]
        while (batch := reader.next()) is not None:
            got.append(batch.end_lsn)
        assert got == [1, 2, 3, 4, 5]
        assert set(log.threads) == {"cdc-read"}
    finally:
        reader.close()


def test_a_log_that_cannot_read_ahead_is_read_in_line() -> None:
    log = FakeLog(2, prefetches=False)
    reader = Reader(log, lambda: 100, {}, 10, threading.Event(), continuous=False)  # type: ignore[arg-type]
    assert [b.end_lsn for b in iter(reader.next, None)] == [1, 2]
    assert set(log.threads) == {threading.current_thread().name}
    reader.close()


def test_an_error_of_the_read_is_raised_to_the_run_after_the_batches_before_it() -> None:
    log = FakeLog(5, fail_at=2)
    reader = Reader(log, lambda: 100, {}, 10, threading.Event(), continuous=False)  # type: ignore[arg-type]
    try:
        assert reader.next().end_lsn == 1  # type: ignore[union-attr]
        assert reader.next().end_lsn == 2  # type: ignore[union-attr]
        with pytest.raises(SourceUnavailable, match="broke"):
            reader.next()
    finally:
        reader.close()


def test_a_continuous_run_reads_in_line() -> None:
    log = FakeLog(2)
    reader = Reader(log, lambda: 100, {}, 10, threading.Event(), continuous=True)  # type: ignore[arg-type]
    assert [b.end_lsn for b in iter(reader.next, None)] == [1, 2]
    assert set(log.threads) == {threading.current_thread().name}
    reader.close()


def test_cancel_stops_a_run_waiting_for_a_batch() -> None:
    class Waiting(FakeLog):
        def read(self, upto: int, keys: dict[str, tuple[str, ...]], changes: int) -> Batch | None:
            time.sleep(0.05)
            return Batch(keys)  # the sender is still decoding

    cancel = threading.Event()
    reader = Reader(Waiting(0), lambda: 100, {}, 10, cancel, continuous=False)  # type: ignore[arg-type]
    try:
        waiting = reader.next()
        assert waiting is not None and waiting.end_lsn is None
        cancel.set()
        with pytest.raises(RunCanceled):
            reader.next()
    finally:
        reader.close()  # the thread ends
    assert not any(t.name == "cdc-read" for t in threading.enumerate())
