"""The CDC benchmark's source workload and its yardsticks.

A table of items changed by a 70% update / 20% insert / 10% delete mix — live and paced
(`Writer`), or as a backlog the server writes itself in small committed transactions
(`make_backlog`) — plus a probe row whose commits are timed at the source and watched
for at the destination (`Probe`), and PostgreSQL's own logical replication
(`NativeSubscription`) into another database of the same server.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg

from bench.servers import PG_HOST, PG_PORT, PG_USER, pg_url, psql

ITEMS = (
    "CREATE TABLE cdc_items (id bigint PRIMARY KEY, account integer NOT NULL,"
    " amount numeric(12,2), label text, updated_at timestamptz)"
)
PROBE = "CREATE TABLE cdc_probe (id int PRIMARY KEY, seq bigint NOT NULL)"
FILL = (
    "INSERT INTO cdc_items SELECT g, g % 1000, g / 100.0, 'label ' || (g % 977),"
    " now() FROM generate_series(1, {rows}) g"
)
TABLES = ("cdc_items", "cdc_probe")


def mix(rows_per_transaction: int) -> tuple[int, int, int]:
    """(updates, inserts, deletes) of one transaction: 70% / 20% / 10%."""
    updates = round(rows_per_transaction * 0.7)
    inserts = round(rows_per_transaction * 0.2)
    return updates, inserts, max(0, rows_per_transaction - updates - inserts)


@contextlib.contextmanager
def databases(*roles: str) -> Iterator[dict[str, str]]:
    """Fresh databases named `conveyor_bench_cdc_<role>_<suffix>` (URLs by role), dropped
    afterwards: the server is shared with other users."""
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"conveyor_bench_cdc_{role}_{suffix}" for role in roles}
    try:
        for name in names.values():
            psql("postgres", f'CREATE DATABASE "{name}"')
        yield {role: pg_url(name) for role, name in names.items()}
    finally:
        for name in names.values():
            with contextlib.suppress(Exception):
                psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_tables(url: str, rows: int = 0) -> None:
    """The items (with `rows` rows) and the probe row."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(ITEMS)
        conn.execute(PROBE)
        conn.execute("INSERT INTO cdc_probe VALUES (1, 0)")
        if rows:
            conn.execute(FILL.format(rows=int(rows)))
            conn.execute("VACUUM ANALYZE cdc_items")


def copy_tables(source: str, destination: str) -> None:
    """Binary COPY of every table (the native subscriber's starting data)."""
    with psycopg.connect(source) as src, psycopg.connect(destination) as dst:
        dst.execute(f"TRUNCATE {', '.join(TABLES)}")
        for table in TABLES:
            out_sql = f"COPY {table} TO STDOUT (FORMAT binary)"
            in_sql = f"COPY {table} FROM STDIN (FORMAT binary)"
            with src.cursor().copy(out_sql) as out, dst.cursor().copy(in_sql) as into:
                for data in out:
                    into.write(data)
        dst.commit()


def summary(url: str) -> tuple[object, ...]:
    """Rows, key sum and amount sum of the items, and the probe: equal means converged."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), sum(id), sum(amount), (SELECT seq FROM cdc_probe WHERE id = 1)"
            " FROM cdc_items"
        ).fetchone()
    assert row is not None
    return tuple(row)


BACKLOG = """
DO $$
DECLARE lo bigint := 1; hi bigint := {rows}; k int;
BEGIN
  PERFORM setseed(0.5);
  FOR k IN 1..{transactions} LOOP
    UPDATE cdc_items SET amount = amount + 1, label = 'u' || k, updated_at = clock_timestamp()
      WHERE id IN (SELECT lo + {deletes} + (random() * (hi - lo - {deletes}))::bigint
                   FROM generate_series(1, {updates}));
    INSERT INTO cdc_items SELECT g, g % 1000, g / 100.0, 'new ' || k, clock_timestamp()
      FROM generate_series(hi + 1, hi + {inserts}) g;
    hi := hi + {inserts};
    DELETE FROM cdc_items WHERE id >= lo AND id < lo + {deletes};
    lo := lo + {deletes};
    COMMIT;
  END LOOP;
