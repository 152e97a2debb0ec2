"""The connectors every conformance test runs against, each on a fresh database in tmp_path,
and a fake server disk (`land`) for the tests of what a connection may reach."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef, TableSchema, iterate_batches
from conveyor.connectors.registry import open_connector
from conveyor.domain import EngineSettings, RunLoad
from conveyor.engine.context import TaskContext
from conveyor.engine.decide import Mode
from conveyor.engine.planner import plan_task
from conveyor.engine.replicate import table_expression
from conveyor.engine.reporting import NullReporter, TaskResult
from conveyor.engine.spec import TaskSpec
from conveyor.engine.table_load import replicate
from conveyor.policy import Reach, resolve_path
from conveyor.testing import put_table, reset_memory


@dataclass(frozen=True)
class Flavor:
    """One connector configuration and what it can promise about types."""

    name: str
    url: Callable[[Path], str]
    exact: bool = True  # every canonical Arrow type reads back as written
    text: str | None = None  # "csv" or "json": values survive as text, types are inferred
    keeps_empty_schema: bool = True  # an empty table still knows its columns
    bmp_identifiers: bool = False  # names limited to Unicode's Basic Multilingual Plane (MySQL)
    scratch_schema: str = "reporting"  # a schema the schema tests may create
    default_schema: str | None = None  # the schema discovery names for unqualified tables

    def open(self, tmp_path: Path) -> Any:
        return open_connector(self.url(tmp_path))


_names = itertools.count()

FLAVORS = [
    Flavor("sqlite", lambda p: f"sqlite:///{p}/db.sqlite", default_schema="main"),
    Flavor("duckdb", lambda p: f"duckdb:///{p}/db.duckdb", default_schema="main"),
    Flavor("memory", lambda p: f"memory://test{next(_names)}"),
    Flavor("parquet", lambda p: f"file://{p}?format=parquet"),
    Flavor("csv", lambda p: f"file://{p}?format=csv", exact=False, text="csv"),
    Flavor("ndjson", lambda p: f"file://{p}?format=ndjson", False, "json", False),
    Flavor("json", lambda p: f"file://{p}?format=json", False, "json", False),
]


@pytest.fixture(params=FLAVORS, ids=[f.name for f in FLAVORS])
def flavor(request: pytest.FixtureRequest) -> Flavor:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def schema_name(flavor: Flavor) -> str:
    """A schema the test may create (for servers: one the fixture drops afterwards)."""
    return flavor.scratch_schema


@pytest.fixture
def connector(flavor: Flavor, tmp_path: Path) -> Iterator[Any]:
    if flavor.name == "sqlite":  # an empty database: a missing file is not found (test_sqlite)
        (tmp_path / "db.sqlite").touch()
    conn = flavor.open(tmp_path)
    yield conn
    conn.close()


def load(
    conn: Any,
    table: TableRef | str,
    data: pa.Table,
    primary_key: tuple[str, ...] = (),
    batch_rows: int | None = None,
) -> TableRef:
    """Create a table and bulk-load `data` into it the way the engine does."""
    ref = TableRef(table) if isinstance(table, str) else table
    conn.create_table(ref, TableSchema.from_arrow(data.schema, primary_key))
    writer = conn.open_writer(ref, data.schema)
    for batch in data.to_batches(max_chunksize=batch_rows):
        writer.write(batch)
    writer.close()
    return ref


def load_through_engine(
    destination: Any,
    table: TableRef | str,
    data: pa.Table,
    keys: Sequence[str] = (),
    mode: Mode | None = Mode.merge,
) -> int:
    """Load `data` into `table` the way a run does, in `mode` (None: the engine decides).

    The rows come from a memory source: the engine stages them in the destination and
    applies them with its own SQL (merged by `keys` — appended without), run by the
    destination or, for files, by a scratch DuckDB rewriting the table. Returns the rows
    written.
    """
    ref = TableRef(table) if isinstance(table, str) else table
    source_name = f"engine-source-{uuid.uuid4().hex}"
    put_table(source_name, "rows", data)
    source = open_connector(f"memory://{source_name}")
    query = f"REPLICATE {table_expression(ref).sql()} SELECT * FROM [rows]"
    plan = plan_task(TaskSpec(id="t", position=0, query=query), EngineSettings())
    ctx = TaskContext(
        run_id=uuid.uuid4().hex,
        job_id=uuid.uuid4().hex,
        load=RunLoad.incremental,
        job_type="standard",
        source=source,  # type: ignore[arg-type]
        destination=destination,
        reporter=NullReporter(),
        cancel=threading.Event(),
        result=TaskResult(task_id="t", position=0),
        started=dt.datetime.now(dt.UTC),
        save=lambda state: None,
    )
    try:
        replicate(ctx, replace(plan, primary_key=tuple(keys)), {}, force=mode)
    finally:
        source.close()
        reset_memory(source_name)
    return ctx.result.rows_written


def select_all(conn: Any, table: TableRef | str, order_by: str | None = None) -> str:
    """SELECT * FROM table [ORDER BY col], quoted for the connector's dialect."""
    from sqlglot import exp

    from conveyor.connectors import sql

    ref = TableRef(table) if isinstance(table, str) else table
    query = exp.select("*").from_(sql.table_expr(ref))
    if order_by:
        query = query.order_by(sql.column(order_by))
    return query.sql(dialect=conn.dialect)


def read_table(
    conn: Any, table: TableRef | str, order_by: str | None = None, batch_size: int = 1000
) -> pa.Table:
    reader = conn.read(select_all(conn, table, order_by), batch_size)
    return pa.Table.from_batches(list(iterate_batches(reader)), schema=reader.schema)


@dataclass(frozen=True)
class Land:
    """A fake server's disk: Conveyor's data directory with its store and key, and the one
    folder a workspace may use. `reach` is a standard user's; `trusted` adds external access."""

    data: Path
    allowed: Path
    reach: Reach
    trusted: Reach

    @property
    def store(self) -> Path:
        return self.data / "conveyor.db"

    @property
    def key(self) -> Path:
        return self.data / "secret.key"

    def snapshot(self) -> dict[str, bytes]:
        """Every file of the data directory and its bytes: what an attack must leave intact."""
        return {
            str(p.relative_to(self.data)): p.read_bytes()
            for p in sorted(self.data.rglob("*"))
            if p.is_file()
        }


@pytest.fixture
def land(tmp_path: Path) -> Land:
    import adbc_driver_sqlite.dbapi as adbc

    data, allowed = tmp_path / "data", tmp_path / "allowed"
    data.mkdir()
    allowed.mkdir()
    (data / "secret.key").write_text("zebra42-the-encryption-key\n")
    (data / "workspaces" / "b").mkdir(parents=True)  # another workspace's folder
    (data / "workspaces" / "b" / "orders.csv").write_text("id,total\n1,99.5\n")
    with adbc.connect(str(data / "conveyor.db"), autocommit=True) as store, store.cursor() as cur:
        cur.execute("CREATE TABLE users (name TEXT, role TEXT)")
        cur.execute("INSERT INTO users VALUES ('ann', 'standard')")
    reach = Reach(
        denied_roots=(resolve_path(data),),
        allowed_roots=(resolve_path(allowed),),
        private_network=False,
        external_access=False,
        roots_hint="the test's allowed folder",
    )
    return Land(data, allowed, reach, replace(reach, external_access=True))
