"""5M-row SQLite table → Parquet with `conveyor run`: throughput and flat memory.

Compared with the floor of the same work done by the bare libraries (ADBC's SQLite
reader straight into pyarrow's Parquet writer, no engine), so the ratio shows what the
engine costs on top of the physical path.
"""

from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

from bench.common import OUT, Measurement, measure, report

ROWS = 5_000_000
FLOOR = """
import sys, pyarrow.parquet as pq, adbc_driver_sqlite.dbapi as ad
con = ad.connect(sys.argv[1]); cur = con.cursor()
cur.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": "65536"})
cur.execute("SELECT id, customer_id, CAST(amount AS TEXT) AS amount, qty, ratio, label, flag, created_at, day, note FROM big")
reader = cur.fetch_record_batch()
with pq.ParquetWriter(sys.argv[2], reader.schema) as writer:
    for batch in reader:
        writer.write_batch(batch)
"""


def make_source(path: Path, rows: int) -> None:
    """A 10-column table of mixed types (built once, then reused)."""
    if path.exists():
        return
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    db = sqlite3.connect(tmp)
    db.execute(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, customer_id INTEGER, amount DECIMAL(12,2), qty INTEGER, "
        "ratio REAL, label TEXT, flag BOOLEAN, created_at TIMESTAMP, day DATE, note TEXT)"
    )
    db.execute(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO big SELECT i, i % 100000, (i % 1000000) / 100.0, i % 50, (i % 997) / 7.0,
            'label-' || (i % 5000), i % 2, datetime(1700000000 + i, 'unixepoch'),
            date(1700000000 + i * 10, 'unixepoch'), CASE WHEN i % 10 = 0 THEN NULL ELSE 'ünïcode note ' || i END
        FROM n
        """
    )
    db.commit()
    db.close()
    tmp.rename(path)


def main(rows: int = ROWS) -> list[Measurement]:
    OUT.mkdir(exist_ok=True)
    source = OUT / f"big_{rows}.db"
    make_source(source, rows)
    target = OUT / "parquet"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    conveyor = measure(
        "conveyor run sqlite→parquet",
        [
            sys.executable,
            "-m",
            "conveyor.cli",
            "run",
            "--source",
            f"sqlite:///{source}",
            "--destination",
            f"file://{target}?format=parquet",
            "REPLICATE [big]",
        ],
        rows,
    )
    floor = measure(
        "floor: ADBC → ParquetWriter",
        [sys.executable, "-c", FLOOR, str(source), str(OUT / "floor.parquet")],
        rows,
    )
    results = [floor, conveyor]
    report(f"SQLite → Parquet, {rows:,} rows × 10 columns", results, reference=floor.name)
    print(f"peak RSS of conveyor run: {conveyor.peak_rss_mb:.0f} MB (bar: under 300 MB)")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
