"""File connector specifics: URLs, safe names, hidden staging, atomic writes, formats."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.connectors.base import TableRef, TableSchema
from conveyor.connectors.files.connector import FileConnector, parse_url
from conveyor.connectors.files.options import FileOptions
from conveyor.errors import DataError, InvalidInput, SourceUnavailable, TableNotFound, Unsupported
from tests.unit.connectors.conftest import load, load_through_engine, read_table


def people(n: int = 3) -> pa.Table:
    return pa.table(
        {"id": pa.array(range(1, n + 1), pa.int64()), "name": [f"p{i}" for i in range(n)]}
    )


def test_url_forms() -> None:
    assert parse_url("file:///data/in?format=csv") == ("/data/in", "csv")
    assert parse_url("file://localhost/data/in") == ("/data/in", None)
    assert parse_url("file:///data/with%20space") == ("/data/with space", None)
    for bad in ("file://server/share", "file:///x?format=xml", "s3:///bucket"):
        with pytest.raises(InvalidInput):
            parse_url(bad)


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b", ".hidden", "nul\0byte", "..", ""])
def test_table_names_cannot_leave_the_folder(tmp_path: Path, name: str) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    layout = TableSchema.from_arrow(people().schema)
    with pytest.raises(InvalidInput):
        conn.create_table(TableRef(name), layout)
    with pytest.raises(InvalidInput):
        conn.table_exists(TableRef(name))
    with pytest.raises(InvalidInput):
        conn.ensure_schema(name)
    assert os.listdir(tmp_path) == []


def test_a_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable):
        FileConnector(f"file://{tmp_path}/nope").test()


def test_staging_tables_are_hidden_files(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    staging = load(conn, "_conveyor_stage_t_1234", people())
    assert (tmp_path / "._conveyor_stage_t_1234.parquet").exists()
    assert conn.table_exists(staging)
    assert conn.list_tables() == []
    conn.replace_table(staging, TableRef("t"))
    assert sorted(os.listdir(tmp_path)) == ["t.parquet"]


def test_a_writer_swaps_its_file_in_only_on_close(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=csv")
    ref = load(conn, "t", people(2))
    writer = conn.open_writer(ref, people().schema)
    writer.write(people(3).to_batches()[0])
    hidden = [n for n in os.listdir(tmp_path) if n.startswith(".")]
    assert len(hidden) == 1 and hidden[0].endswith(".tmp")
    assert read_table(conn, ref).num_rows == 2  # readers still see the old file
    assert writer.close() == (tmp_path / "t.csv").stat().st_size
    assert read_table(conn, ref).num_rows == 5
    assert os.listdir(tmp_path) == ["t.csv"]


def test_an_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"definitely not parquet")
    conn = FileConnector(f"file://{tmp_path}")
    with pytest.raises(DataError, match=r"broken\.parquet"):
        conn.read('SELECT * FROM "broken"', 10).read_all()


def test_xlsx_is_written_whole_and_never_read(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=xlsx")
    conn.test()
    load(conn, "t", people())
    assert (tmp_path / "t.xlsx").is_file() and conn.table_exists(TableRef("t"))
    with pytest.raises(Unsupported, match="reading xlsx"):
        conn.read('SELECT * FROM "t"', 10)
    with pytest.raises(Unsupported, match="written whole"):
        conn.open_writer(TableRef("t"), people().schema)


def test_a_mixed_folder_reads_each_file_by_its_extension(tmp_path: Path) -> None:
    pq.write_table(people(2), tmp_path / "a.parquet")
    (tmp_path / "b.csv").write_text("id,name\n1,x\n")
    (tmp_path / "c.jsonl").write_text('{"id": 1, "name": "y"}\n{"id": 2, "name": "z"}\n')
    (tmp_path / "d.json").write_text('[{"id": 7, "name": "w"}]')
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.csv").write_text("id\n5\n")
    conn = FileConnector(f"file://{tmp_path}")
    found = {str(t.ref): t.row_estimate for t in conn.list_tables()}
    assert found == {"a": 2, "b": None, "c": None, "d": None, "sub.e": None}
    query = (
        'SELECT count(*) AS n FROM "a" JOIN "c" USING ("id")'
        ' UNION ALL SELECT "id" FROM "d" UNION ALL SELECT "id" FROM "sub"."e"'
    )
    assert conn.read(query, 10).read_all().column("n").to_pylist() == [2, 7, 5]
    assert conn.columns(TableRef("b"))[0].type == pa.int64()


def test_csv_options(tmp_path: Path) -> None:
    options = FileOptions(delimiter=";", header=False)
    conn = FileConnector(f"file://{tmp_path}?format=csv", options)
    load(conn, "t", people(2))
    assert (tmp_path / "t.csv").read_text() == '1;"p0"\n2;"p1"\n'
    assert read_table(conn, "t").num_rows == 2


def test_parquet_compression(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}", FileOptions(compression="zstd"))
    load(conn, "t", people())
    assert (
        pq.ParquetFile(tmp_path / "t.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    )
    with pytest.raises(InvalidInput):
        FileConnector(f"file://{tmp_path}?format=csv", FileOptions(compression="gzip"))


def test_parquet_keeps_exact_arrow_types_and_the_key(tmp_path: Path) -> None:
    data = pa.table(
        {
            "i8": pa.array([1, None], pa.int8()),
            "u64": pa.array([2**64 - 1, 0], pa.uint64()),
            "f32": pa.array([0.5, None], pa.float32()),
            "ns": pa.array([1, None], pa.timestamp("ns")),
            "ms": pa.array([1, None], pa.timestamp("ms")),
            "paris": pa.array(
                [dt.datetime(2020, 1, 1, tzinfo=dt.UTC), None], pa.timestamp("us", "Europe/Paris")
            ),
            "large": pa.array(["x", None], pa.large_string()),
            "words": pa.array(["a", None]).dictionary_encode(),
            "nested": pa.array([[1, 2], None], pa.list_(pa.int64())),
            "record": pa.array([{"a": 1, "b": "x"}, None]),
        }
    )
    load(FileConnector(f"file://{tmp_path}?format=parquet"), "exact", data, primary_key=("u64",))
    fresh = FileConnector(f"file://{tmp_path}?format=parquet")
    result = fresh.read('SELECT * FROM "exact" WHERE "u64" > 0 OR "u64" = 0', 10).read_all()
    for field in data.schema:
        assert result.column(field.name).equals(data.column(field.name)), field.name
    assert [c.name for c in fresh.columns(TableRef("exact")) if c.primary_key] == ["u64"]
    computed = fresh.read('SELECT "i8" + 1 AS "i8" FROM "exact"', 10).read_all()
    assert computed.schema.field("i8").type == pa.int8()  # same name: cast back when it fits


def test_merge_keeps_a_csv_file_a_csv_file(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=csv")
    load(conn, "t", people(3))
    staged = pa.table({"id": pa.array([3, 4], pa.int64()), "name": ["new", "new"]})
    assert load_through_engine(conn, "t", staged, ["id"]) == 2
    assert (tmp_path / "t.csv").read_text().splitlines()[0] == '"id","name"'
    assert read_table(conn, "t", "id").column("name").to_pylist() == ["p0", "p1", "new", "new"]


def test_empty_json_table_reads_with_its_layout(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=json")
    load(conn, "t", people(0))
    assert (tmp_path / "t.json").read_text() == "[\n]\n"
    assert read_table(conn, "t").column_names == ["id", "name"]


def test_missing_file(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=ndjson")
    with pytest.raises(TableNotFound, match="nope"):
        conn.read('SELECT * FROM "nope"', 10)


def test_merging_parquet_keeps_exact_types_and_the_key(tmp_path: Path) -> None:
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    schema = pa.schema([("k", pa.int32()), ("v", pa.large_string()), ("at", pa.timestamp("ms"))])
    old = pa.table({"k": [1, 2], "v": ["a", "b"], "at": [1, 2]}, schema=schema)
    load(conn, "t", old, primary_key=("k",))
    staged = old.slice(1).set_column(1, "v", pa.array(["B"], pa.large_string()))
    assert load_through_engine(conn, "t", staged, ["k"]) == 1
    stored = pq.read_table(tmp_path / "t.parquet")
    assert stored.schema.types == schema.types
    assert sorted(stored.column("v").to_pylist()) == ["B", "a"]
    fresh = FileConnector(f"file://{tmp_path}?format=parquet")
    assert [c.name for c in fresh.columns(TableRef("t")) if c.primary_key] == ["k"]
