"""kill -9 of the whole server (API, workers and run processes) in the middle of a
continuous change data capture run while a writer changes the source; restarted on the
same data directory, the run is picked up again and the destination converges to the
source row for row: nothing lost, nothing applied twice.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from tests.e2e.server import Server, running_server
from tests.integration.engine.test_cdc import drop_slots, slots
from tests.services import fresh_pg_database

ORDERS = "CREATE TABLE orders (id int PRIMARY KEY, name text, amount numeric(12, 2))"


class Writer:
    """A writer committing small transactions (an insert, an update, sometimes a delete)
    to the source until stopped."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.committed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)
        self._thread.start()

    def _write(self) -> None:
        rng = random.Random(18)
        next_id = 10_000
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                with conn.transaction():
                    conn.execute(
                        "INSERT INTO orders VALUES (%s, %s, %s)", [next_id, f"w{next_id}", 1]
                    )
                    conn.execute(
                        "UPDATE orders SET amount = amount + 1, name = %s WHERE id = %s",
                        [f"u{self.committed}", rng.randrange(1, next_id)],
                    )
                    if rng.random() < 0.3:
                        conn.execute(
                            "DELETE FROM orders WHERE id = %s", [rng.randrange(1, next_id)]
                        )
                next_id += 1
                self.committed += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def table(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT id, name, amount FROM orders ORDER BY id").fetchall()


def poll(what: Callable[[], bool], log: Callable[[], str], patience: float = 300) -> None:
    """Wait until `what` holds (the deadline only keeps a broken run from hanging the suite)."""
    deadline = time.monotonic() + patience
    while not what():
        assert time.monotonic() < deadline, log()[-5000:]
        time.sleep(0.2)


def test_kill_9_of_the_whole_server_mid_stream_loses_and_doubles_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    for start in ("first", "second"):
        (tmp_path / start).mkdir()
    env = {
        "CONVEYOR_SECRET_KEY": Fernet.generate_key().decode(),  # the same for both starts
        "CONVEYOR_HEARTBEAT_TIMEOUT": "3",
    }
    with fresh_pg_database("cdc_kill_src") as source, fresh_pg_database("cdc_kill_dst") as lake:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute(ORDERS)
            conn.execute("INSERT INTO orders SELECT g, 'n' || g, g FROM generate_series(1, 2000) g")
        writer: Writer | None = None
        try:
            with running_server(
                tmp_path / "first", env, data_dir=data_dir, new_session=True
            ) as one:
                job, run_id = _start(one, source, lake)
                writer = Writer(source)

                def streaming() -> bool:
                    run = one.client.get(f"/api/v1/runs/{run_id}").json()
                    return bool(run["stats"]["rows_inserted"])  # past the snapshot, streaming

                poll(streaming, one.log_text)
                seen = writer.committed
                os.killpg(one.process.pid, signal.SIGKILL)  # the server and its run processes
                one.process.wait()
            poll(lambda: writer.committed > seen + 50, lambda: "")  # the source moves on
            with running_server(tmp_path / "second", env, data_dir=data_dir) as two:

                def resumed() -> bool:
                    run = two.client.get(f"/api/v1/runs/{run_id}").json()
                    return run["status"] == "in_progress" and run["attempt"] >= 2

                poll(resumed, two.log_text)
                poll(lambda: writer.committed > seen + 100, two.log_text)
                writer.stop()
                assert writer.committed > seen + 100
                poll(lambda: table(lake) == table(source), two.log_text)
                run = two.client.get(f"/api/v1/runs/{run_id}").json()
                assert run["status"] == "in_progress", run  # still streaming
                canceled = two.client.post(f"/api/v1/runs/{run_id}/cancel")
                assert canceled.status_code in (200, 202), canceled.text
                assert two.wait_run(run_id, timeout=120)["status"] == "canceled"
                assert two.client.delete(f"/api/v1/jobs/{job}").status_code == 204
                assert slots(source) == []
        finally:
            if writer is not None:
                writer.stop()
            drop_slots(source)


def _start(server: Server, source: str, lake: str) -> tuple[str, str]:
    """A continuous CDC job from `source` to `lake`, and its run, started: (job, run) ids."""
    client = server.client
    src = client.post("/api/v1/connections", json={"name": "src", "url": source}).json()["id"]
    dst = client.post("/api/v1/connections", json={"name": "dst", "url": lake}).json()["id"]
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": "live orders",
            "type": "change_data_capture",
            "source_connection_id": src,
            "destination_connection_id": dst,
            "cdc_engine_settings": {"continuous": True, "flush_interval": 0.2},
            "max_attempts": 20,
            "queries": ["REPLICATE [orders]"],
        },
    ).json()["id"]
    run_id = client.post(f"/api/v1/jobs/{job}/execute").json()["id"]
    return str(job), str(run_id)
