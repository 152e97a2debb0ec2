"""what connections and events may reach: workspace folders, admin-configured connections

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("allowed_paths", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        # Connections stored before the policy existed are not trusted as an admin's:
        # an admin saves one again to let it reach what only admins may.
        batch_op.add_column(
            sa.Column("admin_configured", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column(
                "allow_external_access", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )

    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "events_admin_configured", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("events_admin_configured")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_column("allow_external_access")
        batch_op.drop_column("admin_configured")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("allowed_paths")
