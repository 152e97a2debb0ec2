"""Which PostgreSQL connections a binary COPY relay can open (asyncpg, not libpq)."""

from __future__ import annotations

import pytest

from conveyor.connectors.postgres.async_connect import connect_kwargs, server_settings
from conveyor.connectors.postgres.connector import PostgresConnector
from conveyor.connectors.postgres.options import PostgresOptions


@pytest.mark.parametrize(
    ("options", "settings"),
    [
        ("", {}),
        ("-csearch_path=reporting", {"search_path": "reporting"}),
        (
            "-c search_path=a,b -c statement_timeout=5000",
            {"search_path": "a,b", "statement_timeout": "5000"},
        ),
        ("--search-path=a-b", {"search_path": "a-b"}),
        ("-c lock-timeout=5s", {"lock_timeout": "5s"}),
        ("-c application_name=two\\ words", {"application_name": "two words"}),
        ("-c x=back\\\\slash", {"x": "back\\slash"}),
        ("-X", None),
        ("-c", None),
        ("search_path=a", None),
        ("-c =x", None),
    ],
)
def test_libpq_options_become_server_settings(
    options: str, settings: dict[str, str] | None
) -> None:
    assert server_settings(options) == settings


def test_the_connection_carries_over_from_the_url_and_options() -> None:
    connector = PostgresConnector(
        "postgresql://ana:s3cret@db.example:6543/sales?sslmode=require&options=-csearch_path%3Dsales",
        PostgresOptions(connect_timeout=7, application_name="nightly"),
    )
    assert connect_kwargs(connector) == {
        "host": "db.example",
        "port": 6543,
        "user": "ana",
        "password": "s3cret",
        "database": "sales",
        "ssl": "require",
        "timeout": 7.0,
        "server_settings": {"search_path": "sales", "application_name": "nightly"},
        "statement_cache_size": 0,
    }


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://ana@db.example/sales?keepalives=1",
        "postgresql://ana@db.example/sales?gssencmode=disable",
        "postgresql://ana@db.example/sales?target_session_attrs=read-write",
        "postgresql://ana@db.example/sales?options=-X",
        "postgresql://ana@db1.example,db2.example/sales",
    ],
)
def test_what_only_libpq_understands_keeps_to_the_arrow_path(url: str) -> None:
    assert connect_kwargs(PostgresConnector(url)) is None


def test_an_unset_sslmode_is_left_to_pgsslmode_as_libpq_does() -> None:
    kwargs = connect_kwargs(PostgresConnector("postgresql://ana@db.example/sales"))
    assert kwargs is not None and kwargs["ssl"] is None


def test_libpq_only_environment_keeps_to_the_arrow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGSERVICE", "prod")
    assert connect_kwargs(PostgresConnector("postgresql://ana@db.example/sales")) is None
