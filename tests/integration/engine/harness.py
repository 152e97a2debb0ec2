"""Runs jobs through the real engine in-process, keeping task state between runs like the store.

`Database` changes a source (or an application database) between runs with SQL written
once, in sqlglot's generic dialect, and transpiled to whichever connector holds it —
SQLite, DuckDB, PostgreSQL or MariaDB — so a test never needs per-server code.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as url_quote

import pyarrow as pa
import sqlglot
from sqlglot import exp

from conveyor.connectors.base import TableRef
from conveyor.connectors.registry import open_connector
from conveyor.connectors.sql import quote, table_expr
from conveyor.domain import EngineSettings, RunLoad
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter, RunOutcome
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from tests.services import fresh_pg_database


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
        self.id = uuid.uuid4().hex  # a job of its own: a run drops only its job's leftovers
        # Tests read every line a run logs (debug included) unless they ask for less.
        self.settings = EngineSettings(**{"verbosity": 5, **settings})
        self.states: dict[str, dict[str, Any]] = {}
        self.last: NullReporter | None = None
        self.export: tuple[str, str] | None = None
        self.source_options: dict[str, Any] = {}
        self.destination_options: dict[str, Any] = {}

    def run(
        self, full: bool = False, cancel: threading.Event | None = None, run_id: str | None = None
    ) -> RunOutcome:
        tasks = tuple(
            TaskSpec(id=f"t{i}", position=i, query=q, state=self.states.get(f"t{i}", {}))
            for i, q in enumerate(self.queries)
        )
        spec = RunSpec(
            run_id=run_id or uuid.uuid4().hex,
            job_id=self.id,
            job_name="job",
            job_type=self.job_type,
            load=RunLoad.full if full else RunLoad.incremental,
            settings=self.settings,
            source=Endpoint(self.source, self.source_options),
            destination=(
                Endpoint(self.destination, self.destination_options) if self.destination else None
            ),
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


@dataclass(frozen=True)
class Database:
    """A database the test changes between runs (no engine connection is open then).

    Statements are written in sqlglot's generic SQL and transpiled to the connector's
    dialect, then run through the connector's own `execute` (its `SqlExecutor`). SQLite
    takes them as written: its declared type names are what its connector reads types
    from, and sqlglot would rename them (DECIMAL → REAL).
    """

    kind: str
    url: str

    def execute(self, *statements: str) -> None:
        """Run statements in order, each transpiled to this database's dialect."""
        connector: Any = open_connector(self.url)
        try:
            for statement in statements:
                if connector.dialect != "sqlite":
                    statement = sqlglot.transpile(statement, write=connector.dialect)[0]
                connector.execute(statement)
        finally:
            connector.close()

    def insert(self, table: str, values: Sequence[Sequence[Any]]) -> None:
        """INSERT rows of literal values (numbers, text, None) into `table`."""
        connector: Any = open_connector(self.url)
        try:
            rows = [exp.tuple_(*(_literal(v) for v in row)) for row in values]
            statement = exp.insert(exp.values(rows), table_expr(TableRef(table)))
            connector.execute(statement.sql(dialect=connector.dialect))
        finally:
            connector.close()

    def __str__(self) -> str:
        return self.url


def _literal(value: Any) -> exp.Expr:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


_names = itertools.count()


class ServerDatabases:
    """Module-wide PostgreSQL databases (one per role), created when first needed."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._pg: dict[str, str] = {}

    def postgres(self, role: str) -> str:
        if role not in self._pg:
            self._pg[role] = self._stack.enter_context(fresh_pg_database(f"conveyor_engine_{role}"))
        return self._pg[role]


@contextlib.contextmanager
def pg_schema(database_url: str, role: str) -> Iterator[str]:
    """A fresh schema in a (module-wide) database; the URL's search_path makes it the default."""
    import psycopg

    schema = f"{role}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{database_url}?options={url_quote(f'-csearch_path={schema}', safe='')}"
    finally:
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def scratch_schema(destination: str) -> str:
    """A schema name a test may create in `destination`, dropped with the test's database.

    On MySQL a schema is a database of the server, so it is named after the test's own
    database (whose cleanup drops its `name_*` kin); elsewhere any fresh name will do.
    """
    if destination.startswith(("mysql", "mariadb")):
        return destination.rsplit("/", 1)[1] + "_raw"
    return f"raw_{uuid.uuid4().hex[:8]}"


def read_table(url: str, table: str, order_by: str | None = None) -> pa.Table:
    """A destination table's rows (any connector), optionally sorted."""
    connector: Any = open_connector(url)
    try:
        data = connector.read(
            f"SELECT * FROM {quote(table, connector.dialect)}", 100_000
        ).read_all()
    finally:
        connector.close()
    return data.sort_by(order_by) if order_by else data


def rows(
    url: str, table: str, order_by: str, columns: list[str] | None = None
) -> list[dict[str, Any]]:
    """Rows as dicts, sorted."""
    data = read_table(url, table, order_by)
    return data.select(columns).to_pylist() if columns else data.to_pylist()


__all__ = [
    "Database",
    "Job",
    "ServerDatabases",
    "pg_schema",
    "read_table",
    "rows",
    "scratch_schema",
]
