"""Which REPLICATE statements a change data capture job can follow from the log.

A change is one row of one table: a task can map it (choose and rename columns, compute
from the row's own values) and filter it (a WHERE on the row's own columns), but a join,
an aggregate, a grouping, a window or a subquery needs other rows, which the log does not
carry. Refused at task creation (400), never at run time.
"""

from __future__ import annotations

from sqlglot import exp

from conveyor.engine.replicate import ReplicateStatement

__all__ = ["CDC_SOURCES", "problem"]

CDC_SOURCES = {"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB"}
"""The connectors (registry names) whose log a change data capture job reads, with the
names users know them by."""

_OTHER_ROWS = (
    exp.Join,
    exp.AggFunc,
    exp.Group,
    exp.Having,
    exp.Window,
    exp.Distinct,
    exp.Subquery,
    exp.Union,
    exp.Order,
    exp.Limit,
    exp.With,
    exp.Lateral,
)


def problem(statement: ReplicateStatement) -> str | None:
    """Why the statement cannot be followed from the log, or None when it can."""
    if statement.replicate_all:
        return "change data capture tasks name their tables: REPLICATE ALL is not supported"
    select = statement.select
    if select is None:
        return None
    if not isinstance(select, exp.Select):
        return "change data capture tasks read one table: set operations are not supported"
    for node in select.walk():
        if isinstance(node, _OTHER_ROWS) or (isinstance(node, exp.Select) and node is not select):
            kind = "aggregate" if isinstance(node, exp.AggFunc) else type(node).__name__.lower()
            return (
                "change data capture follows each row on its own: a task may choose columns "
                f"and filter on the row's own values, but not use a {kind}"
            )
    tables = list(select.find_all(exp.Table))
    if len(tables) != 1:
        return "change data capture tasks read exactly one table"
    return None
