"""A read of a file that another writer replaces meanwhile sees one whole version of it.

DuckDB opens a file several times in one query (the footer as it binds, the data as it
scans); by name, a swap between two of those opens hands it one version's footer and
the other's bytes. The file connector pins each file a read opens (`/proc/self/fd/N`).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conveyor.connectors.files import connector as files
from conveyor.connectors.files.connector import FileConnector
from conveyor.errors import ConveyorError

pytestmark = pytest.mark.skipif(not os.path.isdir(files.PINNED), reason="needs /proc/self/fd")


def put(folder: Path, version: int, rows: int = 2_000) -> None:
    """Swap in a new version of live.parquet as a writer does: a whole file, renamed onto it."""
    table = pa.table({"id": range(rows + version), "tag": [f"v{version}"] * (rows + version)})
    temporary = folder / f".live.{version}.tmp"
    pq.write_table(table, temporary, row_group_size=64)  # many row groups: many reads
    os.replace(temporary, folder / "live.parquet")


def versions(table: pa.Table) -> set[str]:
    return set(table.column("tag").to_pylist())


def test_a_read_keeps_the_file_it_began_with(tmp_path: Path) -> None:
    put(tmp_path, 0)
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    reader = conn.read('SELECT * FROM "live"', 100)
    put(tmp_path, 1)  # before the first batch
    first = reader.read_next_batch()
    put(tmp_path, 2)  # in the middle
    rest = reader.read_all()
    assert first.num_rows + rest.num_rows == 2_000
    assert versions(rest) == {"v0"}
    assert versions(conn.read('SELECT * FROM "live"', 100).read_all()) == {"v2"}


def test_a_swap_before_the_query_binds_keeps_the_pinned_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(tmp_path, 0)
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    set_up = conn._set_up

    def then_swap(query: str, session: Any) -> None:
        set_up(query, session)
        put(tmp_path, 1)

    monkeypatch.setattr(conn, "_set_up", then_swap)
    table = conn.read('SELECT * FROM "live"', 100).read_all()
    assert (table.num_rows, versions(table)) == (2_000, {"v0"})


@pytest.mark.parametrize("swapped", [True, False])
def test_a_read_that_fails_as_its_file_is_swapped_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swapped: bool
) -> None:
    """DuckDB vets a pinned file by where it is now: it may refuse one replaced meanwhile.
    Only then does the read start over, on the new file."""
    put(tmp_path, 0)
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    set_up = conn._set_up
    attempts: list[Any] = []

    def refused_once(query: str, session: Any) -> None:
        set_up(query, session)
        attempts.append(session)
        if len(attempts) == 1:
            if swapped:
                put(tmp_path, 1)
            raise duckdb.PermissionException("Cannot access file: disabled by configuration")

    monkeypatch.setattr(conn, "_set_up", refused_once)
    if swapped:
        table = conn.read('SELECT * FROM "live"', 100).read_all()
        assert (len(attempts), table.num_rows, versions(table)) == (2, 2_001, {"v1"})
    else:
        with pytest.raises(ConveyorError):
            conn.read('SELECT * FROM "live"', 100)
        assert len(attempts) == 1
    assert all(session.con is None or _closed(session.con) for session in attempts[:1])


def _closed(con: duckdb.DuckDBPyConnection) -> bool:
    try:
        con.execute("SELECT 1")
    except duckdb.ConnectionException:
        return True
    return False


def test_errors_name_the_file_not_its_descriptor(tmp_path: Path) -> None:
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really parquet PAR1")
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    with pytest.raises(ConveyorError) as caught:
        conn.read('SELECT * FROM "broken"', 100).read_all()
    assert str(tmp_path / "broken.parquet") in str(caught.value)
    assert files.PINNED not in str(caught.value)


def test_readers_racing_a_writer_see_whole_versions(tmp_path: Path) -> None:
    """Swaps as fast as a writer can make them while reads race them: no read fails or
    mixes. It runs until both sides did enough (not for a fixed time, which a busy machine
    could fill with too few of either).

    Reading by name, this failed a read about once a second (DuckDB: TProtocolException,
    "don't know what type", "Could not read enough bytes").
    """
    put(tmp_path, 0)
    conn = FileConnector(f"file://{tmp_path}?format=parquet")
    enough = threading.Event()
    swaps = 0

    def keep_swapping() -> None:
        nonlocal swaps
        while not enough.is_set():
            swaps += 1
            put(tmp_path, swaps % 50)

    writer = threading.Thread(target=keep_swapping)
    writer.start()
    reads: list[tuple[int, set[str]]] = []
    give_up = time.monotonic() + 120
    try:
        while (len(reads) < 30 or swaps < 30) and time.monotonic() < give_up:
            table = conn.read('SELECT * FROM "live"', 1_000).read_all()
            reads.append((table.num_rows, versions(table)))
    finally:
        enough.set()
        writer.join()
    assert swaps >= 30 and len(reads) >= 30
    mixed = [
        (rows, tags) for rows, tags in reads if len(tags) != 1 or rows != 2_000 + int(min(tags)[1:])
    ]
    assert not mixed
