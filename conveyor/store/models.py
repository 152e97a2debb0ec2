"""The metadata store's tables, as SQLAlchemy 2 declarative models.

The same schema runs on SQLite (the embedded default) and PostgreSQL (many nodes), so
only portable types are used: string ids, JSON, and timestamps stored as UTC.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column, relationship

from conveyor.domain import ACTIVE_STATUSES, utcnow


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored as UTC and always read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @property
    def python_type(self) -> type[dt.datetime]:
        """datetime, so that list filters parse their values as timestamps."""
        return dt.datetime

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def new_id() -> str:
    """A new random resource id."""
    return str(uuid.uuid4())


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON, list[str]: JSON}


class Timestamped:
    """Creation and last-change times."""

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NamedInWorkspace:
    """A definition that lives in a workspace under a name unique there (connections, jobs,
    transformations): the columns and the unique index the services look it up by, and
    deleting the workspace deletes it."""

    __tablename__: str

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index]:
        """The unique (workspace, name) index, named after the table."""
        table = cls.__tablename__
        return (Index(f"uq_{table}_workspace_name", "workspace_id", "name", unique=True),)


class Workspace(Timestamped, Base):
    """A namespace for connections, jobs and runs."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    allowed_paths: Mapped[list[str]] = mapped_column(
        default=list,
        doc="Folders (besides the workspace's own) whose files its members may use; admins set it.",
    )


class User(Timestamped, Base):
    """Someone (or some script) allowed to call the API."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    workspace_ids: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(
        default=None, doc="When the user (and so every token of theirs) stops working."
    )

    tokens: Mapped[list[Token]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class Token(Base):
    """An API token; only its hash is stored."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    expires_at: Mapped[dt.datetime | None] = mapped_column(default=None)

    user: Mapped[User] = relationship(back_populates="tokens")


class Connection(NamedInWorkspace, Timestamped, Base):
    """Where data comes from or goes to; its secrets are stored encrypted."""

    __tablename__ = "connections"

    scheme: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text, doc="The URL without its password.")
    options: Mapped[dict[str, Any]] = mapped_column(
        default=dict, doc="Options that are not secret."
    )
    sealed_secrets: Mapped[str | None] = mapped_column(Text, default=None)
    last_tested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_test_ok: Mapped[bool | None] = mapped_column(default=None)
    last_test_error: Mapped[str | None] = mapped_column(Text, default=None)
    max_concurrent_runs: Mapped[int | None] = mapped_column(default=None)
    admin_configured: Mapped[bool] = mapped_column(
        default=False,
        doc="Its URL and options were last set by an admin: it may reach what only admins may.",
    )
    allow_external_access: Mapped[bool] = mapped_column(
        default=False,
        doc="An admin let SQL on this embedded database (DuckDB, SQLite) reach other files.",
    )


class Job(NamedInWorkspace, Timestamped, Base):
    """A definition of work: which tasks copy what from where to where, and how."""

    __tablename__ = "jobs"

    type: Mapped[str] = mapped_column(String(40))
    source_connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("connections.id", ondelete="RESTRICT"), default=None
    )
    destination_connection_id: Mapped[str | None] = mapped_column(
        ForeignKey("connections.id", ondelete="RESTRICT"), default=None
    )
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notifications: Mapped[dict[str, Any]] = mapped_column(default=dict)
    schedule_enabled: Mapped[bool] = mapped_column(default=False)
    schedule_cron: Mapped[str] = mapped_column(String(200), default="")
    schedule_since: Mapped[dt.datetime | None] = mapped_column(
        default=None,
        doc="When the schedule last became effective (enabled, or its cron changed): it "
        "fires only at times from then on. Unset on rows older than migration 0010 that "
        "were never rescheduled: their creation time stands in.",
    )
    external_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    export_format: Mapped[str | None] = mapped_column(String(20), default=None)
    labels: Mapped[list[str]] = mapped_column(default=list)
    pipeline_id: Mapped[str | None] = mapped_column(String(200), default=None)
    max_attempts: Mapped[int] = mapped_column(default=1)
    priority: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    events_admin_configured: Mapped[bool] = mapped_column(
        default=False,
        doc="Its pre/post-job event URLs were last set by an admin: they may reach what only "
        "admins may (loopback and private hosts).",
    )

    tasks: Mapped[list[Task]] = relationship(
        back_populates="job",
        order_by="Task.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class Task(Timestamped, Base):
    """One REPLICATE statement of a job, at a position in its order."""

    __tablename__ = "tasks"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    query: Mapped[str] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(String(400), default="")
    is_active: Mapped[bool] = mapped_column(default=True)

    job: Mapped[Job] = relationship(back_populates="tasks")


class Transformation(NamedInWorkspace, Timestamped, Base):
    """SQL run on a destination connection after a job, on a cron, or on demand."""

    __tablename__ = "transformations"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id", ondelete="RESTRICT"))
    queries: Mapped[list[str]] = mapped_column(default=list)
    trigger_mode: Mapped[str] = mapped_column(String(20), default="manual")
    trigger_after_job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="SET NULL"), default=None, index=True
    )
    trigger_tasks: Mapped[list[str]] = mapped_column(default=list)
    schedule_cron: Mapped[str] = mapped_column(String(200), default="")
    schedule_since: Mapped[dt.datetime | None] = mapped_column(
        default=None, doc="As `Job.schedule_since`: when trigger_mode scheduled or its cron began."
    )
    notifications: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    max_attempts: Mapped[int] = mapped_column(default=1)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)


