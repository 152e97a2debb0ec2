"""Change data capture jobs on every surface: the type, its settings, its sources and its tasks.

Creating a job connects to nothing, so these tests need no PostgreSQL or MariaDB server:
the sources are `postgresql://` and `mariadb://` connections by their URL alone.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_TOKEN
from tests.integration.test_cdata_v1 import WS

V2 = "/api.rsc/v2"


@pytest.fixture
def conns(client: TestClient, shop_db: Path, tmp_path: Path) -> dict[str, str]:
    """PostgreSQL and MariaDB sources (never reached), a SQLite source and a DuckDB
    destination."""
    made = {}
    for name, url in (
        ("pg", "postgresql://postgres@127.0.0.1:5432/nowhere"),
        ("maria", "mariadb://root@127.0.0.1:3306/nowhere"),
        ("shop", f"sqlite:///{shop_db}"),
        ("lake", f"duckdb:///{tmp_path / 'lake.duckdb'}"),
    ):
        response = client.post("/api/v1/connections", json={"name": name, "url": url})
        assert response.status_code == 201, response.text
        made[name] = response.json()["id"]
    return made


def native(client: TestClient, conns: dict[str, str], **body: Any) -> Any:
    fields = {
        "name": "cdc",
        "type": "change_data_capture",
        "source_connection_id": conns["pg"],
        "destination_connection_id": conns["lake"],
        **body,
    }
    return client.post("/api/v1/jobs", json=fields)


def test_native_cdc_job_keeps_its_engine_settings(
    client: TestClient, conns: dict[str, str]
) -> None:
    settings = {"name": "orders_feed", "continuous": True, "flush_interval": 0.5}
    made = native(
        client,
        conns,
        cdc_engine_settings=settings,
        queries=["REPLICATE [orders] SELECT id, total AS amount FROM [orders] WHERE total > 0"],
    )
    assert made.status_code == 201, made.text
    shown = client.get(f"/api/v1/jobs/{made.json()['id']}").json()
    assert shown["type"] == "change_data_capture"
    assert shown["cdc_engine_settings"] == {**settings, "schema": None}


@pytest.mark.parametrize(
    "cdc_settings",
    [{"name": "Bad-Name"}, {"flush_interval": 0}, {"continuous": "often"}, {"colour": "red"}],
)
def test_native_cdc_settings_are_validated(
    client: TestClient, conns: dict[str, str], cdc_settings: dict[str, Any]
) -> None:
    answer = native(client, conns, cdc_engine_settings=cdc_settings)
    assert answer.status_code == 422, answer.text
    assert "cdc_engine_settings" in answer.json()["detail"]


def test_a_source_without_a_log_is_refused_naming_the_supported_ones(
    client: TestClient, conns: dict[str, str], tmp_path: Path
) -> None:
    answer = native(client, conns, source_connection_id=conns["shop"])
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert "PostgreSQL" in detail and "MySQL/MariaDB" in detail and "shop" in detail
    assert native(client, conns, source_connection_id=None).status_code == 422
    assert native(client, conns, destination_connection_id=None).status_code == 422
    (tmp_path / "out").mkdir()
    folder = client.post(
        "/api/v1/connections", json={"name": "out", "url": f"file://{tmp_path / 'out'}"}
    )
    assert folder.status_code == 201, folder.text
    files = native(client, conns, destination_connection_id=folder.json()["id"])
    assert files.status_code == 201, files.text  # merged by rewriting, as incremental jobs do


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("REPLICATE [o] SELECT o.id FROM orders o JOIN customers c ON c.id = o.cid", "join"),
        ("REPLICATE [o] SELECT count(*) FROM orders", "aggregate"),
        ("REPLICATE [o] SELECT id FROM orders GROUP BY id", "group"),
        ("REPLICATE [o] SELECT id FROM orders WHERE id IN (SELECT id FROM x)", "subquery"),
        ("REPLICATE ALL", "REPLICATE ALL"),
    ],
)
def test_tasks_that_need_other_rows_are_refused(
    client: TestClient, conns: dict[str, str], query: str, word: str
) -> None:
    answer = native(client, conns, queries=[query])
    assert answer.status_code == 400 and word in answer.json()["detail"], answer.text
    job = native(client, conns, name="later").json()
    added = client.post(f"/api/v1/jobs/{job['id']}/tasks", json={"query": query})
    assert added.status_code == 400, added.text


def test_a_job_becoming_cdc_has_its_tasks_checked(
    client: TestClient, conns: dict[str, str]
) -> None:
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": "std",
            "source_connection_id": conns["pg"],
            "destination_connection_id": conns["lake"],
            "queries": ["REPLICATE [o] SELECT count(*) AS n FROM orders"],
        },
    ).json()
    answer = client.patch(f"/api/v1/jobs/{job['id']}", json={"type": "change_data_capture"})
    assert answer.status_code == 400 and "aggregate" in answer.json()["detail"]


def test_a_mysql_or_mariadb_source_is_accepted(client: TestClient, conns: dict[str, str]) -> None:
    made = native(client, conns, source_connection_id=conns["maria"], queries=["REPLICATE [t]"])
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("source", ["pg", "maria"])
@pytest.mark.parametrize("kind", ["ChangeDataCapture", "EnhancedChangeDataCapture", 7])
def test_cdata_v2_creates_cdc_jobs(
    client: TestClient, conns: dict[str, str], kind: str | int, source: str
) -> None:
    v2 = TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})
    answer = v2.post(
        f"{V2}/workspaces/default/jobs",
        json={
            "Name": f"cdc {kind}",
            "Type": kind,
            "source_connection_id": conns[source],
            "destination_connection_id": conns["lake"],
            "CDC_Engine_Settings": {"Name": "feed", "Continuous": "true", "Flush_Interval": 2},
            "Queries": ["REPLICATE [orders]"],
        },
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["type"] == "ChangeDataCapture"
    shown = client.get(f"/api/v1/jobs/{answer.json()['id']}").json()
    assert shown["cdc_engine_settings"] == {
        "name": "feed",
        "schema": None,
        "continuous": True,
        "flush_interval": 2.0,
    }
    bad = v2.post(
        f"{V2}/workspaces/default/jobs",
        json={"Name": "bad", "Type": kind, "CDC_Engine_Settings": {"Colour": "red"}},
    )
    assert bad.status_code == 400 and "Colour" in bad.text


def test_cdata_v1_creates_cdc_jobs_and_refuses_other_sources(
    client: TestClient, conns: dict[str, str]
) -> None:
    cdata = TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})
    body = {"JobName": "cdc v1", "Source": "pg", "Destination": "lake", "Type": "ChangeDataCapture"}
    made = cdata.post("/api.rsc/jobs", params=WS, json={**body, "Query#1": "REPLICATE [orders]"})
    assert made.status_code == 201, made.text
    other = cdata.post("/api.rsc/jobs", params=WS, json={**body, "JobName": "x", "Source": "shop"})
    assert other.status_code in (400, 422) and "PostgreSQL" in other.text
    assert "MySQL/MariaDB" in other.text
    maria = cdata.post("/api.rsc/jobs", params=WS, json={**body, "JobName": "m", "Source": "maria"})
    assert maria.status_code == 201, maria.text
    joined = cdata.post(
        "/api.rsc/jobs",
        params=WS,
        json={**body, "JobName": "y", "Query#1": "REPLICATE [o] SELECT max(id) FROM orders"},
    )
    assert joined.status_code == 400 and "aggregate" in joined.text


def test_a_cdc_job_runs_shows_its_stats_and_position_and_its_deletion_drops_the_slot(
    client: TestClient, tmp_path: Path
) -> None:
    import psycopg

    from tests.integration.engine.test_cdc import drop_slots, slots
    from tests.services import fresh_pg_database

    with fresh_pg_database("cdc_api") as source:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric(10, 2))")
            conn.execute("INSERT INTO orders SELECT g, g FROM generate_series(1, 20) g")
        try:
            made = {}
            for name, url in (("pg", source), ("lake", f"duckdb:///{tmp_path / 'lake.duckdb'}")):
                answer = client.post("/api/v1/connections", json={"name": name, "url": url})
                made[name] = answer.json()["id"]
            job = native(client, made, queries=["REPLICATE [orders]"]).json()

            def run() -> dict[str, Any]:
                answer = client.post(
                    f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 120}
                )
                assert answer.json()["status"] == "completed", answer.text
                return answer.json()  # type: ignore[no-any-return]

            first = run()
            assert first["stats"]["rows_written"] == 20 and first["cdc"]["position"]
            with psycopg.connect(source, autocommit=True) as conn:
                conn.execute("INSERT INTO orders VALUES (21, 1), (22, 2)")
                conn.execute("UPDATE orders SET total = 0 WHERE id <= 3")
                conn.execute("DELETE FROM orders WHERE id = 4")
            second = run()
            stats = second["stats"]
            assert (stats["rows_inserted"], stats["rows_updated"], stats["rows_deleted"]) == (
                2,
                3,
                1,
            )
            assert second["tasks"][0]["rows_inserted"] == 2
            status = client.get(f"/api/v1/jobs/{job['id']}/status").json()
            assert status["run"]["cdc"]["position"] == second["cdc"]["position"]
            assert status["run"]["cdc"]["lag_seconds"] == 0
            assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204
            assert slots(source) == []
            # A job that stops being CDC releases its slot too. Slot names are the server's
            # (the other store's run of this test may be making its own at the same time).
            feed = f"second_feed_{uuid.uuid4().hex[:8]}"
            job = native(
                client,
                made,
                name="second",
                queries=["REPLICATE [orders]"],
                cdc_engine_settings={"name": feed},
            ).json()
            run()
            assert slots(source) == [feed]
            changed = client.patch(f"/api/v1/jobs/{job['id']}", json={"type": "standard"})
            assert changed.status_code == 200, changed.text
            assert slots(source) == []
        finally:
            left = drop_slots(source)
        assert left == [], "deleting the job left its slot behind"


def test_a_mariadb_cdc_job_runs_through_the_api_and_is_deleted(
    client: TestClient, tmp_path: Path
) -> None:
    from tests.integration.engine.test_cdc_mysql import execute
    from tests.services import fresh_mysql_database, mysql_url

    with fresh_mysql_database("cdc_api") as database:
        execute(
            database,
            "CREATE TABLE orders (id INT PRIMARY KEY, total DECIMAL(10, 2))",
            "INSERT INTO orders SELECT seq, seq FROM seq_1_to_20",
        )
        made = {}
        for name, url in (
            ("pg", mysql_url(database)),
            ("lake", f"duckdb:///{tmp_path / 'lake.duckdb'}"),
        ):
            made[name] = client.post("/api/v1/connections", json={"name": name, "url": url}).json()[
                "id"
            ]
        job = native(client, made, queries=["REPLICATE [orders]"]).json()

        def run() -> dict[str, Any]:
            answer = client.post(
                f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 120}
            )
            assert answer.json()["status"] == "completed", answer.text
            return answer.json()  # type: ignore[no-any-return]

        first = run()
        assert first["stats"]["rows_written"] == 20 and ":" in first["cdc"]["position"]
        execute(
            database,
            "INSERT INTO orders VALUES (21, 1), (22, 2)",
            "UPDATE orders SET total = 0 WHERE id <= 3",
            "DELETE FROM orders WHERE id = 4",
        )
        second = run()
        stats = second["stats"]
        assert (stats["rows_inserted"], stats["rows_updated"], stats["rows_deleted"]) == (2, 3, 1)
        status = client.get(f"/api/v1/jobs/{job['id']}/status").json()
        assert status["run"]["cdc"]["position"] == second["cdc"]["position"]
        assert status["run"]["cdc"]["retained_bytes"] >= 0
        assert client.delete(f"/api/v1/jobs/{job['id']}").status_code == 204  # nothing to drop
