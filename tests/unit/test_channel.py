"""The bounded channel: bounded memory, ordering, errors carried across, clean aborts."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from conveyor.engine.channel import BoundedChannel, pump


def batch(rows: int, start: int = 0) -> pa.RecordBatch:
    return pa.record_batch({"n": pa.array(range(start, start + rows), pa.int64())})


def test_batches_arrive_in_order() -> None:
    channel = BoundedChannel(max_rows=100)
    pump(iter([batch(10, i * 10) for i in range(50)]), channel)
    values = [v for b in channel for v in b.column(0).to_pylist()]
    assert values == list(range(500))


def test_producer_waits_when_the_channel_is_full() -> None:
    channel = BoundedChannel(max_rows=20)
    produced: list[int] = []

    def produce() -> None:
        for i in range(5):
            channel.put(batch(10, i))
            produced.append(i)
        channel.close()

    threading.Thread(target=produce, daemon=True).start()
    deadline = time.monotonic() + 30
    while len(produced) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # room for a third put, which must wait
    assert produced == [0, 1]  # two batches of ten fill it; the third waits
    assert sum(b.num_rows for b in channel) == 50


def test_byte_bound_applies_as_well_as_rows() -> None:
    one = batch(1000)
    channel = BoundedChannel(max_rows=10**9, max_bytes=one.nbytes * 2)
    channel.put(one)
    channel.put(one)
    assert channel.buffered_bytes == 2 * one.nbytes
    waiter = threading.Thread(target=channel.put, args=(one,), daemon=True)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()
    channel.get()
    waiter.join(30)
    assert not waiter.is_alive()


def test_an_oversized_batch_still_passes_an_empty_channel() -> None:
    channel = BoundedChannel(max_rows=5)
    channel.put(batch(100))
    assert channel.get() is not None


def test_producer_error_reaches_the_consumer() -> None:
    def failing():  # type: ignore[no-untyped-def]
        yield batch(1)
        raise ValueError("source broke")

    channel = BoundedChannel()
    pump(failing(), channel)
    assert channel.get() is not None
    with pytest.raises(ValueError, match="source broke"):
        channel.get()


def test_abort_releases_a_blocked_producer() -> None:
    channel = BoundedChannel(max_rows=10)
    thread = pump(iter([batch(10) for _ in range(100)]), channel)
    channel.get()
    channel.abort()
    thread.join(30)
    assert not thread.is_alive()
