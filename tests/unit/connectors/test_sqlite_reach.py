"""A SQLite connection reaches its database file and nothing else, unless an admin opened it up.

Each attack runs against a real database in the workspace's folder beside a fake data
directory (a metadata store and a secret key), and must leave that directory intact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.sqlite.connector import SQLiteConnector
from conveyor.errors import ConfigurationError, InvalidInput
from conveyor.policy import PathRefused, Reach, StatementRefused
from tests.unit.connectors.conftest import Land, load, read_table


def database(land: Land, reach: Reach | None = None) -> SQLiteConnector:
    conn = SQLiteConnector(f"sqlite:///{land.allowed}/db.sqlite", reach=reach or land.reach)
    if not conn.table_exists(TableRef("t")):
        load(conn, "t", pa.table({"a": [1, 2, 3]}))
    return conn


ATTACKS = [
    "ATTACH '{store}' AS meta",
    "attach database '{allowed}/other.sqlite' as o",
    "/* a comment */ ATTACH '{allowed}/other.sqlite' AS o",
    "-- a comment\nATTACH '{allowed}/other.sqlite' AS o",
    "ATTACH 'file:{store}?mode=ro' AS meta",
    "DETACH main",
    "VACUUM INTO '{allowed}/copy.sqlite'",
    "VACUUM main INTO '{data}/copy.sqlite'",
    "PRAGMA temp_store_directory = '{allowed}'",
    "PRAGMA \"temp_store_directory\" = '{allowed}'",
    "PRAGMA hard_heap_limit = 1",
    "PRAGMA 'temp_store_directory' = '{allowed}'",
    "SELECT 1; ATTACH '{store}' AS meta",
    "SELECT ';' /* ; */ ; ATTACH '{store}' AS meta",
    "CREATE TRIGGER tr AFTER INSERT ON t BEGIN SELECT 1; END; ATTACH '{store}' AS meta",
    "SELECT 'unterminated; ATTACH '{store}' AS meta",
    "SELECT 1\0; ATTACH '{store}' AS meta",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_statements_reaching_other_files_are_refused(land: Land, attack: str) -> None:
    before = land.snapshot()
    conn = database(land)
    statement = attack.format(store=land.store, allowed=land.allowed, data=land.data)
    with pytest.raises(StatementRefused, match=r"allow_external_access|cannot be read"):
        conn.execute(statement)
    with pytest.raises(StatementRefused):
        conn.execute_in_transaction(["DELETE FROM t WHERE a = 1", statement])
    with pytest.raises(StatementRefused):
        conn.read(statement, 10)
    with pytest.raises(StatementRefused):
        conn.count_rows(statement)
    conn.close()
    assert land.snapshot() == before
    assert os.listdir(land.allowed) == ["db.sqlite"]
    assert read_table(database(land), "t").num_rows == 3  # the refused transaction left no trace


def test_an_admin_opened_connection_may_attach_another_file(land: Land) -> None:
    conn = database(land, land.trusted)
    conn.execute(f"ATTACH '{land.allowed}/other.sqlite' AS o")
    conn.execute("CREATE TABLE o.copied AS SELECT * FROM t")
    conn.close()
    other = SQLiteConnector(f"sqlite:///{land.allowed}/other.sqlite")
    assert read_table(other, "copied").num_rows == 3


@pytest.mark.parametrize(
    "attack",
    [
        "ATTACH '{store}' AS meta",
        "ATTACH '{allowed}/../data/conveyor.db' AS meta",
        "ATTACH '{allowed}/store-link.db' AS meta",
        "ATTACH 'file:{store}?mode=ro' AS meta",
        "VACUUM INTO '{data}/copy.sqlite'",
    ],
)
def test_even_an_admin_opened_connection_never_attaches_the_store(land: Land, attack: str) -> None:
    (land.allowed / "store-link.db").symlink_to(land.store)
    before = land.snapshot()
    conn = database(land, land.trusted)
    statement = attack.format(store=land.store, allowed=land.allowed, data=land.data)
    with pytest.raises(PathRefused):
        conn.execute(statement)
    with pytest.raises(PathRefused):
        conn.count_rows(statement)
    conn.close()
    assert land.snapshot() == before


def test_text_after_the_first_statement_is_refused_not_ignored(land: Land) -> None:
    conn = database(land, land.trusted)
    with pytest.raises(ConfigurationError, match="one statement at a time"):
        conn.execute("DELETE FROM t WHERE a = 1; DELETE FROM t")
    with pytest.raises(ConfigurationError, match="one statement at a time"):
        conn.read("SELECT * FROM t; SELECT 2", 10)
    assert read_table(conn, "t").num_rows == 3


def test_ordinary_sql_still_runs_inside(land: Land) -> None:
    conn = database(land)
    assert conn.execute("DELETE FROM t WHERE a = 1 -- one row\n;") == 1
    conn.execute("CREATE TRIGGER tr AFTER DELETE ON t BEGIN SELECT 1; END")
    assert conn.execute_in_transaction(
        ["UPDATE t SET a = a * 10", "DELETE FROM t WHERE a > 100"]
    ) == [2, 0]
    assert conn.read("SELECT sum(a) AS s FROM t -- total\n;", 10).read_all().to_pylist() == [
        {"s": 50}
    ]
    assert conn.count_rows("SELECT count(*) FROM t") == 2


@pytest.mark.parametrize(
    "path",
    [
        "{data}/conveyor.db",
        "{allowed}/../data/conveyor.db",
        "{allowed}/store-link.db",
        "{allowed}/elsewhere.db",
    ],
)
def test_database_files_out_of_reach_are_refused(land: Land, tmp_path: Path, path: str) -> None:
    (land.allowed / "store-link.db").symlink_to(land.store)
    (tmp_path / "outside").mkdir()
    (land.allowed / "elsewhere.db").symlink_to(tmp_path / "outside" / "x.db")
    before = land.snapshot()
    conn = SQLiteConnector(
        "sqlite:///" + path.format(data=land.data, allowed=land.allowed), reach=land.reach
    )
    with pytest.raises(PathRefused, match="allowed roots"):
        conn.test()
    with pytest.raises(PathRefused):
        conn.list_tables()
    with pytest.raises(PathRefused):
        conn.read("SELECT * FROM users", 10)
    with pytest.raises(PathRefused):
        conn.execute("UPDATE users SET role = 'admin'")
    assert land.snapshot() == before


def test_a_symlink_made_after_the_connection_is_caught_when_it_opens(land: Land) -> None:
    conn = SQLiteConnector(f"sqlite:///{land.allowed}/later.db", reach=land.reach)
    assert not conn.table_exists(TableRef("users"))  # a destination's file may not exist yet
    (land.allowed / "later.db").symlink_to(land.store)
    with pytest.raises(PathRefused):
        conn.execute("UPDATE users SET role = 'admin'")


def test_journal_files_beside_the_database_are_vetted_too(land: Land) -> None:
    database(land).close()
    (land.allowed / "db.sqlite-wal").symlink_to(land.data / "conveyor.db-wal")
    with pytest.raises(PathRefused, match="SQLite database file"):
        SQLiteConnector(f"sqlite:///{land.allowed}/db.sqlite", reach=land.reach).test()


@pytest.mark.parametrize(
    "url", ["sqlite:///file:{store}?mode=ro", "sqlite:///FILE:{store}", "sqlite:///file::memory:"]
)
def test_sqlite_uris_are_not_paths(land: Land, url: str) -> None:
    with pytest.raises(InvalidInput, match="URI"):
        SQLiteConnector(url.format(store=land.store), reach=land.trusted)
