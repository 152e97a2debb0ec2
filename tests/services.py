"""Access to the machine's real database servers for integration tests.

A test that needs PostgreSQL gets a fresh database of its own and drops it afterwards.
When the server cannot be reached the test is skipped with the reason — except in CI
(CI=true), where a missing server is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

PG_HOST = os.environ.get("CONVEYOR_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("CONVEYOR_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("CONVEYOR_TEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("CONVEYOR_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("CONVEYOR_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("CONVEYOR_TEST_MYSQL_USER", "root")


def in_ci() -> bool:
    """Whether we run in CI, where services must be there."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(service: str, error: Exception) -> None:
    """Skip (locally) or fail (in CI) because a service cannot be reached."""
    if in_ci():
        pytest.fail(f"{service} unavailable at this machine: {error}")
    pytest.skip(reason=f"{service} unavailable at this machine: {error}")


def pg_url(database: str) -> str:
    """A PostgreSQL URL for a database on the test server."""
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@contextlib.contextmanager
def fresh_pg_database(prefix: str = "conveyor_test") -> Iterator[str]:
    """Create a new empty database; yield its URL; drop it afterwards."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(pg_url("postgres"), autocommit=True, connect_timeout=30)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL", exc)
        raise
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(pg_url("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mysql_url(database: str, scheme: str = "mariadb") -> str:
    """A MySQL/MariaDB URL for a database on the test server."""
    return f"{scheme}://{MYSQL_USER}@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


def mysql_admin() -> Any:
    """A pymysql connection to the test server as its admin (skips or fails when there is none)."""
    import pymysql

    try:
        return pymysql.connect(
            host=MYSQL_HOST, port=MYSQL_PORT, user=MYSQL_USER, connect_timeout=30, autocommit=True
        )
    except pymysql.Error as exc:
        unavailable("MySQL/MariaDB", exc)
        raise


@contextlib.contextmanager
def fresh_mysql_database(prefix: str = "conveyor_test") -> Iterator[str]:
    """Create a new empty utf8mb4 database; yield its name; drop it (and its `name_*` kin)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = mysql_admin()
    try:
        with admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE %s", [name + "%"])
            for (database,) in cur.fetchall():
                cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()
