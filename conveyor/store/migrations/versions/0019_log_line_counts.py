"""log line counts kept by triggers: a job's log list reads its total and only the runs it shows

With 10,000,000 log lines, a job's log list (`/jobs/{id}/logs`) counted its 100,000
lines for the total on every page (92 ms on SQLite, 106 ms on PostgreSQL), read and
sorted all of them for a page of 50, and with `since` probed every run of the job (139
ms on SQLite). `log_line_counts` holds, per run, the number of lines with the run's job
('' for a run of no job), the lowest and highest line ids and the latest line's time.
Triggers on `run_logs` keep it whatever adds or deletes lines: the workers, the queue's
SQL, retention, the cascade of a deleted run, job or workspace (the count row of a
deleted run goes by its own cascade). `lines` is exact; the bounds only widen, so every
line of a run lies within them. A job's total sums its runs' rows from an index; its
first pages read only the runs whose first lines come first, and `since` only the runs
that logged since then.

The counts start from the lines the store holds.

Revision ID: 0019
Revises: 0018
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conveyor.store.models import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

COUNT_NEW = (
    "INSERT INTO log_line_counts (run_id, job_id, lines, first_line, last_line, last_logged)"
    " VALUES (NEW.run_id, coalesce((SELECT job_id FROM runs WHERE id = NEW.run_id), ''), 1,"
    " NEW.id, NEW.id, NEW.ts) ON CONFLICT (run_id) DO UPDATE SET"
    " lines = log_line_counts.lines + 1,"
    " first_line = min(log_line_counts.first_line, excluded.first_line),"
    " last_line = max(log_line_counts.last_line, excluded.last_line),"
    " last_logged = max(log_line_counts.last_logged, excluded.last_logged);"
)
UNCOUNT_OLD = "UPDATE log_line_counts SET lines = lines - 1 WHERE run_id = OLD.run_id;"
SQLITE = (
    f"CREATE TRIGGER log_line_counts_insert AFTER INSERT ON run_logs BEGIN {COUNT_NEW} END",
    f"CREATE TRIGGER log_line_counts_delete AFTER DELETE ON run_logs BEGIN {UNCOUNT_OLD} END",
    # A line never moves to another run; if one did, both counts would follow.
    "CREATE TRIGGER log_line_counts_update AFTER UPDATE OF run_id ON run_logs"
    f" WHEN OLD.run_id IS NOT NEW.run_id BEGIN {UNCOUNT_OLD} {COUNT_NEW} END",
)
ADD = """INSERT INTO log_line_counts (run_id, job_id, lines, first_line, last_line, last_logged)
    SELECT n.run_id, coalesce(r.job_id, ''), count(*), min(n.id), max(n.id), max(n.ts)
    FROM ({}) AS n JOIN runs AS r ON r.id = n.run_id GROUP BY n.run_id, r.job_id
    ORDER BY n.run_id ON CONFLICT (run_id) DO UPDATE SET
    lines = log_line_counts.lines + excluded.lines,
    first_line = least(log_line_counts.first_line, excluded.first_line),
    last_line = greatest(log_line_counts.last_line, excluded.last_line),
    last_logged = greatest(log_line_counts.last_logged, excluded.last_logged)"""
REMOVE = """UPDATE log_line_counts AS c SET lines = c.lines - d.lines
    FROM (SELECT run_id, count(*) AS lines FROM ({}) AS o GROUP BY run_id) AS d
    WHERE c.run_id = d.run_id"""
MOVED = (
    "SELECT {side}.run_id, {side}.id, {side}.ts FROM old_lines AS o"
    " JOIN new_lines AS n ON n.id = o.id WHERE n.run_id <> o.run_id"
)
# PostgreSQL: once per statement, from its transition tables, as 0013's run counts: the
# lines a worker writes at once, or the thousands retention deletes, are one update per
# run rather than one per line.
BODIES = {
    "insert": (ADD.format("SELECT run_id, id, ts FROM new_lines"), "NEW TABLE AS new_lines"),
    "delete": (REMOVE.format("SELECT run_id FROM old_lines"), "OLD TABLE AS old_lines"),
    "update": (
        f"{REMOVE.format(MOVED.format(side='o'))}; {ADD.format(MOVED.format(side='n'))}",
        "OLD TABLE AS old_lines NEW TABLE AS new_lines",
    ),
}
POSTGRESQL = tuple(
    statement
    for name, (body, transition) in BODIES.items()
    for statement in (
        f"CREATE FUNCTION log_line_counts_{name}() RETURNS trigger LANGUAGE plpgsql AS $$"
        f" BEGIN {body}; RETURN NULL; END $$",
        f"CREATE TRIGGER log_line_counts_{name} AFTER {name.upper()} ON run_logs"
        f" REFERENCING {transition} FOR EACH STATEMENT EXECUTE FUNCTION log_line_counts_{name}()",
    )
)
INDEXES = {
    "ix_log_line_counts_job_first": ["job_id", "first_line", "lines", "last_line"],
    "ix_log_line_counts_job_logged": ["job_id", "last_logged"],
}
TRIGGERS = ("log_line_counts_insert", "log_line_counts_delete", "log_line_counts_update")


def upgrade() -> None:
    op.create_table(
        "log_line_counts",
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("lines", sa.BigInteger(), nullable=False),
        sa.Column("first_line", sa.BigInteger(), nullable=False),
        sa.Column("last_line", sa.BigInteger(), nullable=False),
        sa.Column("last_logged", UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_log_line_counts_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_log_line_counts")),
    )
    op.execute(
        "INSERT INTO log_line_counts (run_id, job_id, lines, first_line, last_line, last_logged)"
        " SELECT l.run_id, coalesce(r.job_id, ''), count(*), min(l.id), max(l.id), max(l.ts)"
        " FROM run_logs AS l JOIN runs AS r ON r.id = l.run_id GROUP BY l.run_id, r.job_id"
    )
    for name, columns in INDEXES.items():
        op.create_index(name, "log_line_counts", columns)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE if sqlite else POSTGRESQL:
        op.execute(statement)
    if sqlite:  # SQLite weighs an index by its own statistics (see 0013)
        op.execute("ANALYZE log_line_counts")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    else:
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER {name} ON run_logs")
            op.execute(f"DROP FUNCTION {name}()")
    for name in INDEXES:
        op.drop_index(name, table_name="log_line_counts")
    op.drop_table("log_line_counts")
