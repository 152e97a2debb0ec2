"""PostgreSQL → Parquet: conveyor against the floors of the same export.

DuckDB's `COPY (FROM postgres_scan(…)) TO 'x.parquet'` needs its postgres extension, which
is downloaded at run time and cannot be had offline here; the references are therefore
(1) the server's own text export, `psql COPY … TO STDOUT (FORMAT csv)` into a file, and
(2) the bare-library floor: ADBC's PostgreSQL reader straight into pyarrow's
ParquetWriter (numerics converted to decimals, as conveyor does). Run alone:
`python -m bench.pg_to_parquet [rows]`.
"""

from __future__ import annotations

import shlex
import shutil
import sys

from bench.common import OUT, Measurement, measure, report
from bench.servers import SOURCE_DB, best_of, conveyor_run, pg_source, pg_url, psql_command

ROWS = 2_000_000
FLOOR = """
import sys, pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
import adbc_driver_postgresql.dbapi as adbc
con = adbc.connect(sys.argv[1]); cur = con.cursor()
cur.execute("SELECT * FROM " + sys.argv[2])
reader = cur.fetch_record_batch()
def plain(batch):
    cols = [c.storage if isinstance(c.type, pa.BaseExtensionType) else c for c in batch.columns]
    i = batch.schema.get_field_index("amount")
    cols[i] = pc.cast(cols[i], pa.decimal128(12, 2))
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)
first = plain(reader.read_next_batch())
with pq.ParquetWriter(sys.argv[3], first.schema) as writer:
    writer.write_batch(first)
    for batch in reader:
        writer.write_batch(plain(batch))
cur.close(); con.close()
"""


def main(rows: int = ROWS) -> list[Measurement]:
    table = pg_source(rows)
    folder = OUT / "pg_parquet"
    csv_path = OUT / "pg_export.csv"

    def clean() -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    text = best_of(
        lambda: measure(
            "psql COPY TO STDOUT (csv) > file",
            [
                "bash",
                "-c",
                shlex.join(psql_command(SOURCE_DB, f"COPY {table} TO STDOUT (FORMAT csv)"))
                + f" > {shlex.quote(str(csv_path))}",
            ],
            rows,
        ),
        clean,
    )
    floor = best_of(
        lambda: measure(
            "floor: ADBC → ParquetWriter",
            [sys.executable, "-c", FLOOR, pg_url(SOURCE_DB), table, str(folder / "floor.parquet")],
            rows,
        ),
        clean,
    )
    ours = best_of(
        lambda: measure(
            "conveyor run postgres→parquet",
            conveyor_run(
                pg_url(SOURCE_DB), f"file://{folder}?format=parquet", f"REPLICATE [{table}]"
            ),
            rows,
        ),
        clean,
    )
    results = [text, floor, ours]
    report(f"PostgreSQL → Parquet, {rows:,} rows × 10 columns", results, reference=floor.name)
    csv_path.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
