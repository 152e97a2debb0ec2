"""pipelines: named graphs of jobs run as one, their runs, and the run of each step

A pipeline (`pipelines`) orders jobs of a workspace, each step waiting for the steps it
depends on; a pipeline run (`pipeline_runs`) records each step's state and run, and a
job's run that is a step names its pipeline run (`runs.pipeline_run_id`).

A job's `pipeline_id` (CData v2's `Pipeline Id`) was free text until now. It must now
name a real pipeline of the job's workspace, so each value already stored becomes a
pipeline of that name, in that workspace, whose steps are the jobs that named it (by
name): nothing stored is lost, and every stored value refers to a pipeline.

Revision ID: 0018
Revises: 0017
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

import conveyor.store.models

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

UTC = conveyor.store.models.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pipelines",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("on_error", sa.String(length=20), nullable=False),
        sa.Column("schedule_enabled", sa.Boolean(), nullable=False),
        sa.Column("schedule_cron", sa.String(length=200), nullable=False),
        sa.Column("schedule_since", UTC, nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_pipelines_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipelines")),
    )
    with op.batch_alter_table("pipelines", schema=None) as batch_op:
        batch_op.create_index("uq_pipelines_workspace_name", ["workspace_id", "name"], unique=True)
        batch_op.create_index(
            batch_op.f("ix_pipelines_workspace_id"), ["workspace_id"], unique=False
        )

    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("pipeline_id", sa.String(length=64), nullable=False),
        sa.Column("pipeline_name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("on_error", sa.String(length=20), nullable=False),
        sa.Column("trigger_method", sa.String(length=20), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("completed_at", UTC, nullable=True),
        sa.Column("canceled_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_pipeline_runs_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_pipeline_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pipeline_runs_pipeline_created", ["pipeline_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_pipeline_runs_workspace_id"), ["workspace_id"], unique=False
        )

    # In place (ALTER TABLE), never batch's copy-and-drop of `runs` (see 0016).
    with op.batch_alter_table("runs", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("pipeline_run_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_runs_pipeline_run_id"), ["pipeline_run_id"], unique=False
        )
    _adopt_stored_pipeline_ids()


def _adopt_stored_pipeline_ids() -> None:
    """Each (workspace, pipeline_id) already stored on jobs becomes a pipeline of that name."""
    bind = op.get_bind()
    jobs = sa.table(
        "jobs",
        sa.column("id", sa.String),
        sa.column("workspace_id", sa.String),
        sa.column("name", sa.String),
        sa.column("pipeline_id", sa.String),
    )
    pipelines = sa.table(
        "pipelines",
        sa.column("id", sa.String),
        sa.column("workspace_id", sa.String),
        sa.column("name", sa.String),
        sa.column("steps", sa.JSON),
        sa.column("on_error", sa.String),
        sa.column("schedule_enabled", sa.Boolean),
        sa.column("schedule_cron", sa.String),
        sa.column("created_at", UTC),
        sa.column("updated_at", UTC),
    )
    rows = bind.execute(
        sa.select(jobs.c.id, jobs.c.workspace_id, jobs.c.pipeline_id)
        .where(jobs.c.pipeline_id.is_not(None), jobs.c.pipeline_id != "")
        .order_by(jobs.c.workspace_id, jobs.c.pipeline_id, jobs.c.name)
    ).all()
    grouped: dict[tuple[str, str], list[str]] = {}
    for job_id, workspace_id, pipeline_id in rows:
        grouped.setdefault((workspace_id, pipeline_id), []).append(job_id)
    now = dt.datetime.now(dt.UTC)
    for (workspace_id, name), job_ids in grouped.items():
        new_id = str(uuid.uuid4())
        bind.execute(
            pipelines.insert().values(
                id=new_id,
                workspace_id=workspace_id,
                name=name,
                steps=[{"job_id": job_id, "depends_on": None} for job_id in job_ids],
                on_error="stop",
                schedule_enabled=False,
                schedule_cron="",
                created_at=now,
                updated_at=now,
            )
        )
        bind.execute(jobs.update().where(jobs.c.id.in_(job_ids)).values(pipeline_id=new_id))
    bind.execute(jobs.update().where(jobs.c.pipeline_id == "").values(pipeline_id=None))


def downgrade() -> None:
    with op.batch_alter_table("runs", recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_pipeline_run_id"))
        batch_op.drop_column("pipeline_run_id")
    op.drop_table("pipeline_runs")
    op.drop_table("pipelines")
