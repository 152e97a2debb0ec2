"""run counts kept by triggers; indexes for a task's history and a job's runs by status

A runs list answers its total, and with a million runs counting them took 50-75 ms on
either store (every entry of an index read), as did counting the 200,000 in one status.
`run_counts` holds the number of runs per (workspace, job, status) — `job_id` is '' for
a transformation's runs — and triggers on `runs` keep it exact whatever changes a run:
the services, the queue's SQL, retention, the cascades of a deleted job or workspace.
A list filtered by nothing but those columns sums a few rows instead.

The counts start from the runs the store holds.

Indexes: a task's history (newest first, by id) read 10,000 task results to sort them
(65 ms); a job's runs by name and status (CData's `JobName eq … and Status eq …`
counted) read every run of the job (35 ms); and 0012's runs (job_id, status) gains the
load, so that Elastic's sync jobs of a connector by job type are counted from the index
alone instead of reading each of the connector's runs (25-110 ms for 10,000).

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

ADD = (
    "INSERT INTO run_counts (workspace_id, job_id, status, runs)"
    " VALUES (NEW.workspace_id, coalesce(NEW.job_id, ''), NEW.status, 1)"
    " ON CONFLICT (workspace_id, job_id, status) DO UPDATE SET runs = run_counts.runs + 1;"
)
REMOVE = (
    "UPDATE run_counts SET runs = runs - 1 WHERE workspace_id = OLD.workspace_id"
    " AND job_id = coalesce(OLD.job_id, '') AND status = OLD.status;"
)
CHANGED = (
    "OLD.status {ne} NEW.status OR OLD.workspace_id {ne} NEW.workspace_id"
    " OR OLD.job_id {ne} NEW.job_id"
)
SQLITE = (
    f"CREATE TRIGGER run_counts_insert AFTER INSERT ON runs BEGIN {ADD} END",
    f"CREATE TRIGGER run_counts_delete AFTER DELETE ON runs BEGIN {REMOVE} END",
    "CREATE TRIGGER run_counts_update AFTER UPDATE OF workspace_id, job_id, status ON runs"
    f" WHEN {CHANGED.format(ne='IS NOT')} BEGIN {REMOVE} {ADD} END",
)
UPSERT = """INSERT INTO run_counts (workspace_id, job_id, status, runs)
    SELECT workspace_id, job_id, status, sum(runs) FROM ({}) AS deltas
    GROUP BY workspace_id, job_id, status HAVING sum(runs) <> 0
    ORDER BY workspace_id, job_id, status
    ON CONFLICT (workspace_id, job_id, status) DO UPDATE SET runs = run_counts.runs + excluded.runs"""
DELTAS = {
    "insert": "SELECT workspace_id, coalesce(job_id, '') AS job_id, status, 1 AS runs FROM new_runs",
    "delete": "SELECT workspace_id, coalesce(job_id, '') AS job_id, status, -1 AS runs FROM old_runs",
    "update": """SELECT o.workspace_id, coalesce(o.job_id, '') AS job_id, o.status, -1 AS runs
        FROM old_runs AS o JOIN new_runs AS n ON n.id = o.id
        WHERE (o.workspace_id, o.job_id, o.status) IS DISTINCT FROM (n.workspace_id, n.job_id, n.status)
        UNION ALL
        SELECT n.workspace_id, coalesce(n.job_id, ''), n.status, 1
        FROM old_runs AS o JOIN new_runs AS n ON n.id = o.id
        WHERE (o.workspace_id, o.job_id, o.status) IS DISTINCT FROM (n.workspace_id, n.job_id, n.status)""",
}
"""PostgreSQL: what each statement on the runs adds to the counts, from the rows it changed."""
TRANSITIONS = {
    "insert": "NEW TABLE AS new_runs",
    "delete": "OLD TABLE AS old_runs",
    "update": "OLD TABLE AS old_runs NEW TABLE AS new_runs",
}
# Once per statement, from its transition tables: row by row, the thousands of runs of one
# job that a statement inserts or deletes (a bulk load, a cascade, retention) updated one
# count row as many times in one transaction, each update slower than the last (10,000:
# 1.8 s; 20,000: 6.7 s). The upsert locks its rows in key order, so concurrent statements
# never wait on each other in a cycle.
POSTGRESQL = tuple(
    statement
    for op, deltas in DELTAS.items()
    for statement in (
        f"CREATE FUNCTION run_counts_{op}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {UPSERT.format(deltas)}; RETURN NULL; END $$",
        f"CREATE TRIGGER run_counts_{op} AFTER {op.upper()} ON runs"
        f" REFERENCING {TRANSITIONS[op]} FOR EACH STATEMENT EXECUTE FUNCTION run_counts_{op}()",
    )
)


def upgrade() -> None:
    op.create_table(
        "run_counts",
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", "job_id", "status", name=op.f("pk_run_counts")),
    )
    op.execute(
        "INSERT INTO run_counts (workspace_id, job_id, status, runs)"
        " SELECT workspace_id, coalesce(job_id, ''), status, count(*) FROM runs"
        " GROUP BY workspace_id, coalesce(job_id, ''), status"
    )
    for statement in SQLITE if op.get_bind().dialect.name == "sqlite" else POSTGRESQL:
        op.execute(statement)
    op.create_index("ix_run_tasks_task_line", "run_tasks", ["task_id", "id"])
    op.create_index("ix_runs_job_name_status", "runs", ["job_name", "status"])
    op.create_index("ix_runs_job_status_load", "runs", ["job_id", "status", "load"])
    op.drop_index("ix_runs_job_status", table_name="runs")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's planner weighs an index by its own statistics (PostgreSQL's by the
        # columns'), and the store's refresh analyzes only tables that have none.
        for name in (
            "ix_run_tasks_task_line",
            "ix_runs_job_name_status",
            "ix_runs_job_status_load",
        ):
            op.execute(f"ANALYZE {name}")


def downgrade() -> None:
    op.create_index("ix_runs_job_status", "runs", ["job_id", "status"])
    op.drop_index("ix_runs_job_status_load", table_name="runs")
    op.drop_index("ix_runs_job_name_status", table_name="runs")
    op.drop_index("ix_run_tasks_task_line", table_name="run_tasks")
    if op.get_bind().dialect.name == "sqlite":
        for name in ("run_counts_insert", "run_counts_delete", "run_counts_update"):
            op.execute(f"DROP TRIGGER {name}")
    else:
        for name in ("run_counts_insert", "run_counts_delete", "run_counts_update"):
            op.execute(f"DROP TRIGGER {name} ON runs")
            op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("run_counts")
