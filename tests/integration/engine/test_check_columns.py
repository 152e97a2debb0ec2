"""An explicit check column is honored or refused, and every full load says why.

Issue 17: `IncrementalCheckColumns='updated_at'` on a SQLite `TEXT` column of ISO-8601
timestamps (how SQLite stores dates) reloaded the whole table on every run, and the log
said "full load" and not why. ISO-8601 text is now a check column (compared as text) on
every source that holds it; a type that cannot order changes is refused with the reason;
and a load that reads every row says why in the run log.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration.engine.harness import Database, Job, rows

EVENTS = "REPLICATE [events] WITH IncrementalCheckColumns='updated_at'"
FIRST = [(i, f"e{i}", f"2024-01-01T00:{i:02d}:00") for i in range(1, 11)]
TEXT_TYPES = {"sqlite": "TEXT", "postgres": "TEXT", "mariadb": "VARCHAR(32)", "duckdb": "VARCHAR"}


def events(place: Callable[[str, str], str], kind: str, check_type: str | None = None) -> Database:
    """An `events` table whose check column `updated_at` has the given type (text by default)."""
    database = Database(kind, place(kind, "src"))
    database.execute(
        "CREATE TABLE events (id INTEGER PRIMARY KEY, what VARCHAR(20),"
        f" updated_at {check_type or TEXT_TYPES[kind]})"
    )
    return database


def lines(job: Job) -> list[str]:
    assert job.last is not None
    return [line for _, line, _ in job.last.lines]


def announced(job: Job) -> str:
    """The line that opens the `events` load: its mode, bound and reason."""
    return next(line for line in lines(job) if " load" in line and "events" in line)


@pytest.mark.parametrize(
    ("kind", "destination"),
    [
        ("sqlite", "duckdb"),
        ("sqlite", "sqlite"),
        ("postgres", "postgres"),
        ("postgres", "duckdb"),
        ("mariadb", "mariadb"),
        ("duckdb", "sqlite"),
    ],
    indirect=["destination"],
)
def test_iso_text_check_column_loads_incrementally(
    place: Callable[[str, str], str], kind: str, destination: str
) -> None:
    source = events(place, kind)
    source.insert("events", FIRST)
    job = Job(source.url, destination, [EVENTS])
    assert job.ok().rows_read == 10
    assert job.states["t0"] == {
        "check_column": "updated_at",
        "cursor": "2024-01-01T00:10:00",
    }
    source.execute(
        "UPDATE events SET what = 'changed', updated_at = '2024-01-02T00:00:00' WHERE id = 3"
    )
    source.insert("events", [(11, "e11", "2024-01-02T00:01:00")])
    outcome = job.ok()
    assert outcome.rows_read == 3  # the two changes and the row at the cursor, not all 11
    assert outcome.rows_written == 2
    assert "merge load from updated_at ≥ 2024-01-01T00:10:00" in announced(job)
    assert "compared as text" in announced(job)
    data = rows(destination, "events", "id")
    assert [r["id"] for r in data] == list(range(1, 12))
    assert data[2]["what"] == "changed"
    assert job.ok().rows_written == 0  # unchanged: nothing past the cursor


def test_iso_text_check_column_in_a_parquet_file(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    schema = pa.schema([("id", pa.int64()), ("what", pa.string()), ("updated_at", pa.string())])

    def write(values: list[tuple[int, str, str]]) -> None:
        columns = [list(column) for column in zip(*values, strict=True)]
        pq.write_table(pa.table(columns, schema=schema), folder / "events.parquet")

    write(FIRST)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    job = Job(f"file://{folder}?format=parquet", destination, [EVENTS])
    assert job.ok().rows_read == 10
    write([*FIRST, (11, "e11", "2024-01-02T00:01:00")])
    assert job.ok().rows_read == 2  # the new row and the one at the cursor (no key: appended)
    assert [r["id"] for r in rows(destination, "events", "id")] == list(range(1, 12))


@pytest.mark.parametrize(
    ("kind", "check_type", "shown", "why"),
    [
        ("sqlite", "BOOLEAN", "boolean", "two values"),
        ("sqlite", "BLOB", "blob", "bytes"),
        ("postgres", "UUID", "uuid", "uuid values do not sort"),
        ("postgres", "JSONB", "jsonb", "jsonb values do not sort"),
        ("postgres", "BOOLEAN", "boolean", "two values"),
        ("mariadb", "LONGBLOB", "longblob", "bytes"),
        ("mariadb", "BOOLEAN", "tinyint(1)", "two values"),
        ("mariadb", "TIME", "time", "starts over every day"),
    ],
)
def test_a_check_column_that_cannot_order_changes_is_refused(
    place: Callable[[str, str], str], kind: str, check_type: str, shown: str, why: str
) -> None:
    source = events(place, kind, check_type)
    outcome = Job(source.url, place("duckdb", "dst"), [EVENTS]).run()
    assert outcome.status.value == "error"
    error = outcome.error or ""
    assert "'updated_at'" in error and shown in error.lower() and why in error, error
    assert "cannot order changes" in error


def test_a_check_column_whose_type_changed_later_is_refused(
    place: Callable[[str, str], str],
) -> None:
    source = events(place, "postgres")
    source.insert("events", FIRST)
    job = Job(source.url, place("duckdb", "dst"), [EVENTS])
    job.ok()
    source.execute("ALTER TABLE events ALTER COLUMN updated_at TYPE uuid USING NULL")
    outcome = job.run()
    assert outcome.status.value == "error"
    assert "check column 'updated_at' is uuid" in (outcome.error or "")


def test_replicate_interval_on_a_text_check_column_is_refused(
    place: Callable[[str, str], str],
) -> None:
    source = events(place, "sqlite")
    source.insert("events", FIRST)
    job = Job(
        source.url,
        place("duckdb", "dst"),
        [EVENTS],
        replicate_interval=1,
        replicate_interval_unit="days",
    )
    outcome = job.run()
    assert outcome.status.value == "error"
    assert "ReplicateInterval" in (outcome.error or "") and "text" in (outcome.error or "")


def test_every_full_load_says_why(place: Callable[[str, str], str]) -> None:
    source = events(place, "sqlite", "TIMESTAMP")
    source.insert("events", [(i, f"e{i}", f"2024-01-01 00:{i:02d}:00") for i in range(1, 4)])
    destination = place("duckdb", "dst")
    job = Job(source.url, destination, [EVENTS])
    job.ok()
    assert "because this is the first run" in announced(job)
    job.ok()
    assert "merge load from updated_at ≥" in announced(job)
    assert "because" not in announced(job)
    job.ok(full=True)
    assert "because a full load was requested" in announced(job)

    Database("duckdb", destination).execute("DROP TABLE events")
    job.ok()
    assert "because the destination table no longer exists" in announced(job)

    job.queries = ["REPLICATE [events] WITH IncrementalCheckColumns='changed_at,modified'"]
    job.ok()
    assert (
        "because the query returns none of the check columns tried ('changed_at', 'modified')"
        in announced(job)
    )
    job.queries = ["REPLICATE [events]"]
    job.ok()
    assert "because no check column is set (IncrementalCheckColumns)" in announced(job)
    job.queries = [EVENTS]
    job.ok()
    assert "because no cursor is stored yet" in announced(job)
    job.queries = ["REPLICATE [events] WITH IncrementalCheckColumns='id'"]
    job.ok()
    assert "because the check column changed from 'updated_at' to 'id'" in announced(job)
    job.queries = ["REPLICATE [events] WITH DropTable, IncrementalCheckColumns='updated_at'"]
    job.ok()
    assert "because DropTable is set" in announced(job)


def test_a_text_cursor_that_is_not_iso_8601_is_warned_about(
    place: Callable[[str, str], str],
) -> None:
    source = events(place, "sqlite")
    source.insert("events", [(1, "e1", "01/02/2024 10:00")])
    job = Job(source.url, place("duckdb", "dst"), [EVENTS])
    job.ok()
    assert job.last is not None
    warnings = [line for level, line, _ in job.last.lines if level == "warning"]
    assert any("not ISO-8601" in line and "01/02/2024 10:00" in line for line in warnings)
