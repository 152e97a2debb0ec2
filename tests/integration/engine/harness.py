"""Runs jobs through the real engine in-process, keeping task state between runs like the store."""

from __future__ import annotations

import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from conveyor.domain import EngineSettings, RunJobType
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter, RunOutcome
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec


class Job:
    """A job's tasks and settings, run again and again with remembered state."""

    def __init__(
        self,
        source: str,
        destination: str | None,
        queries: list[str],
        job_type: str = "standard",
        **settings: Any,
    ) -> None:
        self.source = source
        self.destination = destination
        self.queries = queries
        self.job_type = job_type
        self.settings = EngineSettings(**settings)
        self.states: dict[str, dict[str, Any]] = {}
        self.last: NullReporter | None = None
        self.export: tuple[str, str] | None = None

    def run(
        self, full: bool = False, cancel: threading.Event | None = None, run_id: str | None = None
    ) -> RunOutcome:
        tasks = tuple(
            TaskSpec(id=f"t{i}", position=i, query=q, state=self.states.get(f"t{i}", {}))
            for i, q in enumerate(self.queries)
        )
        spec = RunSpec(
            run_id=run_id or uuid.uuid4().hex,
            job_id="job",
            job_name="job",
            job_type=self.job_type,
            run_job_type=RunJobType.full if full else RunJobType.incremental,
            settings=self.settings,
            source=Endpoint(self.source),
            destination=Endpoint(self.destination) if self.destination else None,
            tasks=tasks,
            export_format=self.export[0] if self.export else None,
            artifacts_dir=self.export[1] if self.export else None,
        )
        reporter = NullReporter()
        outcome = runner.execute(spec, reporter, cancel or threading.Event())
        self.states.update(reporter.states)
        self.last = reporter
        return outcome

    def ok(self, full: bool = False) -> RunOutcome:
        outcome = self.run(full=full)
        assert outcome.status.value == "completed", (
            outcome.error,
            self.last.lines if self.last else None,
        )
        return outcome


def sqlite_exec(path: Path, *statements: str, rows: list[tuple[Any, ...]] | None = None) -> None:
    """Change a SQLite source between runs (no engine connection is open then)."""
    db = sqlite3.connect(path)
    for statement in statements:
        if rows is not None and "?" in statement:
            db.executemany(statement, rows)
        else:
            db.execute(statement)
    db.commit()
    db.close()


def read_table(url: str, table: str, order_by: str | None = None) -> pa.Table:
    """A destination table's rows (any embedded connector), optionally sorted."""
    from conveyor.connectors.registry import open_connector
    from conveyor.connectors.sql import quote

    connector = open_connector(url)
    try:
        data = connector.read(
            f"SELECT * FROM {quote(table, connector.dialect)}", 100_000
        ).read_all()  # type: ignore[attr-defined]
    finally:
        connector.close()
    return data.sort_by(order_by) if order_by else data


def rows(
    url: str, table: str, order_by: str, columns: list[str] | None = None
) -> list[dict[str, Any]]:
    """Rows as dicts, sorted."""
    data = read_table(url, table, order_by)
    return data.select(columns).to_pylist() if columns else data.to_pylist()


__all__ = ["Job", "duckdb", "pq", "read_table", "rows", "sqlite_exec"]
