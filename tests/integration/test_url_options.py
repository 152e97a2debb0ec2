"""Every documented option works in the URL query and in `options` alike (issue 17)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from conveyor.connectors.registry import resolve
from tests.services import fresh_pg_database


@pytest.fixture
def pg_database() -> Iterator[str]:
    with fresh_pg_database("conveyor_url_options") as url:
        yield url


def test_options_in_the_url_query_move_to_the_options_and_options_win() -> None:
    spec = resolve("postgresql://u@h/db")
    url, options = spec.normalize(
        "postgresql://u@h/db?connect_timeout=3&sslmode=disable&options=-csearch_path%3Ddw",
        {"sslmode": "require"},
    )
    assert url == "postgresql://u@h/db?options=-csearch_path%3Ddw"  # libpq's own stays
    assert options == {"connect_timeout": "3", "sslmode": "require"}


@pytest.mark.parametrize(
    "url",
    ["duckdb:////tmp/dw/a.duckdb?threads=2", "sqlite:////tmp/dw/a.db?timeout=3"],
)
def test_an_absolute_embedded_path_keeps_its_slashes(url: str) -> None:
    """`duckdb:////abs` has an empty host and a path of its own: taking the options out
    of the query leaves the path as written (urlunsplit would drop a slash)."""
    url_only, options = resolve(url).normalize(url, {})
    assert url_only == url.split("?", 1)[0]
    assert len(options) == 1


def test_a_password_in_the_query_is_left_to_the_urls_own_rules() -> None:
    spec = resolve("postgresql://u@h/db")
    url, options = spec.normalize("postgresql://u@h/db?password=s3cret", {})
    assert "password=s3cret" in url
    assert options == {}


def test_a_connect_timeout_in_a_postgresql_url_is_tested_listed_and_run(
    client: TestClient, pg_database: str
) -> None:
    url = f"{pg_database}?connect_timeout=3"
    created = client.post("/api/v1/connections", json={"name": "pg", "url": url})
    assert created.status_code == 201, created.text
    connection_id = created.json()["id"]
    tested = client.post(f"/api/v1/connections/{connection_id}/test")
    assert tested.status_code == 200 and tested.json()["ok"], tested.text
    tables = client.get(f"/api/v1/connections/{connection_id}/tables")
    assert tables.status_code == 200, tables.text


def test_a_bad_option_in_the_url_is_refused_when_the_connection_is_saved(
    client: TestClient, pg_database: str
) -> None:
    answer = client.post(
        "/api/v1/connections", json={"name": "pg", "url": f"{pg_database}?connect_timeout=soon"}
    )
    assert answer.status_code == 422, answer.text
    assert "connect_timeout" in answer.text
