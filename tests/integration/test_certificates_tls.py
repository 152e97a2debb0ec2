"""Connections that name stored certificates, used for real TLS (issue 20): against a
PostgreSQL and a MariaDB of the test's own serving TLS only (`tests.tls_postgres`,
`tests.tls_mariadb`), verified with the stored CA — never the machine's shared servers."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from fastapi.testclient import TestClient

from conveyor.connectors.postgres.async_connect import VettingLoop, connect, connect_kwargs
from conveyor.connectors.postgres.session import PostgresSession
from conveyor.connectors.registry import open_connector
from conveyor.connectors.tls import TLSMaterial
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_cdata_v1 import WS, odata_error
from tests.integration.test_certificates import new_connection, outcome, store, unique
from tests.tls_mariadb import MariaTLS, tls_mariadb
from tests.tls_postgres import TLSServer, make_ca, tls_postgres


@pytest.fixture
def cdata(client: TestClient) -> TestClient:
    """The app, called as the CData MCP client calls it."""
    return TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})


@pytest.fixture(scope="module")
def tls_server() -> Iterator[TLSServer]:
    """One TLS-only PostgreSQL for the module's tests."""
    with tls_postgres() as server:
        yield server


def test_verify_full_with_the_stored_ca_connects_and_runs_a_job(
    client: TestClient, tls_server: TLSServer, tmp_path: Path
) -> None:
    direct = tmp_path / "ca.pem"
    direct.write_text(tls_server.ca.certificate)
    table = unique("orders").replace("-", "_")
    with psycopg.connect(tls_server.url(sslmode="verify-full", sslrootcert=str(direct))) as conn:
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, item text)")
        conn.execute(f"INSERT INTO {table} SELECT g, 'item ' || g FROM generate_series(1, 25) g")
    ca_name = unique("server-ca")
    stored = store(client, ca_name, tls_server.ca.certificate)
    source = new_connection(client, tls_server.url(sslmode="verify-full", sslrootcert=ca_name))
    assert source.status_code == 201, source.text
    assert ca_name in source.json()["url"]  # the connection names the certificate
    shown = client.get(f"/api/v1/certificates/{stored['id']}").json()
    assert shown["connection_ids"] == [source.json()["id"]]
    in_use = client.delete(f"/api/v1/certificates/{stored['id']}")
    assert in_use.status_code == 409 and source.json()["name"] in in_use.json()["detail"]
    cdata = TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})
    row = cdata.get(f"/api.rsc/certificates('{ca_name}')").json()
    assert row["ConnectorIds"] == source.json()["id"]
    assert outcome(client, source.json()["id"])["ok"] is True
    dest = new_connection(client, f"duckdb:///{tmp_path / 'lake.duckdb'}")
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": unique("tls-copy"),
            "source_connection_id": source.json()["id"],
            "destination_connection_id": dest.json()["id"],
            "queries": [f"REPLICATE [{table}]"],
        },
    ).json()
    run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 120})
    assert run.status_code == 200, run.text
    assert run.json()["status"] == "completed", run.json()
    assert run.json()["stats"]["rows_written"] == 25
    # A client certificate: the role `certuser` may sign in with it and nothing else.
    client_name = unique("certuser")
    store(
        client,
        client_name,
        tls_server.client.certificate,
        private_key=tls_server.client.key,
    )
    as_certuser = tls_server.url(sslmode="verify-full", sslrootcert=ca_name, sslcert=client_name)
    with_cert = new_connection(client, as_certuser.replace("postgres@", "certuser@"))
    assert with_cert.status_code == 201, with_cert.text
    assert outcome(client, with_cert.json()["id"])["ok"] is True
    without = new_connection(
        client,
        tls_server.url(sslmode="verify-full", sslrootcert=ca_name).replace(
            "postgres@", "certuser@"
        ),
    )
    failed = outcome(client, without.json()["id"])
    assert failed["ok"] is False and "certificate" in failed["error"].lower()


def test_without_the_ca_or_with_a_wrong_one_the_connection_fails_clearly(
    client: TestClient, tls_server: TLSServer
) -> None:
    wrong = unique("other-ca")
    store(client, wrong, make_ca("Somebody else")[0].certificate)
    with_wrong = new_connection(client, tls_server.url(sslmode="verify-full", sslrootcert=wrong))
    assert with_wrong.status_code == 201, with_wrong.text
    failed = outcome(client, with_wrong.json()["id"])
    assert failed["ok"] is False
    assert "certificate verify failed" in failed["error"], failed["error"]
    without = new_connection(client, tls_server.url(sslmode="verify-full"))
    failed = outcome(client, without.json()["id"])
    assert failed["ok"] is False
    assert "root certificate" in failed["error"], failed["error"]
    plain = new_connection(client, tls_server.url(sslmode="disable"))
    assert outcome(client, plain.json()["id"])["ok"] is False  # the server takes TLS only


