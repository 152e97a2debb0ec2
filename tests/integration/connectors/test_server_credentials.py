"""A connection nobody vetted as an admin never signs in with the server account's secrets.

libpq (and asyncpg) fall back on the account Conveyor runs as: `PGPASSWORD`, the password
file (`PGPASSFILE`, `~/.pgpass`), client certificates under `~/.postgresql/`, Kerberos
tickets. A standard user pointing a connection at a host the operator has credentials for
would sign in as the operator. A stand-in server on loopback asks for a password (or for
Kerberos) and records what it is sent.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.connectors.postgres.connector import PostgresConnector
from conveyor.errors import ConveyorError, PermissionDenied
from conveyor.policy import Reach
from tests.integration.test_secrets_canary import StandInPostgres
from tests.services import PG_HOST, pg_url

OPERATOR_SECRET = "operator-only-5e1b"


@pytest.fixture
def server() -> Iterator[StandInPostgres]:
    stand_in = StandInPostgres()
    yield stand_in
    stand_in.close()


def attempt(server: StandInPostgres, reach: Reach) -> None:
    connector = PostgresConnector(f"postgresql://app@127.0.0.1:{server.port}/db", reach=reach)
    try:
        with pytest.raises(ConveyorError):
            connector.test()
    finally:
        connector.close()


@pytest.mark.parametrize("source", ["PGPASSWORD", "PGPASSFILE"])
def test_only_an_admins_connection_borrows_the_accounts_password(
    server: StandInPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    if source == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", OPERATOR_SECRET)
    else:
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{server.port}:*:*:{OPERATOR_SECRET}\n")
        passfile.chmod(0o600)
        monkeypatch.setenv("PGPASSFILE", str(passfile))
    standard = Reach(private_network=False, allowed_hosts=("127.0.0.1",))
    attempt(server, standard)
    assert OPERATOR_SECRET not in server.passwords
    attempt(server, Reach(private_network=True))
    assert OPERATOR_SECRET in server.passwords


class StandInKerberos(StandInPostgres):
    """A PostgreSQL server that asks for GSSAPI (Kerberos), as a warehouse on `gss` would."""

    def _one(self, conn: socket.socket) -> None:
        self._startup(conn)
        conn.sendall(b"R" + struct.pack("!ii", 8, 7))  # AuthenticationGSS
        with contextlib.suppress(OSError):
            conn.recv(1)


def test_only_an_admins_connection_signs_in_with_the_accounts_kerberos_tickets() -> None:
    """libpq answers a GSSAPI request from the account's ticket cache (none here: the error
    names it); a standard user's connection refuses to, and may not ask for it in its URL."""
    server = StandInKerberos()
    try:
        url = f"postgresql://svc@127.0.0.1:{server.port}/dw"
        errors = {}
        for who, private in (("standard", False), ("admin", True)):
            connector = PostgresConnector(
                url, reach=Reach(private_network=private, allowed_hosts=("127.0.0.1",))
            )
            with pytest.raises(ConveyorError) as caught:
                connector.test()
            connector.close()
            errors[who] = caught.value.message
        assert "GSSAPI" in errors["admin"] and "credentials" in errors["admin"]
        assert "credentials" not in errors["standard"], errors["standard"]
        assert "gss" in errors["standard"]
        standard = Reach(private_network=False, allowed_hosts=("127.0.0.1",))
        for asked in ("gssencmode=require", "require_auth=gss"):
            with pytest.raises(PermissionDenied, match="Kerberos"):
                PostgresConnector(f"{url}?{asked}", reach=standard)
    finally:
        server.close()


def test_a_standard_users_connection_makes_libpq_say_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """libpq warns on stderr about a password file that is not a plain file (`/dev/null`),
    once per connection: the server's log would fill with it."""
    connector = PostgresConnector(
        pg_url("postgres"), reach=Reach(private_network=False, allowed_hosts=(PG_HOST,))
    )
    connector.test()
    connector.close()
    assert "password file" not in capfd.readouterr().err
