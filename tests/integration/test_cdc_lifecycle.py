"""What a change data capture job owns on its source, over the API: releasing its slot
with no store transaction open, names that cannot clash, and tables leaving a job.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from conveyor.runtime import Runtime
from tests.conftest import ADMIN_TOKEN
from tests.integration.engine.test_cdc import drop_slots, slots
from tests.integration.test_cdata_v1 import WS
from tests.services import fresh_pg_database


@contextlib.contextmanager
def silent_server() -> Iterator[tuple[int, threading.Event, threading.Event]]:
    """A TCP server that accepts connections and never answers, until `hang_up` is set:
    a source that keeps a client waiting. Yields (port, answered_one, hang_up)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted, hang_up = threading.Event(), threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.1)
        while not hang_up.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(listener.accept()[0])
                accepted.set()
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted, hang_up
    finally:
        hang_up.set()
        thread.join()
        listener.close()


def idle_in_transaction(database_url: str) -> int:
    """Sessions of the store's database holding a transaction open while idle."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(row[0]) if row else 0


def connection(client: TestClient, name: str, url: str) -> str:
    answer = client.post("/api/v1/connections", json={"name": name, "url": url})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def cdc_job(client: TestClient, source: str, destination: str, **body: Any) -> Any:
    return client.post(
        "/api/v1/jobs",
        json={
            "name": "cdc",
            "type": "change_data_capture",
            "source_connection_id": source,
            "destination_connection_id": destination,
            "queries": ["REPLICATE [orders]"],
            **body,
        },
    )


@pytest.mark.parametrize("surface", ["native", "cdata_v2", "cdata_v1"])
def test_deleting_a_cdc_job_waits_for_its_source_with_no_store_transaction_open(
    client: TestClient, runtime: Runtime, tmp_path: Path, surface: str
) -> None:
    with silent_server() as (port, accepted, hang_up):
        source = connection(
            client, "pg", f"postgresql://postgres@127.0.0.1:{port}/db?connect_timeout=120"
        )
        lake = connection(client, "lake", f"duckdb:///{tmp_path / 'lake.duckdb'}")
        made = cdc_job(client, source, lake, cdc_engine_settings={"name": "held_feed"})
        assert made.status_code == 201, made.text
        job = made.json()
        answers: list[Any] = []

        def delete() -> None:
            answers.append(_delete(client, surface, job))

        deleting = threading.Thread(target=delete)
        deleting.start()
        assert accepted.wait(60), "the deletion never reached the source"
        # The source keeps the deletion waiting: the store is free for other writes…
        other = client.post("/api/v1/connections", json={"name": "other", "url": "memory://x"})
        assert other.status_code == 201, other.text
        if runtime.engine.dialect.name == "postgresql":
            assert idle_in_transaction(runtime.settings.database_url or "") == 0
        assert not answers, "the deletion answered before the source did"
        hang_up.set()  # … and when the source fails, the deletion is refused, naming the slot
        deleting.join()
    answer = answers[0]
    assert answer.status_code >= 400, answer.text
    assert "held_feed" in answer.text
    assert client.get(f"/api/v1/jobs/{job['id']}").status_code == 200  # kept


def _delete(client: TestClient, surface: str, job: dict[str, Any]) -> Any:
    cdata = {"x-cdata-authtoken": ADMIN_TOKEN}
    if surface == "native":
        return client.delete(f"/api/v1/jobs/{job['id']}")
    if surface == "cdata_v2":
        return client.delete(f"/api.rsc/v2/jobs/{job['id']}", headers=cdata)
    if surface == "cdata_v1":
        return client.delete(f"/api.rsc/jobs('{job['name']}')", params=WS, headers=cdata)
    raise AssertionError(surface)


def test_two_jobs_may_not_name_one_slot_on_one_server(client: TestClient, tmp_path: Path) -> None:
    lake = connection(client, "lake", f"duckdb:///{tmp_path / 'lake.duckdb'}")
    first = connection(client, "pg", "postgresql://postgres@127.0.0.1:5432/one")
    same_server = connection(client, "pg2", "postgresql://postgres@127.0.0.1:5432/two")
    elsewhere = connection(client, "pg3", "postgresql://postgres@127.0.0.2:5432/one")
    feed = {"cdc_engine_settings": {"name": "shared_feed"}}
    assert cdc_job(client, first, lake, **feed).status_code == 201
    for source in (first, same_server):
        clash = cdc_job(client, source, lake, name=f"again {source}", **feed)
        assert clash.status_code == 409, clash.text
        assert "shared_feed" in clash.json()["detail"] and "'cdc'" in clash.json()["detail"]
    assert cdc_job(client, elsewhere, lake, name="other server", **feed).status_code == 201
    unnamed = cdc_job(client, first, lake, name="unnamed").json()
    renamed = client.patch(f"/api/v1/jobs/{unnamed['id']}", json=feed)
    assert renamed.status_code == 409, renamed.text
    v2 = client.post(
        "/api.rsc/v2/workspaces/default/jobs",
        headers={"x-cdata-authtoken": ADMIN_TOKEN},
        json={
            "Name": "v2 clash",
            "Type": "ChangeDataCapture",
            "source_connection_id": first,
            "destination_connection_id": lake,
            "CDC_Engine_Settings": {"Name": "shared_feed"},
        },
    )
    assert v2.status_code == 409 and "shared_feed" in v2.text


def gauges(text: str, name: str) -> dict[str, float]:
    """A metric's values by their label text."""
    found = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line.rsplit(" ", 1)
            found[labels[len(name) :]] = float(value)
    return found


def test_metrics_show_each_cdc_jobs_lag_and_retained_wal(
    client: TestClient, tmp_path: Path
) -> None:
    with fresh_pg_database("cdc_metrics") as source:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric(10, 2))")
            conn.execute("INSERT INTO orders SELECT g, g FROM generate_series(1, 20) g")
        try:
            pg = connection(client, "pg", source)
            lake = connection(client, "lake", f"duckdb:///{tmp_path / 'lake.duckdb'}")
            job = cdc_job(client, pg, lake, name="orders feed").json()
            assert gauges(client.get("/metrics").text, "conveyor_cdc_lag_seconds") == {}
            for _ in range(2):
                ran = client.post(
                    f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 120}
                )
                assert ran.json()["status"] == "completed", ran.text
            text = client.get("/metrics").text
            labels = f'{{job="{job["id"]}",name="orders feed",workspace="{job["workspace_id"]}"}}'
            assert gauges(text, "conveyor_cdc_lag_seconds") == {labels: 0.0}
            retained = gauges(text, "conveyor_cdc_retained_bytes")
            assert list(retained) == [labels] and retained[labels] > 0
            assert "# TYPE conveyor_cdc_retained_bytes gauge" in text
            assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
            assert slots(source) == []
            assert gauges(client.get("/metrics").text, "conveyor_cdc_lag_seconds") == {}
        finally:
            drop_slots(source)
