"""pgoutput messages decoded, and batches folded into the last state of each key."""

from __future__ import annotations

import struct
from typing import Any

from conveyor.engine.cdc.changes import Batch
from conveyor.engine.cdc.pgoutput import (
    UNCHANGED,
    Change,
    Commit,
    Relation,
    Truncate,
    decode,
    lsn_text,
    parse_lsn,
)
from conveyor.engine.cdc.statements import problem
from conveyor.engine.replicate import parse


def relation(oid: int = 7) -> bytes:
    columns = b"".join(
        struct.pack("!b", key) + name + b"\0" + struct.pack("!Ii", 23, -1)
        for key, name in ((1, b"id"), (0, b"name"), (0, b"big"))
    )
    return b"R" + struct.pack("!I", oid) + b"public\0orders\0d" + struct.pack("!h", 3) + columns


def tuple_(*values: object) -> bytes:
    out = struct.pack("!h", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value is UNCHANGED:
            out += b"u"
        else:
            text = str(value).encode()
            out += b"t" + struct.pack("!i", len(text)) + text
    return out


def insert(*values: str | None) -> bytes:
    return b"I" + struct.pack("!I", 7) + b"N" + tuple_(*values)


def update(new: tuple[object, ...], old_key: str | None = None) -> bytes:
    old = b"K" + tuple_(old_key, None, None) if old_key is not None else b""
    return b"U" + struct.pack("!I", 7) + old + b"N" + tuple_(*new)


def delete(key: str) -> bytes:
    return b"D" + struct.pack("!I", 7) + b"K" + tuple_(key, None, None)


def commit(end: int) -> bytes:
    return b"C\0" + struct.pack("!QQq", end - 8, end, 86_400_000_000)


def test_messages_decode() -> None:
    described = decode(relation())
    assert isinstance(described, Relation)
    assert [c.name for c in described.columns] == ["id", "name", "big"]
    assert [c.key for c in described.columns] == [True, False, False]
    changed = decode(update(("1", "a", UNCHANGED), old_key="9"))
    assert isinstance(changed, Change) and changed.kind == "U"
    assert changed.new == ("1", "a", UNCHANGED) and changed.old == ("9", None, None)
    assert not changed.old_full
    done = decode(commit(1000))
    assert isinstance(done, Commit) and done.end_lsn == 1000
    assert done.committed_at.year == 2000 and done.committed_at.day == 2
    truncated = decode(b"T" + struct.pack("!ib", 2, 0) + struct.pack("!II", 7, 8))
    assert truncated == Truncate((7, 8))
    assert decode(b"Y" + struct.pack("!I", 1) + b"public\0t\0") is None
    assert lsn_text(parse_lsn("16/B374D848")) == "16/B374D848"


def fold(*messages: bytes) -> Batch:
    batch = Batch({"public.orders": ("id",)})
    batch.fold(decode(m) for m in (relation(), *messages, commit(500)))
    return batch


def test_the_last_state_of_each_key_wins() -> None:
    batch = fold(
        insert("1", "a", "big"),
        update(("1", "b", UNCHANGED)),  # the earlier image fills the TOASTed value
        insert("2", "x", None),
        delete("2"),
        insert("3", "y", None),
        update(("4", "moved", UNCHANGED), old_key="3"),  # a key change
        update(("5", "z", UNCHANGED)),  # unknown here: the destination keeps its own
    )
    (table,) = batch.tables.values()
    assert table.upserts == {
        ("1",): {"id": "1", "name": "b", "big": "big"},
        ("4",): {"id": "4", "name": "moved", "big": None},
        ("5",): {"id": "5", "name": "z", "big": UNCHANGED},
    }
    assert set(table.deletes) == {("2",), ("3",)}
    assert (table.inserted, table.updated, table.deleted) == (3, 3, 1)
    assert batch.end_lsn == 500 and batch.transactions == 1


def test_a_truncate_forgets_what_came_before_it() -> None:
    batch = fold(
        insert("1", "a", None),
        b"T" + struct.pack("!ib", 1, 0) + struct.pack("!I", 7),
        insert("2", "b", None),
    )
    (table,) = batch.tables.values()
    assert table.truncated and list(table.upserts) == [("2",)] and not table.deletes


def test_cdc_tasks_follow_single_rows() -> None:
    assert problem(parse("REPLICATE [o] SELECT id, a + 1 AS b FROM t WHERE a > 1")) is None
    for query in (
        "REPLICATE ALL",
        "REPLICATE [o] SELECT t.id FROM t JOIN u ON u.id = t.id",
        "REPLICATE [o] SELECT max(id) FROM t",
        "REPLICATE [o] SELECT DISTINCT id FROM t",
        "REPLICATE [o] SELECT id FROM t UNION SELECT id FROM u",
    ):
        assert problem(parse(query)) is not None, query


def test_a_slot_retaining_too_much_wal_is_a_warning_in_the_job_status(tmp_path: Any) -> None:
    from types import SimpleNamespace

    from conveyor.config import Settings
    from conveyor.services.jobs import status_warnings
    from conveyor.store.models import Run

    ctx: Any = SimpleNamespace(
        settings=Settings(data_dir=tmp_path, cdc_retained_warning_bytes=1000)
    )
    assert status_warnings(ctx, None) == []
    assert status_warnings(ctx, Run(cdc=None)) == []
    assert status_warnings(ctx, Run(cdc={"position": "0/1", "retained_bytes": 1000})) == []
    (warning,) = status_warnings(ctx, Run(cdc={"position": "0/1", "retained_bytes": 1001}))
    assert "1,001 bytes" in warning
    ctx.settings = Settings(data_dir=tmp_path, cdc_retained_warning_bytes=0)
    assert status_warnings(ctx, Run(cdc={"retained_bytes": 10**12})) == []


def test_a_backlog_is_read_in_batches_sized_by_bytes() -> None:
    from conveyor.engine.cdc.pglog import BATCH_BYTES, MAX_BATCH, MIN_BATCH, next_size

    assert next_size(50_000, 10, 1_000) == 50_000  # caught up: no reason to change
    assert next_size(50_000, 50_020, BATCH_BYTES // 4) == 200_000  # a backlog of small rows
    assert next_size(200_000, 200_010, BATCH_BYTES // 100) == MAX_BATCH
    assert next_size(50_000, 50_010, BATCH_BYTES * 2) == 25_000  # wide rows: smaller
    assert next_size(2_000, 5, BATCH_BYTES * 100) == MIN_BATCH  # one huge transaction
