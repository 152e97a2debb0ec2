"""Change data capture, operational cases: history versions that stay whole, file
destinations merged like incremental jobs, several tasks on one table, and tables
leaving a job's publication.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import psycopg
import pytest

from tests.integration.engine.harness import Job
from tests.integration.engine.test_cdc import (
    BIG,
    CDC,
    converged,
    make_orders,
    pg_source,
    rows,
    sql,
    writing,
)
from tests.services import fresh_pg_database

__all__ = ["pg_source"]  # the fixture, used by name


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_history_versions_carry_unchanged_toasted_values(
    pg_source: str, tmp_path: Path, kind: str
) -> None:
    make_orders(pg_source)
    sql(
        pg_source,
        f"INSERT INTO orders SELECT g, 'n' || g, {BIG}, 1 FROM generate_series(1001, 2200) g",
    )
    with contextlib.ExitStack() as stack:
        destination = (
            stack.enter_context(fresh_pg_database("cdc_history"))
            if kind == "postgres"
            else f"sqlite:///{tmp_path / 'history.db'}"
        )
        job = Job(pg_source, destination, ["REPLICATE [orders]"], job_type=CDC, history_mode=True)
        job.ok()
        sql(
            pg_source,
            "UPDATE orders SET name = 'renamed' WHERE id = 10",  # big (TOASTed) left unchanged
            "UPDATE orders SET name = 'again', amount = 1 WHERE id IN (20, 21)",  # 20 has a big
            "UPDATE orders SET name = 'bulk' WHERE id > 1000",  # more keys than one lookup
        )
        job.ok()
        _check_versions(pg_source, destination)


def _check_versions(pg_source: str, destination: str) -> None:
    bulk = rows(destination, "orders WHERE id > 1000 AND _conveyor_active", "id, name, big")
    assert bulk == rows(pg_source, "orders WHERE id > 1000", "id, name, big")
    assert len(bulk) == 1200 and all(big is not None for _, _, big in bulk)
    big = dict(rows(pg_source, "orders", "id, big"))
    versions = [
        (key, name, value, int(active))
        for key, name, value, active in rows(
            destination, "orders WHERE id IN (10, 20, 21)", "id, name, big, _conveyor_active"
        )
    ]
    assert sorted(versions, key=str) == sorted(
        [
            (10, "n10", big[10], 0),
            (10, "renamed", big[10], 1),
            (20, "n20", big[20], 0),
            (20, "again", big[20], 1),
            (21, "n21", None, 0),
            (21, "again", None, 1),
        ],
        key=str,
    )
    assert big[10] is not None and big[20] is not None


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_file_destinations_are_merged_as_for_incremental_jobs(
    pg_source: str, tmp_path: Path, fmt: str
) -> None:
    make_orders(pg_source)
    folder = tmp_path / "lake"
    folder.mkdir()
    destination = f"file://{folder}?format={fmt}"
    job = Job(pg_source, destination, ["REPLICATE [orders]"], job_type=CDC)
    job.ok()
    assert (folder / f"orders.{fmt}").exists()
    sql(
        pg_source,
        "INSERT INTO orders VALUES (900, 'new', 'small', 9.99)",
        "UPDATE orders SET name = 'renamed' WHERE id = 10",  # big (TOASTed) unchanged
        "UPDATE orders SET amount = amount + 1 WHERE id BETWEEN 20 AND 40",
        "DELETE FROM orders WHERE id BETWEEN 50 AND 59",
        "UPDATE orders SET id = 5000 WHERE id = 3",
    )
    second = job.ok()
    assert second.tasks[0].rows_deleted == 11
    assert rows(destination, "orders") == rows(pg_source, "orders")
    sql(pg_source, "TRUNCATE orders", "INSERT INTO orders VALUES (1, 'after', NULL, 1.00)")
    job.ok()
    assert rows(destination, "orders") == rows(pg_source, "orders")


def test_two_tasks_may_follow_one_table(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    queries = [
        "REPLICATE [orders]",
        "REPLICATE [big_orders] SELECT id, amount AS total FROM [orders] WHERE amount >= 600",
    ]
    job = Job(pg_source, destination, queries, job_type=CDC)
    job.ok()
    sql(
        pg_source,
        "UPDATE orders SET amount = 1 WHERE id = 499",
        "UPDATE orders SET amount = 1000, name = 'big now' WHERE id = 2",
        "DELETE FROM orders WHERE id = 498",
    )
    job.ok()
    assert rows(destination, "orders") == rows(pg_source, "orders")
    assert rows(destination, "big_orders", "id, total") == rows(
        pg_source, "orders WHERE amount >= 600", "id, amount"
    )


def test_two_tasks_writing_one_table_are_refused(pg_source: str, tmp_path: Path) -> None:
    make_orders(pg_source)
    queries = ["REPLICATE [orders]", "REPLICATE [orders] SELECT id, name FROM [orders]"]
    job = Job(pg_source, f"sqlite:///{tmp_path / 'd.db'}", queries, job_type=CDC)
    failed = job.run()
    assert failed.status.value == "error"
    assert "tasks 0 and 1 both write" in (failed.error or "")


def published(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT tablename FROM pg_publication_tables ORDER BY 1").fetchall()
    return [r[0] for r in found]


def test_a_table_removed_from_the_job_leaves_its_publication(
    pg_source: str, tmp_path: Path
) -> None:
    make_orders(pg_source)
    sql(pg_source, "CREATE TABLE items (id int PRIMARY KEY, sku text)")
    destination = f"sqlite:///{tmp_path / 'dst.db'}"
    job = Job(pg_source, destination, ["REPLICATE [orders]", "REPLICATE [items]"], job_type=CDC)
    job.ok()
    assert published(pg_source) == ["items", "orders"]
    job.queries = ["REPLICATE [orders]"]
    sql(pg_source, "INSERT INTO items VALUES (1, 'a')", "DELETE FROM orders WHERE id = 1")
    job.ok()
    assert published(pg_source) == ["orders"]
    assert rows(destination, "orders") == rows(pg_source, "orders")


def test_continuous_mode_converges_after_the_last_commit_of_a_busy_writer(
    pg_source: str, tmp_path: Path
) -> None:
    """The stream keeps up with a writer committing as fast as it can, and is level with
    the source once it stops (how soon is measured by the benchmark, not here)."""
    make_orders(pg_source)
    destination = f"duckdb:///{tmp_path / 'dst.duckdb'}"
    settings = {"continuous": True, "flush_interval": 0.2}
    job = Job(
        pg_source, destination, ["REPLICATE [orders]"], job_type=CDC, cdc_engine_settings=settings
    )
    cancel, outcome = threading.Event(), []
    thread = threading.Thread(target=lambda: outcome.append(job.run(cancel=cancel)))
    thread.start()
    try:
        assert converged(pg_source, destination)
        with writing(pg_source, 10_000) as written:
            while written() < 300:
                sql(
                    pg_source, f"UPDATE orders SET amount = amount + 1 WHERE id = {written() % 500}"
                )
        sql(pg_source, "DELETE FROM orders WHERE id % 7 = 0")  # the last commit
        assert converged(pg_source, destination)
    finally:
        cancel.set()
        thread.join()
    assert outcome[0].status.value == "canceled"
