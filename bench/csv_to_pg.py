"""CSV file → PostgreSQL: conveyor against `psql \\copy … CSV HEADER`.

The CSV is exported once from the generated PostgreSQL table; `psql \\copy` loads it into
a table declared by hand with the right types (the floor: no type inference, no Arrow).
conveyor reads the file with its CSV connector (types inferred) and bulk-loads the rows
by binary COPY. Run alone: `python -m bench.csv_to_pg [rows]`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

from bench.common import OUT, Measurement, measure, report
from bench.servers import (
    COLUMNS,
    DEST_DB,
    SOURCE_DB,
    best_of,
    conveyor_run,
    ensure_pg_database,
    pg_source,
    pg_url,
    psql,
    psql_command,
)

ROWS = 2_000_000


def export_csv(rows: int) -> tuple[str, str]:
    """The folder and table name of a CSV export of the generated table (made once)."""
    table = pg_source(rows)
    folder = OUT / "csv"
    path = folder / f"{table}.csv"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            command = psql_command(SOURCE_DB, f"COPY {table} TO STDOUT (FORMAT csv, HEADER)")
            subprocess.run(command, stdout=out, check=True)
        partial.rename(path)
    return str(folder), table


def main(rows: int = ROWS) -> list[Measurement]:
    folder, table = export_csv(rows)
    ensure_pg_database(DEST_DB, fresh=True)
    path = f"{folder}/{table}.csv"
    columns = COLUMNS.replace(" PRIMARY KEY", "")
    floor = best_of(
        lambda: measure(
            "psql \\copy … CSV HEADER",
            psql_command(DEST_DB, f"\\copy csv_floor FROM '{path}' (FORMAT csv, HEADER)"),
            rows,
        ),
        lambda: psql(
            DEST_DB, "DROP TABLE IF EXISTS csv_floor", f"CREATE TABLE csv_floor ({columns})"
        ),
    )
    ours = best_of(
        lambda: measure(
            "conveyor run csv→postgres",
            conveyor_run(f"file://{folder}?format=csv", pg_url(DEST_DB), f"REPLICATE [{table}]"),
            rows,
        ),
        lambda: psql(DEST_DB, f"DROP TABLE IF EXISTS {table}"),
    )
    results = [floor, ours]
    report(f"CSV → PostgreSQL, {rows:,} rows × 10 columns", results, reference=floor.name)
    shutil.rmtree(OUT / "csv_tmp", ignore_errors=True)
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
