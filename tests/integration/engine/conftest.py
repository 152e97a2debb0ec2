"""Engine fixtures: a source `orders` table and a destination, over every connector kind.

Sources are SQLite, DuckDB, PostgreSQL and MariaDB; destinations are the embedded
connectors and both servers. A test that takes `source` and `destination` runs over
`PAIRS`: SQLite into every destination, every other source into both servers, and each
server into an embedded destination — not the whole product, which would repeat the
embedded pairs the fidelity suite already covers. A test that takes only `destination`
runs over every destination; `@pytest.mark.parametrize(..., indirect=True)` narrows either.

Server databases are made once per module (creating a PostgreSQL database costs half a
second): each PostgreSQL test gets a schema of its own in it, reached through the URL's
search_path, and each MariaDB test a database of its own (cheap there). Both are dropped
after the test, so a test never sees another's tables.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.engine.harness import Database, ServerDatabases, pg_schema
from tests.services import fresh_mysql_database, mysql_url

EMBEDDED = ["duckdb", "sqlite", "parquet", "memory"]
SERVERS = ["postgres", "mariadb"]
DESTINATIONS = EMBEDDED + SERVERS
PAIRS = (
    [("sqlite", d) for d in DESTINATIONS]
    + [(s, d) for s in ("duckdb", "postgres", "mariadb") for d in SERVERS]
    + [("postgres", "duckdb"), ("mariadb", "sqlite")]
)
ORDERS_DDL = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2),"
    " updated_at TIMESTAMP)"
)
ORDERS = [(i, f"c{i}", f"{i}.50", f"2024-01-01 00:{i:02d}:00") for i in range(1, 11)]


def _argnames(marker: pytest.Mark) -> set[str]:
    names = marker.args[0] if marker.args else marker.kwargs.get("argnames", ())
    if isinstance(names, str):
        names = names.split(",")
    return {n.strip() for n in names}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    used = set(metafunc.fixturenames)
    explicit: set[str] = set()
    for marker in metafunc.definition.iter_markers("parametrize"):
        explicit |= _argnames(marker)
    if {"source", "destination"} <= used and not explicit & {"source", "destination"}:
        metafunc.parametrize(
            ("source", "destination"),
            PAIRS,
            indirect=True,
            ids=[f"{s}-{d}" for s, d in PAIRS],
        )
    elif "destination" in used and "destination" not in explicit:
        metafunc.parametrize("destination", DESTINATIONS, indirect=True)


@pytest.fixture(scope="module")
def server_databases() -> Iterator[ServerDatabases]:
    with contextlib.ExitStack() as stack:
        yield ServerDatabases(stack)


@pytest.fixture
def place(tmp_path: Path, server_databases: ServerDatabases) -> Iterator[Callable[[str, str], str]]:
    """`place(kind, role)`: the URL of an empty database of that kind for this test."""
    with contextlib.ExitStack() as cleanup:

        def make(kind: str, role: str) -> str:
            if kind == "sqlite":
                return f"sqlite:///{tmp_path / (role + '.db')}"
            if kind == "duckdb":
                return f"duckdb:///{tmp_path / (role + '.duckdb')}"
            if kind == "duckdb-keyed":  # keys as PRIMARY KEY constraints, not comments
                return f"duckdb:///{tmp_path / (role + '.duckdb')}?primary_key_constraints=true"
            if kind == "parquet":
                (tmp_path / role).mkdir()
                return f"file://{tmp_path / role}?format=parquet"
            if kind == "memory":
                return f"memory://{role}-{uuid.uuid4().hex}"
            if kind == "postgres":
                return cleanup.enter_context(pg_schema(server_databases.postgres(role), role))
            if kind == "mariadb":
                database = cleanup.enter_context(fresh_mysql_database(f"conveyor_eng_{role}"))
                return mysql_url(database)
            raise ValueError(kind)

        yield make


def param(request: pytest.FixtureRequest, default: str) -> str:
    return str(getattr(request, "param", default))


@pytest.fixture
def source(request: pytest.FixtureRequest, place: Callable[[str, str], str]) -> Database:
    """An `orders` table (primary key, decimal, check column) in a source of the given kind."""
    kind = param(request, "sqlite")
    database = Database(kind, place(kind, "src"))
    database.execute(ORDERS_DDL)
    database.insert("orders", ORDERS)
    return database


@pytest.fixture
def destination(request: pytest.FixtureRequest, place: Callable[[str, str], str]) -> str:
    """The URL of an empty destination of the given kind."""
    return place(param(request, "duckdb"), "dst")
