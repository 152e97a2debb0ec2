"""elastic security: roles and users made through Elasticsearch's security API

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import conveyor.store.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "elastic_roles",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("created_at", conveyor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", conveyor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_elastic_roles")),
    )
    op.create_table(
        "elastic_users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_elastic_users_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_elastic_users")),
    )


def downgrade() -> None:
    op.drop_table("elastic_users")
    op.drop_table("elastic_roles")
