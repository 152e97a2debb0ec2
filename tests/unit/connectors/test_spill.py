"""Draining a reader that never waits: order kept, memory bounded, the rest on disk."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.spill import spilled

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


def files(root: Path) -> int:
    return sum(len(names) for _, _, names in os.walk(root))


def test_a_slow_consumer_gets_every_batch_in_order_and_the_files_go(scratch: Path) -> None:
    seen, most = [], 0
    for batch in spilled(batches(200), SCHEMA, memory_bytes=8_000, segment_bytes=20_000):
        time.sleep(0.001)
        most = max(most, files(scratch))
        seen += batch.column("n").to_pylist()
    assert seen == list(range(20_000))
    assert most > 0  # the excess went to disk
    assert list(scratch.iterdir()) == []


def test_a_fast_consumer_never_touches_the_disk(scratch: Path) -> None:
    seen = [b.num_rows for b in spilled(batches(50), SCHEMA)]
    assert sum(seen) == 5_000
    assert list(scratch.iterdir()) == []


def test_a_failing_source_fails_after_the_batches_before_it(scratch: Path) -> None:
    seen = []
    with pytest.raises(ValueError, match="went away"):
        for batch in spilled(batches(100, fail_after=60), SCHEMA, memory_bytes=8_000):
            time.sleep(0.001)
            seen.append(batch.num_rows)
    assert sum(seen) == 6_000
    assert list(scratch.iterdir()) == []


def test_closing_early_stops_the_draining_and_removes_the_files(scratch: Path) -> None:
    def endless() -> Iterator[pa.RecordBatch]:
        i = 0
        while True:
            yield from batches(1)
            i += 1

    reader = spilled(endless(), SCHEMA, memory_bytes=8_000, segment_bytes=20_000)
    for _ in range(5):
        next(reader)
        time.sleep(0.05)
    reader.close()
    time.sleep(0.1)
    assert list(scratch.iterdir()) == []
