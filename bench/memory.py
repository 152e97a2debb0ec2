"""Peak memory as the table grows: conveyor's RSS must stay flat (and under 300 MB).

The same 10-column table at 2M and 10M rows, PostgreSQL → PostgreSQL and MariaDB →
PostgreSQL. Each run is one `conveyor run` process; its peak RSS is sampled with its
children's. Run alone: `python -m bench.memory`.
"""

from __future__ import annotations

from bench.common import Measurement, measure, report
from bench.servers import (
    DEST_DB,
    SOURCE_DB,
    conveyor_run,
    ensure_pg_database,
    mariadb_source,
    mariadb_url,
    pg_source,
    pg_url,
    psql,
)

SIZES = (2_000_000, 10_000_000)


def _run(name: str, source: str, table: str, rows: int) -> Measurement:
    psql(DEST_DB, f"DROP TABLE IF EXISTS {table}")
    measured = measure(name, conveyor_run(source, pg_url(DEST_DB), f"REPLICATE [{table}]"), rows)
    psql(DEST_DB, f"DROP TABLE IF EXISTS {table}")
    return measured


def main(sizes: tuple[int, ...] = SIZES, mariadb: bool = True) -> list[Measurement]:
    ensure_pg_database(DEST_DB, fresh=True)
    results = []
    for rows in sizes:
        table = pg_source(rows)
        results.append(_run(f"postgres→postgres {rows:,}", pg_url(SOURCE_DB), table, rows))
        if mariadb:
            table = mariadb_source(rows)
            results.append(_run(f"mariadb→postgres {rows:,}", mariadb_url(SOURCE_DB), table, rows))
    report("conveyor run peak memory as the table grows (bar: flat, < 300 MB)", results)
    return results


if __name__ == "__main__":
    main()
