"""A file connection reaches the files of its folder and nothing else, symlinks included.

Its queries run in DuckDB, which may read exactly the files the query's tables are; each
attack runs against a real folder in the workspace's root, beside a fake data directory
that must stay intact.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.connectors.base import TableRef, TableSchema
from conveyor.connectors.files.connector import FileConnector
from conveyor.errors import TableNotFound
from conveyor.policy import PathRefused, Reach, StatementRefused
from tests.unit.connectors.conftest import Land, load, load_through_engine, read_table


def folder(land: Land, reach: Reach | None = None, fmt: str = "parquet") -> FileConnector:
    root = land.allowed / "files"
    root.mkdir(exist_ok=True)
    conn = FileConnector(f"file://{root}?format={fmt}", reach=reach or land.reach)
    if not conn.table_exists(TableRef("t")):
        load(conn, "t", pa.table({"a": [1, 2, 3]}))
    return conn


QUERIES = [
    "SELECT content FROM read_text('{key}')",
    "SELECT t.a, s.content FROM t, read_text('{key}') AS s",
    "SELECT * FROM read_csv('{data}/workspaces/b/orders.csv')",
    "SELECT * FROM '{data}/workspaces/b/orders.csv'",
    "SELECT * FROM glob('{data}/*')",
    "SELECT * FROM read_blob('{store}')",
    "SELECT * FROM read_parquet('{root}/*.parquet')",
    "SELECT * FROM read_text('{root}/../files/../../data/secret.key')",
    "SELECT * FROM t; SELECT content FROM read_text('{key}')",
    "COPY t TO '{root}/copy.csv'; SELECT 1 AS a",
    "SET enable_external_access = true; SELECT content FROM read_text('{key}')",
    "CREATE VIEW s AS SELECT content FROM read_text('{key}'); SELECT * FROM s",
    "ATTACH '{store}' AS meta (TYPE sqlite); SELECT * FROM meta.users",
]


@pytest.mark.parametrize("attack", QUERIES)
def test_queries_reaching_other_files_are_refused(land: Land, attack: str) -> None:
    conn = folder(land)
    (land.allowed / "files" / "other.parquet").write_bytes(b"")  # in the folder, not named
    before = land.snapshot()
    query = attack.format(
        key=land.key, store=land.store, data=land.data, root=land.allowed / "files"
    )
    with pytest.raises(StatementRefused, match="allow_external_access"):
        conn.read(query, 10).read_all()
    assert land.snapshot() == before
    assert sorted(os.listdir(land.allowed / "files")) == ["other.parquet", "t.parquet"]


def test_an_admin_opened_folder_reaches_other_files(land: Land) -> None:
    (land.allowed / "notes.txt").write_text("hello")
    conn = folder(land, land.trusted)
    query = f"SELECT t.a, n.content FROM t, read_text('{land.allowed}/notes.txt') AS n"
    assert read_table(conn, "t").num_rows == 3
    assert conn.read(query, 10).read_all().column("content").to_pylist() == ["hello"] * 3


def secret_links(land: Land) -> Path:
    """A folder of tables where some files and a sub-folder are symlinks to the data directory."""
    conn = folder(land, fmt="csv")
    root = land.allowed / "files"
    (root / "secret.csv").symlink_to(land.key)
    (root / "theirs.csv").symlink_to(land.data / "workspaces" / "b" / "orders.csv")
    (root / "b").symlink_to(land.data / "workspaces" / "b")
    conn.ensure_schema("mine")
    load(conn, TableRef("kept", "mine"), pa.table({"a": [1]}))
    return root


def test_discovery_skips_files_out_of_reach(land: Land) -> None:
    root = secret_links(land)
    for reach in (land.reach, land.trusted):  # the data directory: for everyone
        conn = FileConnector(f"file://{root}", reach=reach)
        assert [str(t.ref) for t in conn.list_tables()] == ["mine.kept", "t"]
    unchecked = FileConnector(f"file://{root}")  # a library caller's: no policy at all
    assert [str(t.ref) for t in unchecked.list_tables()] == [
        "mine.kept",
        "b.orders",
        "secret",
        "t",
        "theirs",
    ]


@pytest.mark.parametrize("table", [TableRef("secret"), TableRef("theirs"), TableRef("orders", "b")])
def test_naming_a_file_out_of_reach_is_refused(land: Land, table: TableRef) -> None:
    secret_links(land)
    before = land.snapshot()
    conn = FileConnector(f"file://{land.allowed / 'files'}", reach=land.reach)
    with pytest.raises(PathRefused, match="data directory"):
        read_table(conn, table)
    with pytest.raises(PathRefused):
        conn.columns(table)
    with pytest.raises(PathRefused):
        conn.open_writer(table, pa.schema([("id", pa.int64())]))
    with pytest.raises(PathRefused):
        conn.drop_table(table)
    staging = load(conn, "_conveyor_stage_x_00000000", pa.table({"id": [7]}))
    with pytest.raises(PathRefused):
        conn.replace_table(staging, table)
    assert land.snapshot() == before


def test_a_schema_folder_out_of_reach_is_refused(land: Land) -> None:
    root = secret_links(land)
    conn = FileConnector(f"file://{root}?format=csv", reach=land.reach)
    with pytest.raises(PathRefused):
        conn.ensure_schema("b")
    with pytest.raises(PathRefused):
        conn.create_table(
            TableRef("planted", "b"), TableSchema.from_arrow(pa.schema([("a", pa.int64())]))
        )
    assert not (land.data / "workspaces" / "b" / "planted.csv").exists()


@pytest.mark.parametrize("root", ["{data}", "{allowed}/../data", "{allowed}/data-link"])
def test_a_folder_out_of_reach_is_refused(land: Land, root: str) -> None:
    (land.allowed / "data-link").symlink_to(land.data)
    conn = FileConnector(
        "file://" + root.format(data=land.data, allowed=land.allowed), reach=land.reach
    )
    with pytest.raises(PathRefused):
        conn.test()
    with pytest.raises(PathRefused):
        conn.list_tables()


def test_a_symlink_made_after_the_connection_is_caught_when_read(land: Land) -> None:
    conn = folder(land)
    os.remove(land.allowed / "files" / "t.parquet")
    (land.allowed / "files" / "t.parquet").symlink_to(land.data / "stolen.parquet")
    pq.write_table(pa.table({"a": [42]}), land.data / "stolen.parquet")
    with pytest.raises(PathRefused):
        read_table(conn, "t")
    with pytest.raises(PathRefused):
        conn.estimate_rows(TableRef("t"))


def test_ordinary_use_under_the_lock(land: Land) -> None:
    for fmt in ("parquet", "csv", "json", "ndjson"):
        conn = FileConnector(f"file://{land.allowed}/{fmt}?format={fmt}", reach=land.reach)
        os.makedirs(land.allowed / fmt)
        data = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]})
        load(conn, "people", data, primary_key=("id",))
        staged = pa.table({"id": [2, 3], "name": ["B", "c"]})
        assert load_through_engine(conn, "people", staged, ["id"]) == 2
        rows = conn.read("SELECT id, name FROM people ORDER BY id", 10).read_all()
        assert rows.to_pylist() == [
            {"id": 1, "name": "a"},
            {"id": 2, "name": "B"},
            {"id": 3, "name": "c"},
        ], fmt
    with pytest.raises(TableNotFound):
        read_table(conn, "missing")
