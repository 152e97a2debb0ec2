"""`command_timeout` bounds every statement on both ends, not only the gap between batches.

Issue 17: the setting ("seconds a single source or destination command may take") used to
stop only a source that sent no rows; a slow merge, a swap waiting for a lock or a
transformation statement ran as long as it liked. Each test here ran to the end before.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest

from conveyor.domain import EngineSettings, RunLoad
from conveyor.engine import runner
from conveyor.engine.reporting import NullReporter, RunOutcome
from conveyor.engine.spec import Endpoint, RunSpec, TaskSpec
from tests.integration.engine.harness import Database, Job, rows

LIMIT = 1
ROOMY = 30
"""The limit of runs that must complete: a small table's statements within it even on a
loaded machine, where one may now and then take longer than `LIMIT`."""
SLEEP = 30  # seconds a slow statement would take
WITHIN = 15.0  # seconds a stopped run may take: the limit plus room for a busy machine
COUNT_TO = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < {})"
    " SELECT count(*) FROM c"
)
INTERRUPTED_COUNT = COUNT_TO.format(200_000_000)  # DuckDB stops at once: any length will do
ABANDONED_COUNT = COUNT_TO.format(10_000_000)
"""Several seconds of SQLite work (well past the limit), which ADBC cannot stop: it runs on
in a thread the run abandons until the run's process ends, here until it ends by itself."""


def transform(url: str, statements: list[str], **settings: object) -> tuple[RunOutcome, float]:
    """Run a transformation's statements on `url`; its outcome and how long it took."""
    spec = RunSpec(
        run_id=uuid.uuid4().hex,
        job_id="transformation",
        job_name="transformation",
        job_type="standard",
        load=RunLoad.full,
        settings=EngineSettings(**{"verbosity": 5, **settings}),  # type: ignore[arg-type]
        source=None,
        destination=Endpoint(url),
        tasks=tuple(TaskSpec(id=f"t{i}", position=i, query=q) for i, q in enumerate(statements)),
        kind="transformation",
    )
    started = time.monotonic()
    outcome = runner.execute(spec, NullReporter(), threading.Event())
    return outcome, time.monotonic() - started


def limited(job: Job, seconds: float) -> Job:
    """The job, its `command_timeout` set to `seconds` from its next run on."""
    job.settings = job.settings.model_copy(update={"command_timeout": seconds})
    return job


def assert_timed_out(outcome: RunOutcome, elapsed: float, *names: str) -> None:
    """The run failed at the limit, retryably, naming the timeout and the statement."""
    assert outcome.status.value == "error", outcome
    assert elapsed < WITHIN, elapsed
    error = outcome.error or ""
    assert f"command_timeout ({LIMIT} s)" in error, error
    for name in names:
        assert name in error, error
    assert outcome.retryable


@pytest.mark.parametrize(
    ("kind", "statement", "named"),
    [
        ("postgres", f"SELECT pg_sleep({SLEEP})", f"pg_sleep({SLEEP})"),
        ("mariadb", f"SELECT SLEEP({SLEEP})", f"SLEEP({SLEEP})"),
        ("duckdb", INTERRUPTED_COUNT, "WITH RECURSIVE"),
        ("sqlite", ABANDONED_COUNT, "WITH RECURSIVE"),
    ],
)
def test_a_transformation_statement_is_stopped_at_command_timeout(
    kind: str, statement: str, named: str, place: Callable[[str, str], str]
) -> None:
    url = place(kind, "dst")
    Database(kind, url).execute("CREATE TABLE marker (id INTEGER)")
    outcome, elapsed = transform(
        url, [statement, "INSERT INTO marker VALUES (1)"], command_timeout=LIMIT
    )
    assert_timed_out(outcome, elapsed, named)
    assert [t.status.value for t in outcome.tasks] == ["error", "pending"]


@pytest.mark.parametrize("kind", ["postgres", "mariadb", "duckdb", "sqlite"])
def test_a_transformation_within_command_timeout_runs(
    kind: str, place: Callable[[str, str], str]
) -> None:
    url = place(kind, "dst")
    Database(kind, url).execute("CREATE TABLE marker (id INTEGER)")
    outcome, _ = transform(url, ["INSERT INTO marker VALUES (1)"] * 3, command_timeout=ROOMY)
    assert outcome.status.value == "completed", outcome.error
    assert len(rows(url, "marker", "id")) == 3


def slow_trigger(destination: str) -> None:
    """Make every statement that writes the destination's `orders` take `SLEEP` seconds."""
    with psycopg.connect(destination.split("?")[0], autocommit=True) as conn:
        search_path = destination.rsplit("search_path%3D", 1)[1]
        conn.execute(f"SET search_path = {search_path}")
        conn.execute(
            "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN PERFORM pg_sleep({SLEEP}); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER slow AFTER INSERT OR UPDATE OR DELETE ON orders"
            " FOR EACH STATEMENT EXECUTE FUNCTION slow()"
        )


