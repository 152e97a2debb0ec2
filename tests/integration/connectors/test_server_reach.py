"""PostgreSQL and MariaDB connections held to the host policy, against the real local servers.

A refused host is refused before any packet leaves: the refused URLs point at a listener on
127.0.0.1 that counts what it accepts. `rebind.example` is a name only the policy's lookup
knows (it answers 127.0.0.1): a driver that resolved the name itself, rather than connect
to the address the policy vetted, could not connect at all.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa
import pytest

from conveyor.connectors.base import TableRef, Targets
from conveyor.connectors.registry import open_connector
from conveyor.errors import InvalidInput
from conveyor.policy import HostRefused, PathRefused, Reach
from tests.integration.engine.harness import Job
from tests.listeners import AcceptCounter
from tests.services import fresh_mysql_database, fresh_pg_database, mysql_url, unavailable

STANDARD = Reach(private_network=False)
"""A connection configured by a non-admin, with nothing listed."""
ADMIN = Reach(private_network=True)
LOOPBACK_FORMS = [
    "127.0.0.1",
    "localhost",
    "localhost.",
    "[::1]",
    "0.0.0.0",
    "[::ffff:127.0.0.1]",
    "2130706433",
    "127.1",
    "0x7f.1",
]
SCHEMES = ["postgresql", "mariadb"]


@pytest.fixture(params=SCHEMES)
def database(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database's URL on the local PostgreSQL or MariaDB server."""
    if request.param == "postgresql":
        with fresh_pg_database() as url:
            yield url
    else:
        with fresh_mysql_database() as name:
            yield mysql_url(name)


