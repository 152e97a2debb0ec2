"""counters: totals that only grow (rows and bytes written), kept apart from the runs

`/metrics` exported `conveyor_rows_written` and `conveyor_bytes_written` as Prometheus
counters but summed them over the runs in the store, so they went down whenever runs
were deleted. They are now kept in this table, added to as runs report their writes.
Each starts at the sum over the runs the store holds, so the exported value carries on.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    counters = op.create_table(
        "counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    runs = sa.table("runs", sa.column("rows_written"), sa.column("bytes_written"))
    totals = (
        op.get_bind()
        .execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(runs.c.rows_written), 0),
                sa.func.coalesce(sa.func.sum(runs.c.bytes_written), 0),
            )
        )
        .one()
    )
    op.bulk_insert(
        counters,
        [
            {"name": "rows_written", "value": int(totals[0])},
            {"name": "bytes_written", "value": int(totals[1])},
        ],
    )


def downgrade() -> None:
    op.drop_table("counters")
