"""MariaDB → PostgreSQL: conveyor against `mysql --quick --batch | psql \\copy`.

The client pipe streams MariaDB's tab-separated batch output (NULL printed as `NULL`,
backslash escapes that PostgreSQL's text format shares) into `\\copy … FROM STDIN` of a
table with the same layout conveyor creates (primary key included). The bar: conveyor at
least 0.5× the pipe's speed. Run alone: `python -m bench.mariadb_to_pg [rows]`.
"""

from __future__ import annotations

import shlex
import sys

from bench.common import Measurement, measure, report
from bench.servers import (
    COLUMNS,
    DEST_DB,
    SOURCE_DB,
    best_of,
    conveyor_run,
    ensure_pg_database,
    mariadb_source,
    mariadb_url,
    mysql_command,
    pg_url,
    psql,
    psql_command,
)

ROWS = 2_000_000


def _pipe(table: str) -> list[str]:
    dump = [*mysql_command(SOURCE_DB, "--quick", "--batch", "--skip-column-names")]
    dump += ["-e", f"SELECT * FROM {table}"]
    load = psql_command(DEST_DB, "\\copy maria_pipe FROM STDIN (FORMAT text, NULL 'NULL')")
    quoted = shlex.join(dump) + " | " + shlex.join(load)
    return ["bash", "-o", "pipefail", "-c", quoted]


def main(rows: int = ROWS) -> list[Measurement]:
    table = mariadb_source(rows)
    ensure_pg_database(DEST_DB, fresh=True)
    columns = COLUMNS.replace("timestamptz", "timestamp")  # DATETIME has no zone
    pipe = best_of(
        lambda: measure("mysql --quick | psql \\copy", _pipe(table), rows),
        lambda: psql(
            DEST_DB, "DROP TABLE IF EXISTS maria_pipe", f"CREATE TABLE maria_pipe ({columns})"
        ),
    )
    ours = best_of(
        lambda: measure(
            "conveyor run mariadb→postgres",
            conveyor_run(mariadb_url(SOURCE_DB), pg_url(DEST_DB), f"REPLICATE [{table}]"),
            rows,
        ),
        lambda: psql(DEST_DB, f"DROP TABLE IF EXISTS {table}"),
    )
    results = [pipe, ours]
    report(f"MariaDB → PostgreSQL, {rows:,} rows × 10 columns", results, reference=pipe.name)
    print(f"conveyor speed / pipe speed: {pipe.seconds / ours.seconds:.2f} (bar: ≥ 0.5)")
    return results


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
