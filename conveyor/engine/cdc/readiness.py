"""Whether a connection's log could feed a change data capture job, for a connection test.

The same checks a CDC run makes at its start (PostgreSQL: `wal_level = logical` and the
REPLICATION attribute; MySQL/MariaDB: `log_bin`, `binlog_format = ROW`,
`binlog_row_image = FULL` and the replication grants), answered before any job exists,
with the message saying what to set.
"""

from __future__ import annotations

from typing import Any

from conveyor.errors import ConveyorError

__all__ = ["log_problem"]


def log_problem(connector: Any) -> str | None:
    """What to set on the source before a CDC job can read its log; None when ready.
    Connectors without a log a job can follow are not asked (ValueError)."""
    from conveyor.connectors.mysql.connector import MySQLConnector
    from conveyor.connectors.postgres.session import PostgresSession

    try:
        if isinstance(connector, MySQLConnector):
            from conveyor.engine.cdc.binlog import check_server

            session = connector.session()
            try:
                check_server(session)
            finally:
                session.close()
        elif isinstance(connector, PostgresSession):
            from conveyor.engine.cdc.slot import Slot

            slot = Slot(connector.conninfo(), "conveyor_check")
            try:
                slot.check_server()
            finally:
                slot.close()
        else:
            raise ValueError(f"{type(connector).__name__} has no log to follow")
    except ConveyorError as exc:
        return exc.message
    return None
