"""MySQL/MariaDB specifics: transactional loads, exact text keys, databases as schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef, TableSchema
from conveyor.connectors.registry import open_connector
from conveyor.errors import ConveyorError
from tests.services import fresh_mysql_database, mysql_url
from tests.unit.connectors.conftest import load, read_table


@pytest.fixture
def maria() -> Iterator[Any]:
    with fresh_mysql_database() as name:
        conn = open_connector(mysql_url(name))
        yield conn
        conn.close()


def test_abort_rolls_the_load_back(maria: Any) -> None:
    data = pa.table({"id": pa.array(range(1000), pa.int64())})
    maria.create_table(TableRef("half"), TableSchema.from_arrow(data.schema, ("id",)))
    writer = maria.open_writer(TableRef("half"), data.schema)
    for batch in data.to_batches(max_chunksize=100)[:3]:
        writer.write(batch)
    writer.abort()
    assert read_table(maria, "half").num_rows == 0


def test_text_keys_compare_exactly(maria: Any) -> None:
    """Case and trailing spaces make different keys (binary, no-pad collation)."""
    keys = ["a", "A", "a ", "ä"]
    ref = load(maria, "keyed", pa.table({"k": keys, "n": pa.array(range(4), pa.int64())}), ("k",))
    assert sorted(read_table(maria, ref).column("k").to_pylist()) == sorted(keys)


def test_databases_are_schemas(maria: Any) -> None:
    other = maria.address.database + "_other"
    maria.ensure_schema(other)
    ref = load(maria, TableRef("t", other), pa.table({"id": pa.array([1], pa.int64())}))
    assert ref in {t.ref for t in maria.list_tables()}
    assert TableRef("t") not in {t.ref for t in maria.list_tables()}
    assert maria.estimate_rows(ref) is not None


def test_a_query_with_conversions_keeps_its_order(maria: Any) -> None:
    maria.execute("CREATE TABLE money (id INT PRIMARY KEY, amount DECIMAL(30, 10), at TIME(6))")
    maria.execute("INSERT INTO money VALUES (1, 3.5, '10:00'), (2, 1.25, '09:00'), (3, 2, '08:00')")
    got = maria.read("SELECT id, amount, at FROM money ORDER BY amount DESC", 10).read_all()
    assert got.column("id").to_pylist() == [1, 3, 2]
    assert got.schema.field("amount").type == pa.decimal128(30, 10)
    assert str(got.column("at")[0]) == "10:00:00"


def test_a_transaction_stays_one_across_its_ddl(maria: Any) -> None:
    """MySQL commits around DDL; the statements after it still commit or fail together."""
    maria.execute("CREATE TABLE t (id INT PRIMARY KEY)")
    with pytest.raises(ConveyorError):
        maria.execute_in_transaction(
            [
                "ALTER TABLE t ADD COLUMN v INT",
                "INSERT INTO t VALUES (1, 1)",
                "INSERT INTO t VALUES (1, 2)",  # duplicate key: the whole rest rolls back
            ]
        )
    assert read_table(maria, "t").num_rows == 0


def test_a_read_slower_than_the_server_spills_to_disk(
    maria: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """connectorx never waits for its reader: what memory cannot hold waits on disk."""
    import tempfile
    import time

    from conveyor.connectors.mysql import spill

    monkeypatch.setattr(spill, "MEMORY_BYTES", 64 * 1024)
    monkeypatch.setattr(spill, "SEGMENT_BYTES", 256 * 1024)
    made = []
    temporary = tempfile.TemporaryFile

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(1)
        return temporary(*args, **kwargs)

    monkeypatch.setattr(spill.tempfile, "TemporaryFile", counted)
    maria.execute(
        "CREATE TABLE big (id BIGINT PRIMARY KEY, amount DECIMAL(12,2), at DATETIME(6), note TEXT)"
    )
    maria.execute(
        "INSERT INTO big SELECT seq, seq / 100, FROM_UNIXTIME(1700000000 + seq),"
        " IF(seq % 7 = 0, NULL, CONCAT('n', seq)) FROM seq_1_to_45000"
    )
    batches = []
    for batch in maria.read("SELECT * FROM `big` ORDER BY id", 2048):
        time.sleep(0.002)  # a destination slower than the server
        batches.append(batch)
    table = pa.Table.from_batches(batches)
    assert made  # some batches waited on disk
    assert table.column("id").to_pylist() == list(range(1, 45001))  # every row once, in order
    assert table.column("note").null_count == 45000 // 7
    assert str(table.column("amount").type) == "decimal128(12, 2)"
