"""history at scale: indexes for the run lists and the log lines

With a million runs and ten million log lines, every list orders and filters through
an index: runs by creation (the default order), by status, job name and workspace, and
by CData's RunStartDate (`coalesce(started_at, created_at)`, an expression index);
log lines by (run, id) for keyset paging and by time for retention.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

RUN_INDEXES = {
    "ix_runs_created": ["created_at", "id"],
    "ix_runs_status_created": ["status", "created_at"],
    "ix_runs_job_name_created": ["job_name", "created_at"],
    "ix_runs_workspace_created": ["workspace_id", "created_at"],
}


def upgrade() -> None:
    for name, columns in RUN_INDEXES.items():
        op.create_index(name, "runs", columns)
    op.create_index("ix_runs_run_start", "runs", [sa.text("coalesce(started_at, created_at)")])
    op.create_index("ix_run_logs_run_line", "run_logs", ["run_id", "id"])
    op.drop_index("ix_run_logs_run_id", table_name="run_logs")
    op.create_index("ix_run_logs_ts", "run_logs", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_run_logs_ts", table_name="run_logs")
    op.create_index("ix_run_logs_run_id", "run_logs", ["run_id"])
    op.drop_index("ix_run_logs_run_line", table_name="run_logs")
    op.drop_index("ix_runs_run_start", table_name="runs")
    for name in RUN_INDEXES:
        op.drop_index(name, table_name="runs")