def with_host(url: str, host: str) -> str:
    """The URL with another host (its port kept)."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}:{parts.port}"))


def refused_before_connecting(scheme: str, host: str, reach: Reach) -> HostRefused:
    """Open and test a connection that must be refused; check no connection was attempted."""
    with AcceptCounter() as listener:
        url = f"{scheme}://user@{host}:{listener.port}/db"
        with pytest.raises(HostRefused) as refused:
            connector = open_connector(url, None, reach)
            try:
                connector.test()
            finally:
                connector.close()
    assert listener.accepted == 0
    return refused.value


def round_trip(url: str, reach: Reach) -> None:
    """Write a table and read it back through every client the connector has."""
    connector: Any = open_connector(url, None, reach)
    try:
        connector.test()
        connector.execute("CREATE TABLE reached (id INT PRIMARY KEY, name VARCHAR(20))")
        rows = pa.RecordBatch.from_pydict(
            {"id": pa.array([1, 2], pa.int32()), "name": pa.array(["a", "b"])}
        )
        writer = connector.open_writer(TableRef("reached"), rows.schema)
        writer.write(rows)
        writer.close()
        read = connector.read("SELECT id, name FROM reached ORDER BY id", 10).read_all()
        assert read.column("name").to_pylist() == ["a", "b"]
    finally:
        connector.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", LOOPBACK_FORMS)
def test_every_form_of_loopback_is_refused_to_a_non_admin(scheme: str, host: str) -> None:
    error = refused_before_connecting(scheme, host, STANDARD)
    assert error.status_code == 403 and "CONVEYOR_ALLOWED_HOSTS" in error.message


@pytest.mark.parametrize("scheme", SCHEMES)
def test_a_name_that_resolves_to_loopback_is_refused_when_connecting(
    scheme: str, rebinding: None
) -> None:
    error = refused_before_connecting(scheme, "rebind.example", STANDARD)
    assert "resolves to 127.0.0.1" in error.message


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("host", ["169.254.169.254", "metadata.google.internal", "[fe80::1]"])
def test_metadata_and_link_local_hosts_are_refused_to_admins(scheme: str, host: str) -> None:
    refused_before_connecting(scheme, host, ADMIN)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_denied_list_beats_an_admin(scheme: str, rebinding: None) -> None:
    denied = Reach(private_network=True, denied_hosts=("127.0.0.0/8",))
    refused_before_connecting(scheme, "127.0.0.1", denied)
    refused_before_connecting(scheme, "rebind.example", denied)
    by_name = Reach(private_network=True, denied_hosts=("localhost",))
    error = refused_before_connecting(scheme, "127.0.0.1", by_name)
    assert "denied" in error.message


def test_an_admin_reaches_the_local_servers(database: str) -> None:
    round_trip(with_host(database, "127.0.0.1"), ADMIN)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1", "127.0.0.0/8"),
        ("localhost", "localhost"),
        ("rebind.example", "rebind.example"),
    ],
)
def test_a_listed_host_is_reached_by_a_non_admin(
    database: str, host: str, allowed: str, rebinding: None
) -> None:
    round_trip(with_host(database, host), Reach(private_network=False, allowed_hosts=(allowed,)))


@pytest.mark.parametrize("parameter", ["host", "hostaddr", "service", "servicefile"])
def test_postgres_url_parameters_cannot_choose_another_server(parameter: str) -> None:
    url = f"postgresql://user@db.example.com/sales?{parameter}=127.0.0.1"
    with pytest.raises(InvalidInput, match=f"'{parameter}' is not accepted"):
        open_connector(url, None, ADMIN)


@pytest.mark.parametrize("parameter", ["passfile", "sslrootcert", "sslkey", "sslkeylogfile"])
def test_postgres_file_parameters_are_checked_paths(parameter: str, tmp_path: Path) -> None:
    reach = Reach(denied_roots=(str(tmp_path),))
    url = f"postgresql://user@db.example.com/sales?{parameter}={tmp_path}/secret.key"
    with pytest.raises(PathRefused, match=parameter):
        open_connector(url, None, reach)
    open_connector(url.replace(str(tmp_path), "/elsewhere"), None, reach).close()
    open_connector("postgresql://user@db.example.com/sales?sslrootcert=system", None, reach).close()


def test_every_host_of_a_multi_host_url_is_checked() -> None:
    listed = Reach(private_network=False, allowed_hosts=("127.0.0.0/8",))
    with pytest.raises(HostRefused, match=r"10\.0\.0\.1"):
        open_connector("postgresql://user@127.0.0.1,10.0.0.1/db", None, listed)


def test_a_unix_socket_is_a_local_host(database: str) -> None:
    if not database.startswith("postgresql"):
        with pytest.raises(InvalidInput, match="Unix socket"):
            open_connector(with_host(database, "%2Frun%2Fmysqld%2Fmysqld.sock"), None, ADMIN)
        return
    socket_url = with_host(database, "%2Fvar%2Frun%2Fpostgresql").replace(":5432/", "/")
    with pytest.raises(HostRefused, match="local socket"):
        open_connector(socket_url, None, STANDARD)
    if not os.path.exists("/var/run/postgresql/.s.PGSQL.5432"):
        unavailable("PostgreSQL's Unix socket", FileNotFoundError("/var/run/postgresql"))
    round_trip(socket_url, ADMIN)


def test_the_binary_relay_connects_to_the_vetted_addresses(rebinding: None) -> None:
    """asyncpg is given the name (for TLS) and reaches the address the policy vetted."""
    with fresh_pg_database() as source, fresh_pg_database() as destination:
        prepare: Any = open_connector(source)
        prepare.execute(
            "CREATE TABLE moved AS SELECT g AS id, g::text AS label FROM generate_series(1, 500) g"
        )
        prepare.close()
        job = Job(
            with_host(source, "rebind.example"),
            with_host(destination, "rebind.example"),
            ["REPLICATE [moved]"],
        )
        job.ok()
        assert job.last is not None
        assert any("relayed" in message for _, message, _ in job.last.lines)
        check: Any = open_connector(destination)
        assert (
            check.read("SELECT count(*) AS n FROM moved", 1).read_all().column(0)[0].as_py() == 500
        )
        check.close()


def test_postgres_targets_name_what_the_connection_will_reach() -> None:
    """What the services check when a connection is stored: every host, decoded, and the
    files libpq would open (`sslrootcert=system` is the system's authorities, no file)."""
    url = "postgresql://u@db1.example.com,%2Fvar%2Frun%2Fpostgresql/db?sslrootcert=system&sslcert=/x/c.pem"
    connector: Any = open_connector(url, None, ADMIN)
    assert connector.targets() == Targets(
        paths=("/x/c.pem",), hosts=("db1.example.com", "/var/run/postgresql")
    )
    connector.close()
