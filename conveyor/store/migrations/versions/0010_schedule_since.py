"""jobs.schedule_since, transformations.schedule_since: when a schedule became effective

Enabling a schedule (or changing its cron) must never fire a tick that passed before it;
the scheduler compares fire times with this column instead of the row's creation time.
Existing rows get their creation time, which is what the scheduler used until now.

Columns are added and dropped in place (ALTER TABLE), never through batch's copy-and-drop:
with foreign keys on, dropping `jobs` on SQLite would delete every run of every job
through ON DELETE CASCADE.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLES = ("jobs", "transformations")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("schedule_since", sa.DateTime(timezone=True), nullable=True))
        rows = sa.table(table, sa.column("created_at"), sa.column("schedule_since"))
        op.execute(rows.update().values(schedule_since=rows.c.created_at))


def downgrade() -> None:
    for table in TABLES:
        op.drop_column(table, "schedule_since")