END $$
"""


def make_backlog(url: str, rows: int, changes: int, rows_per_transaction: int) -> int:
    """About `changes` changed rows in transactions of `rows_per_transaction`, written by
    the server itself; the probe's seq becomes 1 in the last one (a synchronous commit). Returns transactions."""
    updates, inserts, deletes = mix(rows_per_transaction)
    transactions = max(1, changes // rows_per_transaction)
    statement = BACKLOG.format(
        rows=int(rows),
        transactions=transactions,
        updates=updates,
        inserts=inserts,
        deletes=deletes,
    )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # the same WAL, without a flush each
        conn.execute(statement)
        conn.execute("SET synchronous_commit = on")  # flushes the WAL of all before it
        conn.execute("UPDATE cdc_probe SET seq = 1 WHERE id = 1")
    return transactions


WRITE = (
    "WITH u AS (UPDATE cdc_items SET amount = amount + 1, label = %s,"
    " updated_at = clock_timestamp() WHERE id = ANY(%s)),"
    " i AS (INSERT INTO cdc_items SELECT g, g %% 1000, g / 100.0, 'new', clock_timestamp()"
    " FROM generate_series(%s::bigint, %s::bigint) g),"
    " d AS (DELETE FROM cdc_items WHERE id >= %s AND id < %s) SELECT 1"
)
"""One transaction of the live writer: updates, inserts and deletes in one statement."""


@dataclass
class Writer:
    """A paced writer: one transaction of `rows_per_transaction` mixed changes every
    `rows_per_transaction / rate` seconds, ids updated at random among the live rows."""

    url: str
    first_rows: int
    rate: float
    rows_per_transaction: int = 20
    written: int = 0
    seconds: float = 0.0
    behind: float = 0.0
    """The most the writer fell behind its pace (seconds)."""
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _write(self) -> None:
        started = time.perf_counter()
        try:
            self._loop(started)
        finally:
            self.seconds = time.perf_counter() - started

    def _loop(self, started: float) -> None:
        updates, inserts, deletes = mix(self.rows_per_transaction)
        low, high = 1, self.first_rows
        every = self.rows_per_transaction / self.rate
        chance = random.Random(7)
        with psycopg.connect(self.url, autocommit=True) as conn:
            count = 0
            while not self._stop.is_set():
                due = started + count * every
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                else:
                    self.behind = max(self.behind, -wait)
                alive = range(low + deletes, high + 1)
                ids = [chance.choice(alive) for _ in range(updates)]
                conn.execute(
                    WRITE,
                    [f"u{count}", ids, high + 1, high + inserts, low, low + deletes],
                )
                high += inserts
                low += deletes
                count += 1
                self.written += self.rows_per_transaction


class Probe:
    """Commits `seq = n` on the source every `every` seconds, noting the time before the
    commit was sent; a poller notes when each seq is first visible at the destination.
    The difference is the lag from commit to visible."""

    def __init__(self, source: str, destination: str, every: float = 0.1) -> None:
        self.source, self.destination, self.every = source, destination, every
        self.sent: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._poll, daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, settle: float = 10.0) -> None:
        """Stop probing; wait (up to `settle` s) for the last probe to be seen."""
        self._stop.set()
        self._threads[0].join()
        last = max(self.sent, default=0)
        deadline = time.monotonic() + settle
        while last not in self.seen and time.monotonic() < deadline:
            time.sleep(0.01)
        self._done = True
        self._threads[1].join()

    def lags(self) -> list[float]:
        """Seconds from each probe's commit to its visibility (unseen probes are left out)."""
        return [self.seen[s] - t for s, t in self.sent.items() if s in self.seen]

    def _send(self) -> None:
        seq = 1_000_000  # above any backlog marker
        with psycopg.connect(self.source, autocommit=True) as conn:
            while not self._stop.wait(self.every):
                seq += 1
                self.sent[seq] = time.time()
                conn.execute("UPDATE cdc_probe SET seq = %s WHERE id = 1", [seq])

    def _poll(self) -> None:
        self._done = False
        with psycopg.connect(self.destination, autocommit=True) as conn:
            while not self._done:
                row = conn.execute("SELECT seq FROM cdc_probe WHERE id = 1").fetchone()
                now = time.time()
                if row is not None:
                    for seq in self.sent.keys() - self.seen.keys():
                        if seq <= row[0]:
                            self.seen[seq] = now
                time.sleep(0.005)


class NativeSubscription:
    """PostgreSQL's own logical replication of the tables into `destination`: a slot made
    by hand (a subscription into the same server cannot create its slot itself), then a
    subscription to it, enabled when `start` is called."""

    def __init__(self, source: str, destination: str, source_db: str) -> None:
        self.source, self.destination = source, destination
        self.name = f"conveyor_bench_native_{uuid.uuid4().hex[:8]}"
        self.conninfo = f"host={PG_HOST} port={PG_PORT} user={PG_USER} dbname={source_db}"

    def create_slot(self) -> None:
        """Publication and slot: changes from now on are kept for the subscriber."""
        with psycopg.connect(self.source, autocommit=True) as conn:
            conn.execute(f"CREATE PUBLICATION {self.name} FOR TABLE {', '.join(TABLES)}")
            conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [self.name])

    def start(self) -> None:
        with psycopg.connect(self.destination, autocommit=True) as conn:
            conn.execute(
                f"CREATE SUBSCRIPTION {self.name} CONNECTION '{self.conninfo}'"
                f" PUBLICATION {self.name} WITH (create_slot = false, slot_name = '{self.name}',"
                " copy_data = false)"
            )

    def drop(self) -> None:
        """Subscription, slot and publication (the slot once its WAL sender has gone)."""
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self.destination, autocommit=True) as conn,
        ):
            conn.execute(f"ALTER SUBSCRIPTION {self.name} DISABLE")
            conn.execute(f"ALTER SUBSCRIPTION {self.name} SET (slot_name = NONE)")
            conn.execute(f"DROP SUBSCRIPTION {self.name}")
        with psycopg.connect(self.source, autocommit=True) as conn:
            for _ in range(100):
                try:
                    conn.execute(
                        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
                        " WHERE slot_name = %s",
                        [self.name],
                    )
                    break
                except psycopg.errors.ObjectInUse:
                    time.sleep(0.1)
            conn.execute(f"DROP PUBLICATION IF EXISTS {self.name}")
