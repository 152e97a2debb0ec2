"""The benches' generated source table, apart from their tooling (no psutil): the memory
ceiling test in tests/ streams the same table the benches measure."""

from __future__ import annotations

__all__ = ["COLUMNS", "PG_ROWS"]

COLUMNS = (
    "id bigint PRIMARY KEY, customer_id integer, amount numeric(12,2), qty smallint,"
    " ratio double precision, label text, flag boolean, created_at timestamptz, day date,"
    " note text"
)
PG_ROWS = """
INSERT INTO {table} SELECT i, i % 100000, (i % 1000000) / 100.0, i % 50, (i % 997) / 7.0,
  'label-' || (i % 5000), i % 2 = 0, to_timestamp(1700000000 + i), date '2020-01-01' + (i % 3000),
  CASE WHEN i % 10 = 0 THEN NULL ELSE 'ünïcode note ' || i END
FROM generate_series(1, {rows}) i
"""
