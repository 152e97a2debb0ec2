"""Engine fixtures: a SQLite source with a primary key, a check column and realistic types."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.engine.harness import sqlite_exec

DESTINATIONS = ["duckdb", "sqlite", "parquet", "memory"]


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src.db"
    sqlite_exec(
        path,
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT, total DECIMAL(10,2), updated_at TIMESTAMP)",
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        rows=[(i, f"c{i}", f"{i}.50", f"2024-01-01 00:{i:02d}:00") for i in range(1, 11)],
    )
    return path


@pytest.fixture(params=DESTINATIONS)
def destination(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    kind = request.param
    if kind == "duckdb":
        return f"duckdb:///{tmp_path / 'dst.duckdb'}"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'dst.db'}"
    if kind == "parquet":
        (tmp_path / "lake").mkdir()
        return f"file://{tmp_path / 'lake'}?format=parquet"
    return f"memory://dst-{tmp_path.name}"
