"""runs.job_type becomes runs.load: how a run loads (full | incremental)

`job_type` is the jobs' word for their type (standard, sync_all, …); a run's full or
incremental load gets a word of its own. The API keeps `job_type` on runs as an alias.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _rename(old: str, new: str) -> None:
    # Renamed in place (ALTER TABLE … RENAME COLUMN, on SQLite since 3.25), never by
    # batch's copy-and-drop: with foreign keys on, dropping `runs` on SQLite would delete
    # every run's log lines, task results and files through ON DELETE CASCADE.
    with op.batch_alter_table("runs", schema=None, recreate="never") as batch_op:
        batch_op.alter_column(
            old,
            new_column_name=new,
            existing_type=sa.String(length=20),
            existing_nullable=False,
        )


def upgrade() -> None:
    _rename("job_type", "load")


def downgrade() -> None:
    _rename("load", "job_type")