class Pipeline(NamedInWorkspace, Timestamped, Base):
    """A named graph of jobs run as one: each step starts when the steps it depends on
    have completed (by default, the step before it)."""

    __tablename__ = "pipelines"

    steps: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON,
        default=list,
        doc="In order: {job_id, depends_on} — depends_on null means the previous step.",
    )
    on_error: Mapped[str] = mapped_column(String(20), default="stop")
    schedule_enabled: Mapped[bool] = mapped_column(default=False)
    schedule_cron: Mapped[str] = mapped_column(String(200), default="")
    schedule_since: Mapped[dt.datetime | None] = mapped_column(
        default=None, doc="As `Job.schedule_since`: when the schedule last became effective."
    )
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)


class PipelineRun(Base):
    """One execution of a pipeline: the state of each step and the run that did it."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (Index("ix_pipeline_runs_pipeline_created", "pipeline_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    pipeline_id: Mapped[str] = mapped_column(ForeignKey("pipelines.id", ondelete="CASCADE"))
    pipeline_name: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(30), default="in_progress")
    on_error: Mapped[str] = mapped_column(String(20), default="stop")
    trigger_method: Mapped[str] = mapped_column(String(20), default="on_demand")
    steps: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON,
        default=list,
        doc="Per step: job_id, job_name, depends_on (job ids), status, run_id, error.",
    )
    error: Mapped[str | None] = mapped_column(Text, default=None)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    canceled_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ScheduleTick(Base):
    """One fire time of a cron schedule; its unique key makes every tick enqueue once."""

    __tablename__ = "schedule_ticks"
    __table_args__ = (
        Index("uq_schedule_ticks_target_fire", "target_kind", "target_id", "fire_at", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    target_id: Mapped[str] = mapped_column(String(64))
    fire_at: Mapped[dt.datetime] = mapped_column()
    run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    outcome: Mapped[str] = mapped_column(String(40), default="enqueued")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TaskState(Base):
    """What the engine remembers of a task between runs: its incremental cursor and more."""

    __tablename__ = "task_states"

    task_id: Mapped[str] = mapped_column(
        ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Counter(Base):
    """A cluster-wide total that only grows, such as the rows every run ever wrote.

    Kept apart from the runs it counts, so deleting runs (by hand or by retention) never
    lowers it: Prometheus exports these as counters.
    """

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


ACTIVE_RUN = text(
    "status IN (" + ", ".join(f"'{status.value}'" for status in sorted(ACTIVE_STATUSES)) + ")"
)


class Run(Base):
    """One execution of a job: a queue item with its lifecycle, progress and results."""

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_claim", "status", "priority", "scheduled_at"),
        Index(
            "uq_runs_active_unicity",
            "unicity",
            unique=True,
            sqlite_where=ACTIVE_RUN,
            postgresql_where=ACTIVE_RUN,
        ),
        Index("ix_runs_job_created", "job_id", "created_at"),
        # History at scale (0009): the lists' default order, their common filters, and
        # CData's RunStartDate (`coalesce(started_at, created_at)`, below the class).
        Index("ix_runs_created", "created_at", "id"),
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_job_name_created", "job_name", "created_at"),
        Index("ix_runs_workspace_created", "workspace_id", "created_at"),
        # Elastic's sync jobs of the connectors' jobs, counted by status and type (0013).
        Index("ix_runs_job_status_load", "job_id", "status", "load"),
        # CData's history of a job by name in a status, counted (0013).
        Index("ix_runs_job_name_status", "job_name", "status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), default="job")
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), default=None
    )
    transformation_id: Mapped[str | None] = mapped_column(
        ForeignKey("transformations.id", ondelete="CASCADE"), default=None, index=True
    )
    job_name: Mapped[str] = mapped_column(String(200), default="")
    load: Mapped[str] = mapped_column(String(20), default="incremental")
    """How the run loads (`RunLoad`): full or incremental."""
    trigger_method: Mapped[str] = mapped_column(String(20), default="on_demand")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    priority: Mapped[int] = mapped_column(default=0)
    unicity: Mapped[str | None] = mapped_column(String(200), default=None)
    attempt: Mapped[int] = mapped_column(default=1)
    max_attempts: Mapped[int] = mapped_column(default=1)
    task_ids: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    scheduled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    canceled_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    cancelation_requested_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    last_seen: Mapped[dt.datetime | None] = mapped_column(default=None)
    worker_hostname: Mapped[str | None] = mapped_column(String(200), default=None)
    worker_id: Mapped[str | None] = mapped_column(String(100), default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_inserted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rows_updated: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cdc: Mapped[dict[str, Any] | None] = mapped_column(
        default=None,
        doc="Change data capture: where the run stands in the source's log (position, "
        "lag_seconds, retained_bytes), that of its least advanced task.",
    )
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    tasks_total: Mapped[int] = mapped_column(default=0)
    tasks_done: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    executor: Mapped[str] = mapped_column(
        String(20),
        default="conveyor",
        server_default="conveyor",
        doc="conveyor: Conveyor's workers claim it; external: a self-managed worker does.",
    )
    export_format: Mapped[str | None] = mapped_column(
        String(20),
        default=None,
        doc="The format this run's files are written in (default: the job's).",
    )
    pipeline_run_id: Mapped[str | None] = mapped_column(
        String(64),
        default=None,
        index=True,
        doc="The pipeline run this run is a step of: its end lets the pipeline go on.",
    )

    task_results: Mapped[list[RunTask]] = relationship(
        order_by="RunTask.position", cascade="all, delete-orphan", passive_deletes=True
    )


class RunCount(Base):
    """How many runs a workspace's job has in one status (`job_id` '' for runs of no job).

    Kept exact by triggers on `runs` (migration 0013), whatever changes a run, so that a
    list's total over a million runs sums a few of these rows instead of counting them.
    """

    __tablename__ = "run_counts"

    workspace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)


class LogLineCount(Base):
    """How many log lines a run has, with the run's job (`job_id` '' for runs of no job),
    and where they lie: the lowest and highest line ids and the latest line's time.

    Kept by triggers on `run_logs` (migration 0017), whatever adds or deletes lines — the
    workers, the queue's SQL, retention, a deleted run's cascade. `lines` is exact; the
    bounds only widen (a deleted line leaves them as they were), so every line of the
    run lies within them. A run's or a job's log list reads its total here instead of
    counting 100,000 lines, and a job's list reads only the runs whose lines can be on
    the page (`services.log_counts`).
    """

    __tablename__ = "log_line_counts"
    __table_args__ = (
        # A job's total, and its runs in the order of their first lines, from the index.
        Index("ix_log_line_counts_job_first", "job_id", "first_line", "lines", "last_line"),
        Index("ix_log_line_counts_job_logged", "job_id", "last_logged"),  # lines since a time
    )

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(BigInteger, default=0)
    first_line: Mapped[int] = mapped_column(BigInteger)
    last_line: Mapped[int] = mapped_column(BigInteger)
    last_logged: Mapped[dt.datetime] = mapped_column()


class RunTask(Base):
    """The outcome of one task within one run."""

    __tablename__ = "run_tasks"
    __table_args__ = (
        Index("ix_run_tasks_task", "task_id", "started_at"),
        Index("ix_run_tasks_task_line", "task_id", "id"),  # a task's history, newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    query: Mapped[str] = mapped_column(Text)
    table_name: Mapped[str] = mapped_column(String(400), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_deleted: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_inserted: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    rows_updated: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cdc: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(default=None)


Index("ix_runs_run_start", func.coalesce(Run.started_at, Run.created_at))


class RunLog(Base):
    """One log line of a run, kept for the API."""

    __tablename__ = "run_logs"
    __table_args__ = (
        Index("ix_run_logs_run_line", "run_id", "id"),  # a run's lines, keyset-paged by id
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    ts: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    level: Mapped[str] = mapped_column(String(10), default="info")
    message: Mapped[str] = mapped_column(Text)
    task_id: Mapped[str | None] = mapped_column(String(64), default=None)


class ElasticConnector(Base):
    """The Elastic connector document of a job that is exposed as one (`/_connector`).

    Fields Elastic's API filters or sorts on are columns; the rest of Elastic's document
    (configuration, filtering, scheduling, pipeline, features, last-sync statistics …),
    which Conveyor stores and returns but never queries, is one JSON document.
    """

    __tablename__ = "elastic_connectors"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    index_name: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    name: Mapped[str] = mapped_column(String(400), default="")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    service_type: Mapped[str | None] = mapped_column(String(200), default=None)
    is_native: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str | None] = mapped_column(String(40), default=None)
    status: Mapped[str] = mapped_column(String(40), default="created")
    error: Mapped[str | None] = mapped_column(Text, default=None)
    deleted: Mapped[bool] = mapped_column(default=False)
    last_seen: Mapped[dt.datetime | None] = mapped_column(default=None)
    api_key_id: Mapped[str | None] = mapped_column(String(200), default=None)
    api_key_secret_id: Mapped[str | None] = mapped_column(String(200), default=None)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ElasticRole(Timestamped, Base):
    """A role made through Elasticsearch's security API (`PUT /_security/role/{name}`):
    its definition as Elasticsearch takes it; its index privileges decide the Conveyor
    role of the users given it (`policy.elastic_roles`)."""

    __tablename__ = "elastic_roles"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ElasticUser(Base):
    """What Elasticsearch's security API keeps about a user beyond the Conveyor user:
    the Elasticsearch roles it was given, its full name, email and metadata."""

    __tablename__ = "elastic_users"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    roles: Mapped[list[str]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ElasticSyncJob(Base):
    """What Elastic's sync job document has beyond its run: the connector snapshot,
    the job type (`access_control` included), the total count, metadata and cursor."""

    __tablename__ = "elastic_sync_jobs"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    connector_id: Mapped[str] = mapped_column(String(64), index=True)
    job_type: Mapped[str] = mapped_column(String(20), default="full")
    connector: Mapped[dict[str, Any]] = mapped_column(default=dict)
    total_document_count: Mapped[int] = mapped_column(BigInteger, default=0)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    sync_cursor: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)


class File(Base):
    """A file a run wrote (an export's result), stored under `<data dir>/files/<run id>/`.

    `path` is relative to the run's folder (a sub-folder is a schema); the row is written
    in the transaction that makes the run final, and goes with its run.
    """

    __tablename__ = "files"
    __table_args__ = (
        Index("uq_files_run_path", "run_id", "path", unique=True),
        Index("ix_files_job_created", "job_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    job_id: Mapped[str | None] = mapped_column(
        ForeignKey("jobs.id", ondelete="CASCADE"), default=None
    )
    path: Mapped[str] = mapped_column(String(1000))
    filename: Mapped[str] = mapped_column(String(400))
    mime_type: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    """One state-changing request or failed sign-in: who did what, where, and how it ended.

    Never a token, password, query string or body: a request is known by its route
    template and path, the target a service changed, and the status it answered. Rows
    refer to users and workspaces by id without foreign keys, so an entry outlives them.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_user_created", "user_id", "created_at"),
        Index("ix_audit_log_workspace_created", "workspace_id", "created_at"),
        Index("ix_audit_log_action_created", "action", "created_at"),
        {"sqlite_autoincrement": True},  # an id is never given twice, even after a purge
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[str | None] = mapped_column(String(64), default=None)
    user_name: Mapped[str | None] = mapped_column(
        String(200), default=None, doc="The caller's name, or the one a failed sign-in tried."
    )
    workspace_id: Mapped[str | None] = mapped_column(String(64), default=None)
    surface: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(400), doc="e.g. /api/v1/jobs/{job_id}")
    path: Mapped[str] = mapped_column(String(1000), doc="The path requested, without a query.")
    action: Mapped[str] = mapped_column(String(100), doc="e.g. jobs.update, signin.failed")
    target_id: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[int] = mapped_column(Integer)
    client: Mapped[str | None] = mapped_column(String(64), default=None)


class Certificate(Timestamped, Base):
    """A trusted CA (bundle) or a client certificate with its private key, stored by an
    admin so that connections can name it in their TLS options instead of a file path.

    The private key is sealed like a connection's secrets; the certificate is public.
    With no workspace it is shared: any workspace's connections may name it.
    """

    __tablename__ = "certificates"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(20), doc="trusted (a CA) or client (with a key).")
    certificate_pem: Mapped[str] = mapped_column(Text)
    sealed_private_key: Mapped[str | None] = mapped_column(Text, default=None)
