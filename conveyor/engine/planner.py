"""From a task's statement and its job's settings to a concrete plan of what to copy where.

Planning is pure: it reads no data. Discovery-dependent decisions (which check column
exists, what the primary key is) are made by the modes once the connectors are open.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from conveyor.connectors.base import TableRef
from conveyor.domain import EngineSettings
from conveyor.engine.replicate import ReplicateStatement, parse, table_expression
from conveyor.engine.spec import TaskSpec

DEFAULT_BATCH_ROWS = 65_536
STAGING_PREFIX = "_conveyor_stage_"
MAX_NAME_BYTES = 63  # PostgreSQL's identifier limit (in bytes); MySQL's is 64 characters


@dataclass(frozen=True)
class TaskPlan:
    """One table copy: the source query, the destination table and the settings in force."""

    task: TaskSpec
    statement: ReplicateStatement
    settings: EngineSettings
    source_table: TableRef
    target: TableRef
    primary_key: tuple[str, ...]
    _sql: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def batch_rows(self) -> int:
        """Rows per batch read from the source."""
        return self.settings.batch_size or DEFAULT_BATCH_ROWS

    def source_sql(self, dialect: str) -> str:
        """The SELECT to run on the source, in its dialect (transpiled once per dialect)."""
        cached = self._sql.get(dialect)
        if cached is None:
            cached = self._sql[dialect] = self.statement.select_sql(dialect)
        return cached

    def staging(self, job_id: str, run_id: str, role: str = "") -> TableRef:
        """The staging table a load of this plan writes before the swap or merge.

        `role` names another helper table of the same run (the keys of a delete sweep).
        The name carries the job and the run (`_conveyor_stage_<job>_<run>_<table>`), so a
        later run of the job finds and drops what a killed run left (`leftovers`). It fits
        every destination's identifier limit: a long target name is cut and completed by
        a digest of the whole (MySQL refuses a longer name; PostgreSQL would silently cut
        it).
        """
        prefix = f"{staging_prefix(job_id)}{short_id(run_id)}_"
        suffix = f"_{role}" if role else ""
        name = self.target.name
        room = MAX_NAME_BYTES - len(prefix) - len(suffix.encode())
        if len(name.encode()) > room:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            name = name.encode()[: room - len(digest) - 1].decode(errors="ignore") + "_" + digest
        return self.target.with_name(f"{prefix}{name}{suffix}")


def short_id(an_id: str) -> str:
    """8 hex digits naming a job or run in staging names: a UUID's first 8, else a digest
    (so a name never holds a character a destination would have to quote)."""
    digits = an_id.replace("-", "").lower()
    if len(digits) >= 8 and all(c in "0123456789abcdef" for c in digits):
        return digits[:8]
    return hashlib.sha256(an_id.encode()).hexdigest()[:8]


def staging_prefix(job_id: str) -> str:
    """How the names of every staging table of a job's runs start."""
    return f"{STAGING_PREFIX}{short_id(job_id)}_"


def effective_settings(job: EngineSettings, overrides: dict[str, Any]) -> EngineSettings:
    """The job's settings with a statement's `WITH` options applied on top."""
    if not overrides:
        return job
    return EngineSettings.model_validate({**job.model_dump(), **overrides})


def destination_table(name: str, settings: EngineSettings, schema: str | None = None) -> TableRef:
    """Where a source table lands: prefixed, in the statement's or the job's schema."""
    return TableRef(
        f"{settings.table_name_prefix}{name}", schema or settings.destination_schema or None
    )


def plan_task(task: TaskSpec, job_settings: EngineSettings) -> TaskPlan:
    """Plan a single-table task (`REPLICATE [t] …`)."""
    return plan_statement(task, parse(task.query), job_settings)


def plan_statement(
    task: TaskSpec, statement: ReplicateStatement, job_settings: EngineSettings
) -> TaskPlan:
    """Plan the copy a single-table statement describes."""
    assert statement.target is not None, "REPLICATE ALL is expanded table by table"
    settings = effective_settings(job_settings, statement.options)
    assert statement.source_table is not None
    return TaskPlan(
        task=task,
        statement=statement,
        settings=settings,
        source_table=statement.source_table,
        target=destination_table(statement.target.name, settings, statement.target.schema),
        primary_key=statement.primary_key,
    )


def plan_for_table(
    task: TaskSpec, statement: ReplicateStatement, source: TableRef, job_settings: EngineSettings
) -> TaskPlan:
    """Plan the copy of one table found by `REPLICATE ALL`."""
    settings = effective_settings(job_settings, statement.options)
    single = ReplicateStatement(
        text=f"REPLICATE {table_expression(source).sql()}",
        target=TableRef(source.name, source.schema),
        source_table=source,
        options=statement.options,
    )
    return TaskPlan(
        task=task,
        statement=single,
        settings=settings,
        source_table=source,
        target=destination_table(source.name, settings),
        primary_key=(),
    )
