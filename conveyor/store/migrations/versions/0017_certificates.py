"""certificates: trusted CAs and client certificates that connections name for TLS

Admins store them (CData's `/certificates`, `/api/v1/certificates`); a client
certificate's private key is sealed like a connection's secrets.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import conveyor.store.models

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("sealed_private_key", sa.Text(), nullable=True),
        sa.Column("created_at", conveyor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", conveyor.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_certificates_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("name", name=op.f("uq_certificates_name")),
    )
    op.create_index(
        op.f("ix_certificates_workspace_id"), "certificates", ["workspace_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_certificates_workspace_id"), table_name="certificates")
    op.drop_table("certificates")
