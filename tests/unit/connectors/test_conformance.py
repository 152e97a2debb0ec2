"""One conformance suite, run against every connector (see `conftest.FLAVORS`)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot

from conveyor.connectors.base import (
    Connector,
    Discoverable,
    Estimable,
    Readable,
    TableRef,
    TableSchema,
    Writable,
    iterate_batches,
)
from conveyor.engine.decide import Mode
from conveyor.errors import ConfigurationError, ConveyorError, TableNotFound
from tests.unit.connectors.conftest import (
    Flavor,
    load,
    load_through_engine,
    read_table,
    select_all,
)


def people(n: int = 5, start: int = 1, tag: str = "old") -> pa.Table:
    ids = list(range(start, start + n))
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "name": pa.array([f"{tag}-{i}" for i in ids], pa.string()),
            "score": pa.array([i * 1.5 for i in ids], pa.float64()),
        }
    )


def test_declares_its_capabilities(connector: Any) -> None:
    for capability in (Connector, Discoverable, Readable, Writable, Estimable):
        assert isinstance(connector, capability), capability.__name__
    assert connector.dialect in ("sqlite", "duckdb", "postgres", "mysql")


def test_test_passes(connector: Any) -> None:
    connector.test()


def test_list_tables_and_columns(connector: Any, flavor: Flavor) -> None:
    load(connector, "alpha", people(3), primary_key=("id",))
    load(connector, "beta", people(2))
    found = {t.ref.name: t for t in connector.list_tables()}
    assert {"alpha", "beta"} <= set(found)
    assert found["alpha"].row_estimate in (None, 3)
    assert found["alpha"].kind in ("table", "file")

    listed = found["alpha"].as_dict()
    assert listed["schema"] == flavor.default_schema, listed  # named, even the default one
    schema = listed["schema"]
    qualified = TableRef("alpha", schema)
    assert connector.columns(qualified) == connector.columns(TableRef("alpha"))

    columns = connector.columns(TableRef("alpha"))
    assert [c.name for c in columns] == ["id", "name", "score"]
    assert [c.primary_key for c in columns] == [True, False, False]
    if flavor.exact:
        assert [c.type for c in columns] == [pa.int64(), pa.string(), pa.float64()]
    assert connector.table_exists(TableRef("alpha"))
    assert not connector.table_exists(TableRef("gamma"))
    assert connector.estimate_rows(TableRef("alpha")) in (None, 3)


def test_write_then_read_a_filtered_projection(connector: Any, flavor: Flavor) -> None:
    load(connector, "people", people(10), batch_rows=3)
    query = 'SELECT "id", "name" FROM "people" WHERE "id" > 7 ORDER BY "id"'
    reader = connector.read(sqlglot.transpile(query, "duckdb", connector.dialect)[0], 100)
    result = reader.read_all()
    assert result.column_names == ["id", "name"]
    assert result.column("id").to_pylist() == [8, 9, 10]
    assert result.column("name").to_pylist() == ["old-8", "old-9", "old-10"]
    assert result.schema.field("id").type == pa.int64()
    assert result.schema.field("name").type == pa.string()


def test_empty_table_keeps_its_columns(connector: Any, flavor: Flavor) -> None:
    ref = load(connector, "empty", people(0))
    assert connector.table_exists(ref)
    result = read_table(connector, ref)
    assert result.num_rows == 0
    if flavor.keeps_empty_schema:
        assert result.column_names == ["id", "name", "score"]
    if flavor.exact:
        assert result.schema == people(0).schema


def test_big_read_streams_batches_of_the_requested_size(connector: Any) -> None:
    n = 10_000
    load(connector, "big", pa.table({"n": pa.array(range(n), pa.int64())}), batch_rows=4096)
    sizes = [
        b.num_rows for b in iterate_batches(connector.read(select_all(connector, "big"), 1000))
    ]
    assert sum(sizes) == n
    assert len(sizes) >= 10
    assert max(sizes) <= 1000
    assert sizes.count(1000) >= 9


def test_replace_table_swaps_in_the_staging_table(connector: Any) -> None:
    load(connector, "target", people(5, tag="old"))
    load(connector, "_conveyor_stage_target_1", people(3, tag="new"))
    connector.replace_table(TableRef("_conveyor_stage_target_1"), TableRef("target"))
    assert not connector.table_exists(TableRef("_conveyor_stage_target_1"))
    assert read_table(connector, "target", "id").column("name").to_pylist() == [
        "new-1",
        "new-2",
        "new-3",
    ]
    names = {t.ref.name for t in connector.list_tables()}
    assert "target" in names


def test_replace_into_a_missing_target(connector: Any) -> None:
    load(connector, "_conveyor_stage_fresh", people(2))
    connector.replace_table(TableRef("_conveyor_stage_fresh"), TableRef("fresh"))
    assert read_table(connector, "fresh").num_rows == 2


def test_a_reader_during_a_swap_sees_the_old_table(connector: Any) -> None:
    load(connector, "swapped", people(3000, tag="old"), batch_rows=1000)
    load(connector, "_conveyor_stage_swapped", people(10, tag="new"))
    reader = connector.read(select_all(connector, "swapped"), 100)
    first = reader.read_next_batch()
    connector.replace_table(TableRef("_conveyor_stage_swapped"), TableRef("swapped"))
    rest = pa.Table.from_batches([first, *reader], schema=reader.schema)
    assert rest.num_rows == 3000
    assert set(n.split("-")[0] for n in rest.column("name").to_pylist()) == {"old"}
    assert read_table(connector, "swapped").num_rows == 10


def test_concurrent_readers_never_see_a_missing_or_partial_table(connector: Any) -> None:
    load(connector, "live", people(200, tag="v0"))
    seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def keep_reading() -> None:
        while not done.is_set():
            try:
                seen.append(read_table(connector, "live").num_rows)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    thread = threading.Thread(target=keep_reading)
    thread.start()
    try:
        for version in range(1, 8):
            staging = TableRef(f"_conveyor_stage_live_{version}")
            load(connector, staging, people(200 + version, tag=f"v{version}"))
            connector.replace_table(staging, TableRef("live"))
    finally:
        done.set()
        thread.join(timeout=30)
    assert not errors, errors
    assert seen and set(seen) <= {200 + v for v in range(8)}


def test_drop_table(connector: Any) -> None:
    ref = load(connector, "doomed", people(2))
    connector.drop_table(ref)
    assert not connector.table_exists(ref)
    connector.drop_table(ref)  # dropping what is not there is fine
    assert "doomed" not in {t.ref.name for t in connector.list_tables()}


def test_merge_by_key(connector: Any) -> None:
    load(connector, "merged", people(5, start=1, tag="old"), primary_key=("id",))
    assert load_through_engine(connector, "merged", people(4, start=4, tag="new"), ["id"]) == 4
    assert not any(t.ref.name.startswith("_conveyor_stage_") for t in connector.list_tables())
    result = read_table(connector, "merged", "id")
    assert result.column("id").to_pylist() == [1, 2, 3, 4, 5, 6, 7]
    assert result.column("name").to_pylist() == [
        "old-1",
        "old-2",
        "old-3",
        "new-4",
        "new-5",
        "new-6",
        "new-7",
    ]


def test_merge_without_keys_appends(connector: Any) -> None:
    load(connector, "log", people(2, start=1))
    assert load_through_engine(connector, "log", people(2, start=3), []) == 2
    assert read_table(connector, "log", "id").column("id").to_pylist() == [1, 2, 3, 4]


def test_merge_into_a_missing_target_creates_it(connector: Any) -> None:
    assert load_through_engine(connector, "new", people(3), ["id"], mode=None) == 3
    assert read_table(connector, "new").num_rows == 3


def test_open_writer_appends_to_existing_rows(connector: Any) -> None:
    ref = load(connector, "appended", people(2, start=1))
    writer = connector.open_writer(ref, people(0).schema)
    writer.write(people(2, start=3).to_batches()[0])
    writer.close()
    assert read_table(connector, ref, "id").column("id").to_pylist() == [1, 2, 3, 4]


def test_abort_leaves_the_table_as_it_was(connector: Any, tmp_path: Path) -> None:
    ref = load(connector, "aborted", people(2))
    writer = connector.open_writer(ref, people(0).schema)
    writer.abort()
    assert read_table(connector, ref).num_rows in (0, 2)  # SQL writers commit per batch
    leftovers = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert not leftovers


@pytest.mark.parametrize(
    "name",
    ["with space", 'with "double" quotes', "with [brackets]", "naïve ünïcödé 表 😀", "it's"],
)
def test_awkward_identifiers(connector: Any, flavor: Flavor, name: str) -> None:
    if flavor.bmp_identifiers and any(ord(c) > 0xFFFF for c in name):
        # MySQL identifiers cannot hold characters outside the BMP: refused, clearly
        with pytest.raises(ConfigurationError, match=r"name|identifier|character"):
            load(connector, name, pa.table({"plain": ["a"]}))
        return
    data = pa.table({name: pa.array([1, 2], pa.int64()), "plain": pa.array(["a", "b"])})
    ref = load(connector, name, data, primary_key=(name,))
    assert connector.table_exists(ref)
    assert name in {t.ref.name for t in connector.list_tables()}
    assert [c.name for c in connector.columns(ref)] == [name, "plain"]
    result = read_table(connector, ref, order_by=name)
    assert result.column(name).to_pylist() == [1, 2]
    assert load_through_engine(connector, ref, data.slice(1), [name], Mode.merge) == 1
    assert read_table(connector, ref).num_rows == 2


def test_missing_table(connector: Any) -> None:
    missing = TableRef("nowhere")
    with pytest.raises(TableNotFound):
        connector.read(select_all(connector, missing), 10).read_all()
    with pytest.raises(TableNotFound):
        connector.columns(missing)
    with pytest.raises(TableNotFound):
        connector.estimate_rows(missing)
    with pytest.raises(TableNotFound):
        connector.open_writer(missing, people(0).schema)
    with pytest.raises(TableNotFound):
        connector.replace_table(missing, TableRef("other"))


def test_schemas(connector: Any, flavor: Flavor, schema_name: str) -> None:
    ref = TableRef("inside", schema_name)
    if flavor.name == "sqlite":
        with pytest.raises(ConveyorError, match="schema"):
            connector.ensure_schema(schema_name)
        return
    connector.ensure_schema(schema_name)
    connector.ensure_schema(schema_name)
    load(connector, ref, people(2))
    assert connector.table_exists(ref)
    assert not connector.table_exists(TableRef("inside"))
    assert ref in {t.ref for t in connector.list_tables()}
    assert read_table(connector, ref).num_rows == 2


def test_create_table_uses_the_layout(connector: Any, flavor: Flavor) -> None:
    layout = TableSchema.from_arrow(people(0).schema, ("id",))
    connector.create_table(TableRef("laid_out"), layout)
    columns = connector.columns(TableRef("laid_out"))
    assert [c.name for c in columns] == ["id", "name", "score"]
    if flavor.exact:
        assert [c.type for c in columns] == [pa.int64(), pa.string(), pa.float64()]
