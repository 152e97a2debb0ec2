"""Clear errors, within the connect timeout: unreachable host, wrong credentials, no such database.

For test(), discovery and reads alike, each failure is a `SourceUnavailable`,
`AccessDenied` or `TableNotFound` whose message names what is wrong and never the password.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conveyor.connectors.base import TableRef
from conveyor.connectors.registry import open_connector
from conveyor.errors import AccessDenied, ConveyorError, SourceUnavailable, TableNotFound
from tests.services import (
    MYSQL_HOST,
    MYSQL_PORT,
    fresh_mysql_database,
    fresh_pg_database,
    mysql_admin,
    pg_url,
)

SECRET = "s3cr@t:pa/ss%w0rd"
QUOTED_SECRET = "s3cr%40t%3Apa%2Fss%25w0rd"
OPERATIONS: dict[str, Callable[[Any], object]] = {
    "test": lambda c: c.test(),
    "list_tables": lambda c: c.list_tables(),
    "read": lambda c: c.read("SELECT 1 AS x", 10).read_all(),
}


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server)."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield server.getsockname()[1]
    server.close()


def _closed_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def _fails(connector: Any, operation: str, error: type[ConveyorError]) -> ConveyorError:
    with pytest.raises(error) as caught:
        OPERATIONS[operation](connector)
    message = caught.value.message
    assert SECRET not in message and QUOTED_SECRET not in message
    return caught.value


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("scheme", ["postgresql", "mariadb"])
def test_unreachable_host_is_named(scheme: str, operation: str) -> None:
    port = _closed_port()
    conn = open_connector(f"{scheme}://someone:{QUOTED_SECRET}@127.0.0.1:{port}/db")
    error = _fails(conn, operation, SourceUnavailable)
    assert f"127.0.0.1:{port}" in error.message and "unreachable" in error.message


@pytest.mark.parametrize("scheme", ["postgresql", "mariadb"])
def test_a_hung_server_times_out_within_the_connect_timeout(scheme: str, silent_port: int) -> None:
    conn = open_connector(f"{scheme}://someone@127.0.0.1:{silent_port}/db", {"connect_timeout": 2})
    started = time.monotonic()
    error = _fails(conn, "test", SourceUnavailable)
    assert time.monotonic() - started < 8
    assert f"127.0.0.1:{silent_port}" in error.message


def test_postgres_missing_database_and_role() -> None:
    with fresh_pg_database() as url:
        database = url.rsplit("/", 1)[1]
        missing_db = open_connector(pg_url(database + "_nope"))
        error = _fails(missing_db, "test", SourceUnavailable)
        assert f"{database}_nope" in error.message and "does not exist" in error.message
        nobody = open_connector(url.replace("//postgres@", f"//nobody_{uuid.uuid4().hex[:6]}@"))
        error = _fails(nobody, "list_tables", AccessDenied)
        assert "nobody_" in error.message


@pytest.fixture
def mysql_user() -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password, allowed on a fresh database; dropped afterwards."""
    user = f"conveyor_{uuid.uuid4().hex[:8]}"
    with fresh_mysql_database() as database:
        admin = mysql_admin()
        with admin.cursor() as cur:
            cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", [user, SECRET])
            cur.execute(f"GRANT ALL ON `{database}`.* TO %s@'%%'", [user])
        try:
            yield user, database
        finally:
            with admin.cursor() as cur:
                cur.execute("DROP USER IF EXISTS %s@'%%'", [user])
            admin.close()


def test_mysql_password_right_and_wrong(mysql_user: tuple[str, str]) -> None:
    user, database = mysql_user
    where = f"{MYSQL_HOST}:{MYSQL_PORT}"
    good = open_connector(f"mariadb://{user}:{QUOTED_SECRET}@{where}/{database}")
    good.test()
    good.execute("CREATE TABLE t (id INT)")
    good.execute("INSERT INTO t VALUES (1), (2)")
    assert good.read("SELECT id FROM t ORDER BY id", 10).read_all().num_rows == 2
    as_option = open_connector(f"mariadb://{user}@{where}/{database}", {"password": SECRET})
    assert [t.ref.name for t in as_option.list_tables()] == ["t"]
    for operation in OPERATIONS:
        bad = open_connector(f"mariadb://{user}:wrong-{QUOTED_SECRET}@{where}/{database}")
        error = _fails(bad, operation, AccessDenied)
        assert user in error.message
    missing = open_connector(f"mariadb://{user}:{QUOTED_SECRET}@{where}/{database}_nope")
    error = _fails(missing, "test", ConveyorError)
    assert f"{database}_nope" in error.message


@pytest.mark.parametrize("scheme", ["postgresql", "mariadb"])
def test_missing_table_is_named(scheme: str) -> None:
    if scheme == "postgresql":
        with fresh_pg_database() as url:
            _check_missing_table(open_connector(url))
    else:
        with fresh_mysql_database() as name:
            _check_missing_table(open_connector(f"mariadb://root@{MYSQL_HOST}:{MYSQL_PORT}/{name}"))


def _check_missing_table(conn: Any) -> None:
    from conveyor.connectors import sql

    query = sql.select_sql(TableRef("ghost"), None, conn.dialect)
    for operation in (
        lambda: conn.read(query, 10).read_all(),
        lambda: conn.columns(TableRef("ghost")),
        lambda: conn.estimate_rows(TableRef("ghost", "nowhere")),
    ):
        with pytest.raises(TableNotFound, match=r"ghost|nowhere"):
            operation()
    conn.close()
