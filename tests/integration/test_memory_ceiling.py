"""Memory stays flat: the RSS of a `conveyor run` process is sampled while it streams a
2M-row, 10-column PostgreSQL table into PostgreSQL, and its peak must stay under a ceiling.

The table is the benchmarks' (`bench/tables.py`), generated server-side with
generate_series, so seeding takes seconds. At 2M rows the data is several hundred MB in
Arrow form: a load that buffered the table instead of streaming it could not stay under
the ceiling.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from bench.tables import COLUMNS, PG_ROWS
from tests.services import fresh_pg_database

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("memory_ceiling"),
    pytest.mark.timeout(600),  # 2M rows generated, copied and counted on a loaded machine
]

ROWS = 2_000_000
CEILING_MB = 300  # the bar of the README's "memory stays flat" (issue 17)


def _rss_kib(pid: int) -> int:
    """Resident memory of a process and its descendants, from /proc (0 once it is gone)."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
        pending.extend(int(child) for child in children)
    return total


class PeakSampler:
    """Samples a process's RSS every 20 ms until it ends; keeps the peak and the count."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = _rss_kib(self.pid)
            if rss:
                self.peak_kib = max(self.peak_kib, rss)
                self.samples += 1
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def test_a_2m_row_copy_streams_under_the_memory_ceiling() -> None:
    with (
        fresh_pg_database("conveyor_rss_src") as source,
        fresh_pg_database("conveyor_rss_dst") as destination,
    ):
        with psycopg.connect(source, autocommit=True) as db:
            db.execute(f"CREATE TABLE big ({COLUMNS})")
            db.execute(PG_ROWS.format(table="big", rows=ROWS))
            db.execute("ANALYZE big")
        command = [sys.executable, "-m", "conveyor.cli", "run", "--source", source]
        command += ["--destination", destination, "REPLICATE [big]"]
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sampler = PeakSampler(process.pid)
        output = process.communicate(timeout=450)[0].decode(errors="replace")
        sampler.stop()
        seconds = time.monotonic() - started
        assert process.returncode == 0, output
        with psycopg.connect(destination) as db:
            row = db.execute("SELECT count(*), count(DISTINCT id), sum(qty) FROM big").fetchone()
        assert row == (ROWS, ROWS, sum(i % 50 for i in range(1, ROWS + 1))), row
        peak_mb = sampler.peak_kib / 1024
        print(
            f"{ROWS:,} rows in {seconds:.1f}s, peak RSS {peak_mb:.0f} MB ({sampler.samples} samples)"
        )
        assert sampler.samples >= 25, f"only {sampler.samples} samples in {seconds:.1f}s"
        assert peak_mb < CEILING_MB, f"peak RSS {peak_mb:.0f} MB (ceiling {CEILING_MB} MB)"
