"""The query planner's statistics of an embedded (SQLite) store, kept current.

SQLite plans from `sqlite_stat1`, which only `ANALYZE` writes; a store nobody analyzes
has none, and the planner then guesses every indexed equality to be selective. With
200,000 runs it sorted every run of the connectors' jobs for Elastic's sync job list
(120 ms) instead of reading them in order through `ix_runs_created` (0.2 ms), and the
guess gets worse as the history grows. PostgreSQL's autovacuum analyzes on its own.

`refresh` runs after migrations and with every retention pass. It analyzes a table
when it has no statistics or has doubled since it was analyzed: the whole table, since
a sampled `ANALYZE` (`analysis_limit`) counts a prefix of each index and misleads the
planner worse than none. An analysis holds the write lock while it reads the table
(about 0.2 s per 200,000 runs), so it happens once per doubling, not on every pass.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, func, literal_column, select

from conveyor.store.models import Base

log = logging.getLogger(__name__)

GROWTH = 2
"""A table is analyzed again once it holds this many times the rows it was analyzed with."""
SMALL = 1000
"""Below this many rows a table's statistics do not matter to the planner."""


def _analyzed_rows(connection: Connection, table: str) -> int | None:
    """The rows `table` held when it was last analyzed (None: never)."""
    has_stats = connection.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'"
    ).scalar()
    if not has_stats:
        return None
    stat = connection.exec_driver_sql(
        "SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1", (table,)
    ).scalar()
    return int(str(stat).split()[0]) if stat else None


def stale(connection: Connection) -> list[str]:
    """The tables whose statistics are missing or out of date."""
    found = []
    for table in Base.metadata.sorted_tables:
        # The highest rowid bounds the row count, read from the end of the table's b-tree.
        rows = connection.scalar(select(func.max(literal_column("rowid"))).select_from(table))
        rows = rows or 0
        analyzed = _analyzed_rows(connection, table.name)
        if rows >= SMALL and (analyzed is None or rows > GROWTH * analyzed):
            found.append(table.name)
    return found


def refresh(engine: Engine) -> None:
    """Analyze an SQLite store's tables whose statistics are missing or out of date
    (nothing for other stores)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        tables = stale(connection)
        connection.rollback()
    for table in tables:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'ANALYZE "{table}"')
        log.info("store statistics refreshed for %s", table)
