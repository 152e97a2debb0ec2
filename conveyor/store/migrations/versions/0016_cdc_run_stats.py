"""change data capture: rows inserted and updated, and where the log was left, per run and task

A CDC run counts the source's inserts and updates apart (`rows_inserted`,
`rows_updated`, beside `rows_deleted`), and each of its tasks records where its table
stands in the source's log (`cdc`: position, lag_seconds, retained_bytes) as the run
goes; the run shows the least advanced of its tasks, and a job's status its latest run's.
The position the destination committed up to is kept in each task's state (task_states).

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("runs", "run_tasks")
# Columns are added and dropped in place (ALTER TABLE, on SQLite too: DROP COLUMN since
# 3.35), never by batch's copy-and-drop: on SQLite that loses the expression index
# ix_runs_run_start, and with foreign keys on, dropping `runs` would delete every run's
# log lines, task results and files through ON DELETE CASCADE.


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="never") as batch:
            for name in ("rows_inserted", "rows_updated"):
                batch.add_column(
                    sa.Column(name, sa.BigInteger(), nullable=False, server_default="0")
                )
            batch.add_column(sa.Column("cdc", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, recreate="never") as batch:
            for name in ("cdc", "rows_updated", "rows_inserted"):
                batch.drop_column(name)