def test_asyncpg_gets_a_context_of_the_stored_certificates(tls_server: TLSServer) -> None:
    material = TLSMaterial(root_certificates=tls_server.ca.certificate)
    url = tls_server.url()
    connector = open_connector(url, {"sslmode": "verify-full", "tls": material.model_dump()})
    assert isinstance(connector, PostgresSession)
    try:
        kwargs = connect_kwargs(connector)
        assert kwargs is not None and isinstance(kwargs["ssl"], ssl.SSLContext)
        loop = VettingLoop()
        try:

            async def ask() -> Any:
                conn = await connect(connector.reach, kwargs)
                try:
                    return await conn.fetchval(
                        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                    )
                finally:
                    await conn.close()

            assert loop.run_until_complete(ask()) is True
        finally:
            loop.close()
        wrong = TLSMaterial(root_certificates=make_ca("Not it")[0].certificate)
        other = open_connector(url, {"sslmode": "verify-full", "tls": wrong.model_dump()})
        assert isinstance(other, PostgresSession)
        refused = connect_kwargs(other)
        assert refused is not None
        loop = VettingLoop()
        try:
            with pytest.raises(ssl.SSLCertVerificationError):
                loop.run_until_complete(connect(other.reach, refused))
        finally:
            loop.close()
        required = open_connector(url, {"sslmode": "require", "tls": material.model_dump()})
        assert isinstance(required, PostgresSession)
        assert connect_kwargs(required) is None  # libpq's require + root verifies; asyncpg not
    finally:
        connector.close()
    asyncio.set_event_loop(None)


def test_the_cdata_client_stores_a_ca_and_tests_a_connection_that_names_it(
    cdata: TestClient, tls_server: TLSServer
) -> None:
    """createCertificate, createConnection (naming it), testConnection: the MCP client's
    sequence, over TLS verified with the stored CA; a wrong CA's test fails saying why."""
    ca_name = unique("mcp-ca")
    stored = cdata.post(
        "/api.rsc/certificates",
        params=WS,
        json={"Name": ca_name, "Data": tls_server.ca.certificate, "StoreType": "Trusted"},
    )
    assert stored.status_code == 201, stored.text
    url = tls_server.url(sslmode="verify-full", sslrootcert=ca_name)
    name = unique("tls-pg")
    created = cdata.post(
        "/api.rsc/connections",
        params=WS,
        json={"Name": name, "ProviderName": "PostgreSQL", "ConnectionString": f"URL={url}"},
    )
    assert created.status_code == 201, created.text
    tested = cdata.post("/api.rsc/testConnection", params=WS, json={"ConnectionName": name})
    assert tested.status_code == 200, tested.text
    assert tested.json()["Status"] == "SUCCESS"
    wrong = unique("mcp-wrong-ca")
    cdata.post("/api.rsc/certificates", json={"Name": wrong, "Data": make_ca("No")[0].certificate})
    bad_name = unique("tls-pg-wrong")
    cdata.post(
        "/api.rsc/connections",
        params=WS,
        json={
            "Name": bad_name,
            "ProviderName": "PostgreSQL",
            "ConnectionString": "URL=" + tls_server.url(sslmode="verify-full", sslrootcert=wrong),
        },
    )
    failed = cdata.post("/api.rsc/testConnection", params=WS, json={"ConnectionName": bad_name})
    assert "certificate verify failed" in odata_error(failed, 400)["message"]


@pytest.fixture(scope="module")
def tls_maria() -> Iterator[MariaTLS]:
    """One TLS-only MariaDB for the module's tests."""
    with tls_mariadb() as server:
        yield server


def test_a_mariadb_connection_verifies_the_server_with_the_stored_ca(
    client: TestClient, tls_maria: MariaTLS, tmp_path: Path
) -> None:
    direct = tmp_path / "ca.pem"
    direct.write_text(tls_maria.ca.certificate)
    database = unique("tls").replace("-", "_")
    admin = pymysql.connect(
        host="localhost",
        port=tls_maria.port,
        user="root",
        ssl=ssl.create_default_context(cafile=str(direct)),
        autocommit=True,
    )
    with admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"CREATE TABLE {database}.items (id int PRIMARY KEY, name varchar(20))")
        cur.execute(f"INSERT INTO {database}.items VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    ca = unique("maria-ca")
    store(client, ca, tls_maria.ca.certificate)
    source = new_connection(client, tls_maria.url(database, ssl_ca=ca))
    assert source.status_code == 201, source.text
    assert outcome(client, source.json()["id"])["ok"] is True
    dest = new_connection(client, f"duckdb:///{tmp_path / 'lake.duckdb'}")
    job = client.post(
        "/api/v1/jobs",
        json={
            "name": unique("maria-tls-copy"),
            "source_connection_id": source.json()["id"],
            "destination_connection_id": dest.json()["id"],
            "queries": ["REPLICATE [items]"],
        },
    ).json()
    run = client.post(f"/api/v1/jobs/{job['id']}/execute", json={"wait": True, "timeout": 120})
    assert run.json()["status"] == "completed", run.json()
    assert run.json()["stats"]["rows_written"] == 3
    wrong = unique("maria-wrong")
    store(client, wrong, make_ca("Not MariaDB's")[0].certificate)
    refused = new_connection(client, tls_maria.url(database, ssl_ca=wrong))
    failed = outcome(client, refused.json()["id"])
    assert failed["ok"] is False and "certificate verify failed" in failed["error"], failed
