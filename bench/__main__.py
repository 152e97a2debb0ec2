"""`make bench`: run every benchmark and print its figures.

The database-server benchmarks need the local PostgreSQL and MariaDB (see
`bench/servers.py` for the addresses); when one cannot be reached they are skipped with
the reason. `CONVEYOR_BENCH_LARGE=0` skips the 10M-row memory runs. Each module also
runs alone: `python -m bench.incremental`, `python -m bench.latency`, `python -m bench.chaos`,
`python -m bench.api_load`, `python -m bench.cdc_pg` (`--quick`: 15 s, 100k changes),
`python -m bench.console_pages`, `python -m bench.history_scale` (`--runs` for a quick run, `--cache` to keep
the seeded stores between runs; `CONVEYOR_BENCH_LARGE=0` seeds 100,000 runs instead of
1,000,000 here).
"""

from __future__ import annotations

import os
import subprocess

from bench import (
    api_load,
    cdc_pg,
    chaos,
    console_pages,
    csv_to_pg,
    export_zip,
    history_scale,
    incremental,
    latency,
    mariadb_to_pg,
    memory,
    pg_to_parquet,
    pg_to_pg,
    sqlite_to_parquet,
)
from bench.servers import mysql, psql


def _reachable(name: str, probe: object) -> bool:
    try:
        probe()  # type: ignore[operator]
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        print(f"\n## skipped: {name} is not reachable ({exc})")
        return False
    return True


def main() -> None:
    sqlite_to_parquet.main()
    incremental.main()
    export_zip.main()
    postgres = _reachable("PostgreSQL", lambda: psql("postgres", "SELECT 1"))
    mariadb = _reachable("MariaDB", lambda: mysql(None, "SELECT 1"))
    if postgres:
        pg_to_pg.main()
        csv_to_pg.main()
        pg_to_parquet.main()
    if postgres and mariadb:
        mariadb_to_pg.main()
    api_load.main(("sqlite", "postgres") if postgres else ("sqlite",))
    large = os.environ.get("CONVEYOR_BENCH_LARGE", "1") != "0"
    history_scale.main(
        ("sqlite", "postgres") if postgres else ("sqlite",),
        runs=1_000_000 if large else 100_000,
    )
    console_pages.main(("sqlite", "postgres") if postgres else ("sqlite",))
    if postgres:
        latency.main()
        chaos.main()
        cdc_pg.main(quick=os.environ.get("CONVEYOR_BENCH_LARGE", "1") == "0")
    if postgres and os.environ.get("CONVEYOR_BENCH_LARGE", "1") != "0":
        memory.main(mariadb=mariadb)


if __name__ == "__main__":
    main()