def incremental_orders(source: Database, destination: str) -> Job:
    """The orders, merged by key from their `updated_at` on, with a limit set."""
    return Job(
        source.url,
        destination,
        ["REPLICATE [orders]"],
        command_timeout=ROOMY,
        incremental_check_columns=["updated_at"],
    )


@pytest.mark.parametrize(("source", "destination"), [("sqlite", "postgres")], indirect=True)
def test_a_slow_merge_fails_at_command_timeout(source: Database, destination: str) -> None:
    job = incremental_orders(source, destination)
    job.ok()
    slow_trigger(destination)
    source.execute("UPDATE orders SET customer = 'changed', updated_at = '2024-02-01' WHERE id = 3")
    started = time.monotonic()
    outcome = limited(job, LIMIT).run()
    assert_timed_out(outcome, time.monotonic() - started, "orders: ", "INSERT INTO")
    assert job.last is not None and "merge load" in str(job.last.lines)
    assert rows(destination, "orders", "id")[2]["customer"] == "c3"  # the merge rolled back


@pytest.mark.parametrize(("source", "destination"), [("sqlite", "postgres")], indirect=True)
def test_a_swap_waiting_for_a_lock_fails_at_command_timeout(
    source: Database, destination: str
) -> None:
    job = Job(source.url, destination, ["REPLICATE [orders]"], command_timeout=ROOMY)
    job.ok()
    with psycopg.connect(destination.split("?")[0]) as reader:  # a long report holds the table
        search_path = destination.rsplit("search_path%3D", 1)[1]
        reader.execute(f"SET search_path = {search_path}")
        reader.execute("SELECT count(*) FROM orders").fetchall()  # its transaction stays open
        started = time.monotonic()
        outcome = limited(job, LIMIT).run(full=True)
        elapsed = time.monotonic() - started
        reader.rollback()
    assert_timed_out(outcome, elapsed, "orders", "DROP TABLE")
    assert len(rows(destination, "orders", "id")) == 10  # the old table, kept
    limited(job, ROOMY).ok(full=True)  # the lock gone, the next run swaps


@pytest.mark.parametrize(("source", "destination"), [("sqlite", "mariadb")], indirect=True)
def test_a_mariadb_swap_waiting_for_a_lock_fails_at_command_timeout(
    source: Database, destination: str
) -> None:
    import pymysql

    from conveyor.connectors.mysql.connector import MySQLConnector

    job = Job(source.url, destination, ["REPLICATE [orders]"], command_timeout=ROOMY)
    job.ok()
    address = MySQLConnector(destination).address
    reader = pymysql.connect(
        host=address.host, port=address.port, user=address.user, database=address.database
    )
    try:
        with reader.cursor() as cur:  # a long report holds the table's metadata lock
            cur.execute("BEGIN")
            cur.execute("SELECT count(*) FROM orders")
            cur.fetchall()
        started = time.monotonic()
        outcome = limited(job, LIMIT).run(full=True)
        elapsed = time.monotonic() - started
    finally:
        reader.rollback()
        reader.close()
    assert_timed_out(outcome, elapsed, "orders")
    assert len(rows(destination, "orders", "id")) == 10
    limited(job, ROOMY).ok(full=True)


@pytest.mark.parametrize(("source", "destination"), [("postgres", "duckdb")], indirect=True)
def test_a_source_table_locked_by_another_session_fails_at_command_timeout(
    source: Database, destination: str
) -> None:
    job = Job(source.url, destination, ["REPLICATE [orders]"], command_timeout=ROOMY)
    with psycopg.connect(source.url.split("?")[0]) as migration:  # ALTER TABLE, say
        migration.execute(f"SET search_path = {source.url.rsplit('search_path%3D', 1)[1]}")
        migration.execute("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE")
        released = threading.Timer(SLEEP, migration.rollback)  # a run that waits, ends
        released.start()
        started = time.monotonic()
        outcome = limited(job, LIMIT).run()
        elapsed = time.monotonic() - started
        released.cancel()
        migration.rollback()
    assert_timed_out(outcome, elapsed, "orders")
    limited(job, ROOMY).ok()


@pytest.mark.parametrize(
    ("source", "destination"),
    [("sqlite", d) for d in ("duckdb", "sqlite", "postgres", "mariadb")]
    + [("postgres", "duckdb"), ("mariadb", "sqlite")],
    indirect=True,
)
def test_loads_within_command_timeout_run_as_without_one(
    source: Database, destination: str
) -> None:
    job = incremental_orders(source, destination)
    job.ok()
    source.execute("UPDATE orders SET customer = 'changed', updated_at = '2024-02-01' WHERE id = 3")
    source.execute("DELETE FROM orders WHERE id = 5")
    job.ok()
    loaded = rows(destination, "orders", "id")
    assert [r["id"] for r in loaded] == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert loaded[2]["customer"] == "changed"
