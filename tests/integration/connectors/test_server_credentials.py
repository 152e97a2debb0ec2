"""A connection nobody vetted as an admin never signs in with the server account's secrets.

libpq (and asyncpg) fall back on the account Conveyor runs as: `PGPASSWORD`, the password
file (`PGPASSFILE`, `~/.pgpass`), client certificates under `~/.postgresql/`. A standard
user pointing a connection at a host the operator has credentials for would sign in as the
operator. A stand-in server on loopback asks for a password and records what it is sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor.connectors.postgres import PostgresConnector
from conveyor.errors import ConveyorError
from conveyor.policy import Reach
from tests.integration.test_secrets_canary import StandInPostgres

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
