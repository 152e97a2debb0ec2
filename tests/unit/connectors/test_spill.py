"""Draining a reader that never waits: order kept, memory bounded, the rest on disk."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.mysql.spill import Spill

SCHEMA = pa.schema([("n", pa.int64()), ("s", pa.string())])


def batches(count: int, fail_after: int | None = None) -> Iterator[pa.RecordBatch]:
    for i in range(count):
        if fail_after is not None and i == fail_after:
            raise ValueError("the server went away")
        values = list(range(i * 100, (i + 1) * 100))
        yield pa.record_batch([values, [f"row {v}" for v in values]], schema=SCHEMA)


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def test_a_slow_consumer_gets_every_batch_in_order(scratch: Path) -> None:
    spill = Spill(batches(200), SCHEMA, memory_bytes=8_000, segment_bytes=20_000)
    seen = []
    for batch in spill:
        time.sleep(0.001)
        seen += batch.column("n").to_pylist()
    assert seen == list(range(20_000))
    assert spill.segments > 0  # the excess waited on disk
    assert list(scratch.iterdir()) == []  # in files unlinked from the start


def test_a_fast_consumer_never_touches_the_disk(scratch: Path) -> None:
    spill = Spill(batches(50), SCHEMA)
    assert sum(b.num_rows for b in spill) == 5_000
    assert spill.segments == 0


def test_a_batch_larger_than_the_memory_waits_in_memory_when_nothing_else_does() -> None:
    spill = Spill(batches(20), SCHEMA, memory_bytes=10)  # every batch is larger
    seen = []
    for batch in spill:
        seen.append(batch.num_rows)
        time.sleep(0.01)  # the consumer is slower: the others go to disk
    assert sum(seen) == 2_000
    assert spill.segments < 20


def test_a_failing_source_fails_after_the_batches_before_it(scratch: Path) -> None:
    seen = []
    with pytest.raises(ValueError, match="went away"):
        for batch in Spill(batches(100, fail_after=60), SCHEMA, memory_bytes=8_000):
            time.sleep(0.001)
            seen.append(batch.num_rows)
    assert sum(seen) == 6_000


def test_closing_stops_the_draining(scratch: Path) -> None:
    produced = 0

    def endless() -> Iterator[pa.RecordBatch]:
        nonlocal produced
        while True:
            produced += 1
            yield from batches(1)

    spill = Spill(endless(), SCHEMA, memory_bytes=8_000, segment_bytes=20_000)
    taken = iter(spill)
    for _ in range(5):
        next(taken)
    spill.close()
    time.sleep(0.5)
    stopped_at = produced
    time.sleep(0.5)
    assert produced == stopped_at  # the thread ended
    assert list(scratch.iterdir()) == []
