"""Incremental run with 1% changed rows against a full copy of the same 1M-row table.

Bar (DESIGN.md §8): the incremental run takes under 10% of the full-copy time. Both runs
execute the engine in one process that has already imported it — as a worker's run
process does (it is forked from a preloaded forkserver) — so interpreter start-up, the
same for both, does not blur the ratio. SQLite → DuckDB, hard deletes detected.
"""

from __future__ import annotations

import shutil
import sqlite3
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import OUT

ROWS = 1_000_000
ROUNDS = 3


def make_source(path: Path, rows: int) -> None:
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE facts (id INTEGER PRIMARY KEY, account INTEGER, amount DECIMAL(12,2), label TEXT, "
        "ratio REAL, updated_at TIMESTAMP)"
    )
    db.execute("CREATE INDEX facts_updated ON facts (updated_at)")
    db.execute(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO facts SELECT i, i % 5000, (i % 100000) / 100.0, 'label ' || (i % 977), (i % 13) / 7.0,
            datetime(1700000000 + i, 'unixepoch') FROM n
        """
    )
    db.commit()
    db.close()


def change_one_percent(path: Path, round_: int) -> int:
    """Update 1% of the rows (a different 1% each round), moving their cursor forward."""
    db = sqlite3.connect(path)
    changed = db.execute(
        "UPDATE facts SET amount = amount + 1,"
        " updated_at = datetime(? + id, 'unixepoch') WHERE id % 100 = ?",
        (1_800_000_000 + round_ * 10_000_000, round_),
    ).rowcount
    db.commit()
    db.close()
    return changed


def run_once(
    source: Path, destination: str, state: dict[str, Any]
) -> tuple[float, int, dict[str, Any]]:
    from conveyor.domain import EngineSettings, RunLoad
    from conveyor.engine import runner
    from conveyor.engine.reporting import NullReporter
    from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec

    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        job_id="bench",
        job_name="bench",
        job_type="standard",
        load=RunLoad.incremental,
        settings=EngineSettings(incremental_check_columns=["updated_at"]),
        source=Endpoint(f"sqlite:///{source}"),
        destination=Endpoint(destination),
        tasks=(TaskSpec(id="t", position=0, query="REPLICATE [facts]", state=state),),
    )
    reporter = NullReporter()
    started = time.perf_counter()
    outcome = runner.execute(spec, reporter, threading.Event())
    elapsed = time.perf_counter() - started
    assert outcome.status.value == "completed", outcome.error
    return elapsed, outcome.rows_read, reporter.states.get("t", state)


def same_rows(source: Path, destination: Path) -> None:
    """The destination holds exactly the source's rows (a fast run that is wrong is no run)."""
    import duckdb

    summary = (
        "SELECT count(*), sum(id), sum(account), sum(amount * 100), max(updated_at) FROM facts"
    )
    db = sqlite3.connect(source)
    try:
        count, ids, accounts, cents, latest = db.execute(summary).fetchone()
    finally:
        db.close()
    with duckdb.connect(str(destination), read_only=True) as con:
        found = con.execute(summary).fetchone()
    assert found is not None
    expected = (count, ids, accounts, round(cents), latest)
    assert (*found[:3], int(found[3]), str(found[4])) == expected, (found, expected)


def main(rows: int = ROWS, rounds: int = ROUNDS) -> float:
    import conveyor.engine.runner  # noqa: F401 - imported up front, as in a preloaded run process

    OUT.mkdir(exist_ok=True)
    work = OUT / "incremental"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    source = work / "source.db"
    make_source(source, rows)
    print(f"\n## SQLite → DuckDB, {rows:,} rows; incremental runs with 1% of the rows changed")
    print(f"{'round':<6} {'what':<22} {'seconds':>8} {'rows read':>12} {'rows/s':>12}")
    fulls: list[float] = []
    incrementals: list[float] = []
    for round_ in range(1, rounds + 1):
        destination = work / f"dest{round_}.duckdb"
        full, full_rows, state = run_once(source, f"duckdb:///{destination}", {})
        same_rows(source, destination)
        changed = change_one_percent(source, round_)
        incremental, read, state = run_once(source, f"duckdb:///{destination}", state)
        # the row at the stored cursor is read again (the lower bound is inclusive, so a
        # row committed later with the same cursor value is never skipped)
        assert changed <= read <= changed + 1, (read, changed)
        same_rows(source, destination)
        fulls.append(full)
        incrementals.append(incremental)
        print(
            f"{round_:<6} {'full copy':<22} {full:>8.2f} {full_rows:>12,} {full_rows / full:>12,.0f}"
        )
        print(
            f"{round_:<6} {'incremental':<22} {incremental:>8.2f} {read:>12,} {read / incremental:>12,.0f}"
        )
    full, incremental = statistics.median(fulls), statistics.median(incrementals)
    share = incremental / full
    print(
        f"median of {rounds}: full {full:.2f} s, incremental {incremental:.3f} s;"
        f" incremental / full = {share:.1%} (bar: under 10%)"
    )
    return share


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
