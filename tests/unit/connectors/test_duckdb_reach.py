"""A DuckDB connection's SQL stays inside its database, unless an admin opened it up.

DuckDB can read and write any file the server can; each attack below runs against a real
database in the workspace's folder, beside a fake data directory that must stay intact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.duckdb.connector import DuckDBConnector
from conveyor.errors import InvalidInput, SourceUnavailable
from conveyor.policy import PathRefused, Reach, StatementRefused
from tests.unit.connectors.conftest import Land, load, read_table


def database(land: Land, reach: Reach | None = None, name: str = "db.duckdb") -> DuckDBConnector:
    conn = DuckDBConnector(f"duckdb:///{land.allowed}/{name}", reach=reach or land.reach)
    if not conn.table_exists(TableRef("t")):
        load(conn, "t", pa.table({"a": [1, 2, 3]}))
    return conn


READS = [
    "SELECT content FROM read_text('{key}')",
    "SELECT (SELECT content FROM read_text('{key}')) AS a FROM t",
    "SELECT * FROM read_csv('{key}', header = false)",
    "SELECT * FROM read_blob('{store}')",
    "SELECT * FROM read_parquet('{data}/*.parquet')",
    "SELECT * FROM glob('{data}/*')",
    "SELECT * FROM '{data}/workspaces/b/orders.csv'",
    "SELECT * FROM read_csv('{data}/*/*/*.csv')",
    "SELECT * FROM sqlite_scan('{store}', 'users')",
    "SELECT * FROM read_text('{allowed}/../data/secret.key')",
    "SELECT 1 AS a; SELECT content FROM read_text('{key}')",
]
STATEMENTS = [
    "COPY t TO '{allowed}/out.csv'",
    "COPY t TO '{data}/evil.csv'",
    "COPY (SELECT 'x' AS a) TO '.tmp/out.csv'",
    "EXPORT DATABASE '{allowed}/export'",
    "ATTACH '{allowed}/other.duckdb' AS other",
    "ATTACH '{store}' AS meta (TYPE sqlite)",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "SET GLOBAL enable_external_access = true",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "SET allowed_directories = ['{data}']",
    "SET temp_directory = '{data}'",
    "CREATE PERSISTENT SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')",
    "CREATE TABLE stolen AS SELECT content FROM read_text('{key}')",
    "SELECT 1; COPY t TO '{allowed}/out.csv'",
]


def fill(template: str, land: Land) -> str:
    return template.format(key=land.key, store=land.store, data=land.data, allowed=land.allowed)


@pytest.mark.parametrize("attack", READS)
def test_reads_of_other_files_are_refused(land: Land, attack: str) -> None:
    before = land.snapshot()
    conn = database(land)
    with pytest.raises(StatementRefused, match="allow_external_access"):
        conn.read(fill(attack, land), 10).read_all()
    assert land.snapshot() == before


@pytest.mark.parametrize("attack", STATEMENTS)
def test_statements_leaving_the_database_are_refused(land: Land, attack: str) -> None:
    before = land.snapshot()
    conn = database(land)
    with pytest.raises(StatementRefused, match="allow_external_access"):
        conn.execute(fill(attack, land))
    with pytest.raises(StatementRefused):
        conn.execute_in_transaction(["DELETE FROM t WHERE a = 1", fill(attack, land)])
    assert read_table(conn, "t").num_rows == 3
    conn.close()
    assert land.snapshot() == before
    assert sorted(os.listdir(land.allowed)) == ["db.duckdb"]


def test_an_admin_opened_connection_reaches_other_files(land: Land) -> None:
    (land.allowed / "notes.txt").write_text("hello")
    conn = database(land, land.trusted)
    text = conn.read(f"SELECT content FROM read_text('{land.allowed}/notes.txt')", 10)
    assert text.read_all().column(0).to_pylist() == ["hello"]
    conn.execute(f"COPY t TO '{land.allowed}/out.csv'")
    conn.execute(f"ATTACH '{land.allowed}/other.duckdb' AS other")
    conn.execute("CREATE TABLE other.copied AS SELECT * FROM t")
    assert (land.allowed / "out.csv").read_text().splitlines() == ["a", "1", "2", "3"]


def test_ordinary_use_under_the_lock(land: Land) -> None:
    conn = database(land)
    assert conn.execute("UPDATE t SET a = a * 10 WHERE a > 1") == 2
    conn.execute("CREATE VIEW v AS SELECT a FROM t WHERE a > 5")
    assert conn.read("SELECT sum(a) AS s FROM v", 10).read_all().to_pylist() == [{"s": 50}]
    stamp = conn.read("SELECT TIMESTAMPTZ '2024-01-01 12:00:00+02' AS ts", 1).read_all()
    assert str(stamp.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    second = database(land)  # the same file, opened again: the same locked database
    assert read_table(second, "t").num_rows == 3
    with pytest.raises(StatementRefused):
        second.execute(f"COPY t TO '{land.allowed}/out.csv'")


def test_a_large_sort_still_spills_to_disk(land: Land) -> None:
    conn = DuckDBConnector(f"duckdb:///{land.allowed}/big.duckdb", reach=land.reach)
    conn.options.memory_limit = "40MB"
    conn.options.threads = 1
    query = (
        "SELECT count(*) AS n FROM (SELECT i, md5(i::VARCHAR) AS m"
        " FROM range(1500000) AS r(i) ORDER BY m)"
    )
    assert conn.read(query, 10).read_all().to_pylist() == [{"n": 1_500_000}]
    assert (land.allowed / "big.duckdb.tmp").is_dir()  # where DuckDB spilled


@pytest.mark.parametrize(
    "path",
    [
        "{data}/meta.duckdb",
        "{allowed}/../data/meta.duckdb",
        "{allowed}/link.duckdb",
        "md:my_database",
        ":memory:named",
    ],
)
def test_databases_out_of_reach_are_refused(land: Land, path: str) -> None:
    (land.allowed / "link.duckdb").symlink_to(land.data / "meta.duckdb")
    before = land.snapshot()
    conn = DuckDBConnector(
        "duckdb:///" + path.format(data=land.data, allowed=land.allowed), reach=land.reach
    )
    with pytest.raises(PathRefused):
        conn.test()
    with pytest.raises(PathRefused):
        conn.execute("CREATE TABLE x (a INT)")
    assert land.snapshot() == before


SIDES = [".wal", ".wal.recovery", ".wal.checkpoint", ".tmp"]


@pytest.mark.parametrize("side", SIDES)
def test_files_beside_the_database_are_vetted_too(land: Land, side: str) -> None:
    (land.allowed / f"db.duckdb{side}").symlink_to(land.data / ("x" + side))
    with pytest.raises(PathRefused, match="DuckDB database file"):
        database(land)


def test_whatever_duckdb_lets_sql_use_is_vetted_once_open(
    land: Land, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file DuckDB keeps beside the database that the connector does not know of (as
    `.wal.checkpoint` was, before DuckDB 2) is vetted all the same, as DuckDB lists it."""
    monkeypatch.setattr("conveyor.connectors.duckdb_access.SIDE_FILES", (".wal", ".tmp"))
    (land.allowed / "db.duckdb.wal.checkpoint").symlink_to(land.key)
    with pytest.raises(PathRefused, match="DuckDB database file"):
        database(land)


