"""End-to-end fixtures: a source database with realistic types, built with sqlite3."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.server import Server, running_server

pytestmark = pytest.mark.e2e


def build_source(path: Path, rows: int) -> Path:
    """A table of mixed types with unicode, decimals, timestamps and NULLs."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price DECIMAL(12,2), "
        "created_at TIMESTAMP, day DATE, active BOOLEAN, note TEXT)"
    )
    db.execute(
        f"""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
        INSERT INTO items SELECT i, 'nâme ' || i || ' 🚚', (i % 100000) / 100.0,
            datetime(1700000000 + i * 7, 'unixepoch'), date(1700000000 + i * 86, 'unixepoch'),
            i % 3 = 0, CASE WHEN i % 11 = 0 THEN NULL ELSE 'note ' || (i % 97) END
        FROM n
        """
    )
    db.commit()
    db.close()
    return path


@pytest.fixture
def source_db(tmp_path: Path) -> Path:
    """20,000 rows."""
    return build_source(tmp_path / "source.db", 20_000)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for a module's tests that each use names of their own (a server starts
    in seconds: the client and CLI tests share one rather than each starting theirs).

    One API process: a revoked token is refused by the next request, which another
    process could still accept for `CONVEYOR_AUTH_CACHE_SECONDS`."""
    env = {"CONVEYOR_API_PROCESSES": "1"}
    with running_server(tmp_path_factory.mktemp("shared"), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def shared_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 rows of `items`, for tests that only need something to copy."""
    return build_source(tmp_path_factory.mktemp("source") / "source.db", 2_000)
