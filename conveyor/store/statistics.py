"""The query planner's statistics of an embedded (SQLite) store, kept current.

SQLite plans from `sqlite_stat1`, which only `ANALYZE` writes; a store nobody analyzes
has none, and the planner then guesses every indexed equality to be selective. With
200,000 runs it sorted every run of the connectors' jobs for Elastic's sync job list
(120 ms) instead of reading them in order through `ix_runs_created` (0.2 ms), and the
guess gets worse as the history grows. PostgreSQL's autovacuum analyzes on its own.

`refresh` samples each index (`analysis_limit`), so it takes milliseconds whatever the
size of the store; it runs after migrations and with every retention pass.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine

log = logging.getLogger(__name__)

ANALYSIS_LIMIT = 1000
"""Rows SQLite samples per index: enough for the planner, cheap on a million rows."""


def refresh(engine: Engine) -> None:
    """Re-analyze an SQLite store's tables for the planner (nothing for other stores)."""
    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as connection:
        connection.exec_driver_sql(f"PRAGMA analysis_limit={ANALYSIS_LIMIT}")
        connection.exec_driver_sql("ANALYZE")
    log.debug("store statistics refreshed")
