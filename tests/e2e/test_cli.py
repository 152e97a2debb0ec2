"""`conveyor run`: a one-off copy without a server, and its errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq


def conveyor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )


def test_run_copies_to_parquet_and_reports_rate(tmp_path: Path, source_db: Path) -> None:
    out = tmp_path / "out" / "export"  # missing folders are made, as the README's are
    result = conveyor(
        "run",
        "--source",
        f"sqlite:///{source_db}",
        "--destination",
        f"file://{out}?format=parquet",
        "REPLICATE [items]",
        "REPLICATE [few] SELECT id, price FROM [items] WHERE id <= 10",
    )
    assert result.returncode == 0, result.stderr
    assert "completed: 20,010 rows" in result.stdout and "rows/s" in result.stdout
    table = pq.read_table(out / "items.parquet")
    assert table.num_rows == 20_000
    assert str(table.schema.field("price").type) == "decimal128(12, 2)"
    assert pq.read_table(out / "few.parquet").num_rows == 10


def test_run_names_what_to_fix(tmp_path: Path, source_db: Path) -> None:
    bad_statement = conveyor(
        "run",
        "--source",
        f"sqlite:///{source_db}",
        "--destination",
        "duckdb:///x.duckdb",
        "REPLICATE [x] SELECT",
    )
    assert bad_statement.returncode == 2 and "position" in bad_statement.stderr
    missing_table = conveyor(
        "run",
        "--source",
        f"sqlite:///{source_db}",
        "--destination",
        f"duckdb:///{tmp_path / 'x.duckdb'}",
        "REPLICATE [nope]",
    )
    assert missing_table.returncode == 1 and "nope" in missing_table.stderr
    bad_scheme = conveyor(
        "run", "--source", "ftp://x/y", "--destination", "duckdb:///x.duckdb", "REPLICATE [t]"
    )
    assert bad_scheme.returncode != 0 and "ftp" in bad_scheme.stderr


def test_each_error_is_printed_once(tmp_path: Path, source_db: Path) -> None:
    missing = tmp_path / "missing.db"
    for source, statements, said in (
        (f"sqlite:///{missing}", ["REPLICATE [items]"], f"'{missing}' not found"),
        (f"sqlite:///{source_db}", ["REPLICATE [nope]"], "table 'nope' does not exist"),
        ("postgresql://127.0.0.1:1/none", ["REPLICATE [items]"], "127.0.0.1"),
    ):
        failed = conveyor(
            "run", "--source", source, "--destination", f"file://{tmp_path}/out", *statements
        )
        assert failed.returncode == 1, failed.stderr
        errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and said in errors[0], failed.stderr


def test_run_never_opens_the_data_directory(tmp_path: Path, source_db: Path) -> None:
    """A server may have its store open: a one-off run is refused it, as a connection is."""
    data = tmp_path / "data"
    data.mkdir()
    store = sqlite3.connect(data / "conveyor.db")
    store.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, role TEXT)")
    store.commit()
    store.close()
    env = {"CONVEYOR_DATA_DIR": str(data)}
    for source, destination, statement in (
        (f"sqlite:///{data / 'conveyor.db'}", f"file://{tmp_path}?format=csv", "REPLICATE [users]"),
        (f"sqlite:///{source_db}", f"sqlite:///{data / 'conveyor.db'}", "REPLICATE [items]"),
    ):
        refused = conveyor(
            "run", "--source", source, "--destination", destination, statement, env=env
        )
        assert refused.returncode == 1 and "data directory" in refused.stderr, refused.stderr
    assert not (tmp_path / "users.csv").exists()
    store = sqlite3.connect(data / "conveyor.db")
    assert [t for (t,) in store.execute("SELECT name FROM sqlite_master")] == ["users"]
    store.close()
