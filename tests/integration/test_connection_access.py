"""A connection test tells reading and writing apart; a failed write names the user's table.

Reaching a server is not being allowed to write there: a role with only SELECT or a
read-only database passed `/test` and then failed its runs, naming internal
`_conveyor_stage_…` tables. `/test` now answers `can_read` and `can_write` (the latter by
creating, filling and dropping a scratch table where unqualified tables land), each false
with its reason, and a run that cannot write says "cannot write <table>".
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.integration.test_api import wait_final
from tests.services import (
    MYSQL_USER,
    PG_HOST,
    PG_PORT,
    fresh_mysql_database,
    fresh_pg_database,
    mysql_admin,
    mysql_url,
    pg_url,
)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database, by name, with an `orders` table."""
    with fresh_pg_database() as url:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("CREATE TABLE orders (id int PRIMARY KEY, customer text)")
            admin.execute("INSERT INTO orders VALUES (1, 'ada')")
        yield name


@pytest.fixture
def select_only(pg_database: str) -> Iterator[str]:
    """The URL of a role that may read `orders` and nothing else (dropped afterwards)."""
    role = f"conveyor_ro_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_url(pg_database), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT CONNECT ON DATABASE "{pg_database}" TO "{role}"')
        admin.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
        admin.execute(f'GRANT SELECT ON orders TO "{role}"')
    try:
        yield f"postgresql://{role}@{PG_HOST}:{PG_PORT}/{pg_database}"
    finally:
        with psycopg.connect(pg_url(pg_database), autocommit=True) as admin:
            admin.execute(f'DROP OWNED BY "{role}"')
        with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
            )
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def answer_of(client: TestClient, name: str, url: str, **options: Any) -> dict[str, Any]:
    created = client.post(
        "/api/v1/connections", json={"name": name, "url": url, "options": options}
    )
    assert created.status_code == 201, created.text
    answer = client.post(f"/api/v1/connections/{created.json()['id']}/test")
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def pg_tables(database: str) -> list[str]:
    with psycopg.connect(pg_url(database)) as admin:
        found = admin.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return sorted(name for (name,) in found)


def test_a_select_only_role_can_read_but_not_write(
    client: TestClient, select_only: str, pg_database: str
) -> None:
    result = answer_of(client, "reader", select_only)
    assert result["ok"] is True and result["error"] is None, result
    assert result["can_read"] is True and result["read_error"] is None, result
    assert result["can_write"] is False, result
    assert "permission denied for schema public" in result["write_error"], result
    assert "_conveyor_check_" not in result["write_error"]
    owner = answer_of(client, "owner", pg_url(pg_database))
    assert owner["can_read"] is owner["can_write"] is True, owner
    assert owner["write_error"] is None
    assert pg_tables(pg_database) == ["orders"]  # the scratch table was dropped
    assert owner["can_capture_changes"] is True, owner  # wal_level logical, superuser
    assert result["can_capture_changes"] is False and "REPLICATION" in result["cdc_error"]


def test_a_read_only_postgresql_database_cannot_be_written(
    client: TestClient, pg_database: str
) -> None:
    with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{pg_database}" SET default_transaction_read_only = on')
    result = answer_of(client, "frozen", pg_url(pg_database))
    assert result["ok"] is True and result["can_read"] is True, result
    assert result["can_write"] is False and "read-only transaction" in result["write_error"]


def test_read_only_sqlite_and_duckdb_cannot_be_written(client: TestClient, tmp_path: Path) -> None:
    sqlite_file, duckdb_file = tmp_path / "shop.db", tmp_path / "lake.duckdb"
    with sqlite3.connect(sqlite_file) as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY)")
    duckdb.connect(str(duckdb_file)).execute("CREATE TABLE orders (id INTEGER)").close()
    for scheme, path in (("sqlite", sqlite_file), ("duckdb", duckdb_file)):
        writable = answer_of(client, f"{scheme}-rw", f"{scheme}:///{path}")
        assert writable["can_read"] is writable["can_write"] is True, writable
        assert writable["can_capture_changes"] is None, writable  # no log to follow
        frozen = answer_of(client, f"{scheme}-ro", f"{scheme}:///{path}", read_only=True)
        assert frozen["ok"] is frozen["can_read"] is True, frozen
        assert frozen["can_write"] is False and "read" in frozen["write_error"].lower(), frozen
    with sqlite3.connect(sqlite_file) as db:
        names = [n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    assert names == ["orders"]  # no scratch table left behind


def test_a_folder_is_written_with_a_scratch_file_it_removes(
    client: TestClient, tmp_path: Path
) -> None:
    folder = tmp_path / "lake"
    folder.mkdir()
    result = answer_of(client, "lake", f"file://{folder}")
    assert result["can_read"] is result["can_write"] is True, result
    assert list(folder.iterdir()) == []


def test_the_openapi_schema_documents_the_answer(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]["ConnectionTestResult"]
    for name in ("can_read", "read_error", "can_write", "write_error"):
        assert schema["properties"][name].get("description"), name


def test_a_run_that_cannot_write_names_the_users_table(
    client: TestClient, shop_db: Path, select_only: str
) -> None:
    source = client.post(
        "/api/v1/connections", json={"name": "shop", "url": f"sqlite:///{shop_db}"}
    )
    dest = client.post("/api/v1/connections", json={"name": "warehouse", "url": select_only})
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": "copy-orders",
            "source_connection_id": source.json()["id"],
            "destination_connection_id": dest.json()["id"],
            "queries": ["REPLICATE [orders]"],
        },
    )
    assert job.status_code == 201, job.text
    run = client.post(f"/api/v1/jobs/{job.json()['id']}/execute")
    assert run.status_code == 202, run.text
    final = wait_final(client, run.json()["id"])
    assert final["status"] == "error", final
    assert "cannot write orders: " in final["error"], final["error"]
    assert "permission denied" in final["error"], final["error"]
    logs = client.get(f"/api/v1/runs/{final['id']}/logs").json()
    text = final["error"] + repr(logs)
    assert "_conveyor_stage_" not in text, text


@pytest.fixture
def mariadb_reader() -> Iterator[tuple[str, str]]:
    """A MariaDB database with `orders`, and the URL of a user who may only SELECT there
    (dropped afterwards); also the root URL of that database."""
    user = f"conveyor_ro_{uuid.uuid4().hex[:10]}"
    with fresh_mysql_database() as database:
        admin = mysql_admin()
        try:
            with admin.cursor() as cur:
                cur.execute(f"CREATE TABLE `{database}`.orders (id INT PRIMARY KEY)")
                cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
                cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
            yield (
                mysql_url(database).replace(f"{MYSQL_USER}@", f"{user}:pw-{user}@"),
                mysql_url(database),
            )
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            admin.close()


def test_a_select_only_mariadb_user_can_read_but_not_write(
    client: TestClient, mariadb_reader: tuple[str, str]
) -> None:
    reader, root = mariadb_reader
    result = answer_of(client, "reader", reader)
    assert result["ok"] is result["can_read"] is True, result
    assert result["can_write"] is False and "denied" in result["write_error"], result
    assert "pw-" not in result["write_error"]
    owner = answer_of(client, "owner", root)
    assert owner["can_read"] is owner["can_write"] is True, owner
    # Change data capture: the test server's binlog is ready; the reader lacks the grants.
    assert owner["can_capture_changes"] is True and owner["cdc_error"] is None, owner
    assert result["can_capture_changes"] is False, result
    assert "REPLICATION SLAVE" in result["cdc_error"], result