def test_an_in_memory_database_is_locked_too(land: Land) -> None:
    conn = DuckDBConnector("duckdb:///:memory:", reach=land.reach)
    conn.execute("CREATE TABLE t AS SELECT 1 AS a")
    with pytest.raises(StatementRefused):
        conn.read(f"SELECT content FROM read_text('{land.key}')", 1).read_all()
    with pytest.raises(StatementRefused):
        conn.execute("COPY t TO '.tmp/x.csv'")


def test_locked_and_open_sessions_on_one_file_do_not_share(land: Land, tmp_path: Path) -> None:
    locked = database(land)
    opened = DuckDBConnector(f"duckdb:///{land.allowed}/db.duckdb", reach=land.trusted)
    with pytest.raises(SourceUnavailable, match="other settings"):
        opened.test()
    locked.close()
    opened.test()
    opened.close()


@pytest.mark.parametrize("path", ["file:{data}/meta.duckdb", "FILE://{data}/meta.duckdb"])
def test_file_uris_are_not_paths(land: Land, path: str) -> None:
    """DuckDB strips `file:` and opens the rest: the path would skip the reach's check."""
    with pytest.raises(InvalidInput, match="URI"):
        DuckDBConnector("duckdb:///" + path.format(data=land.data), reach=land.trusted)
