"""Stored certificates (issue 20): CData's `/certificates` and `/api/v1/certificates`, which
certificates a connection may name, and migration 0017. Connections that use them over
TLS are in `test_certificates_tls`."""

from __future__ import annotations

import ssl
import uuid
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import inspect

from conveyor.config import Settings
from conveyor.connectors.registry import open_connector
from conveyor.connectors.tls import TLSMaterial
from conveyor.runtime import Runtime
from conveyor.store import migrate
from tests.conftest import ADMIN_TOKEN
from tests.integration.migrations import differences_from_models
from tests.integration.test_cdata_v1 import WS, odata_error
from tests.services import fresh_mysql_database, mysql_url
from tests.tls_postgres import issue, make_ca

PROBLEM = "application/problem+json"


@pytest.fixture
def cdata(client: TestClient) -> TestClient:
    """The app, called as the CData MCP client calls it."""
    return TestClient(client.app, headers={"x-cdata-authtoken": ADMIN_TOKEN})


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def user_client(
    client: TestClient, role: str, workspace_ids: list[str] | None = None
) -> TestClient:
    """A client signed in as a new user with `role`."""
    body: dict[str, Any] = {"name": unique(role), "role": role}
    if workspace_ids is not None:
        body["workspace_ids"] = workspace_ids
    user = client.post("/api/v1/users", json=body).json()
    token = client.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "t"}).json()["token"]
    return TestClient(client.app, headers={"Authorization": f"Bearer {token}"})


def store(client: TestClient, name: str, certificate: str, **extra: Any) -> dict[str, Any]:
    created = client.post(
        "/api/v1/certificates", json={"name": name, "certificate": certificate, **extra}
    )
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


# --- CData's /certificates -----------------------------------------------------------------


def test_cdata_certificates_list_count_get_create_and_delete(
    cdata: TestClient, client: TestClient
) -> None:
    ca, ca_key, ca_name = make_ca("Replay CA")
    mine = issue(ca_key, ca_name, "replayer", server=False)
    # createCertificate as the MCP client sends it: Name, Data, StoreType (+ workspaceId).
    trusted = cdata.post(
        "/api.rsc/certificates",
        params=WS,
        json={"Name": "replay-ca", "Data": ca.certificate, "StoreType": "Trusted"},
    )
    assert trusted.status_code == 201, trusted.text
    row = trusted.json()
    assert (row["Name"], row["StoreType"], row["IssuedTo"]) == ("replay-ca", "Trusted", "Replay CA")
    assert row["Subject"] == "CN=Replay CA" and row["Issuer"] == "CN=Replay CA"
    assert row["ExpirationDays"] in (1, 2) and len(row["Thumbprint"]) == 40
    assert row["Keysize"] == 256 and row["SignatureAlgorithm"] == "ecdsa-with-SHA256"
    both = mine.certificate + mine.key  # a client certificate: its key in the same Data
    client_cert = cdata.post(
        "/api.rsc/certificates", params=WS, json={"Name": "replayer", "Data": both}
    )
    assert client_cert.status_code == 201, client_cert.text
    assert client_cert.json()["StoreType"] == "Client"
    assert "PRIVATE KEY" not in client_cert.text
    # listCertificates, $count, $select (the key always comes back), get, property.
    listed = cdata.get("/api.rsc/certificates", params=WS).json()["value"]
    assert {c["Name"] for c in listed} == {"replay-ca", "replayer"}
    assert cdata.get("/api.rsc/certificates/$count", params=WS).text == "2"
    selected = cdata.get(
        "/api.rsc/certificates",
        params={**WS, "$select": "StoreType", "$filter": "StoreType eq 'Client'"},
    ).json()["value"]
    assert selected == [{"Name": "replayer", "StoreType": "Client"}]
    counted = cdata.get("/api.rsc/certificates", params={**WS, "$count": "true", "$top": "1"})
    assert counted.json()["@odata.count"] == 2
    one = cdata.get("/api.rsc/certificates('replay-ca')", params=WS).json()
    assert one["Data"].startswith("-----BEGIN CERTIFICATE-----")
    assert cdata.get("/api.rsc/certificates('replayer')/IssuedBy/$value").text == "Replay CA"
    assert "PRIVATE KEY" not in cdata.get("/api.rsc/certificates('replayer')/Data/$value").text
    # Bad input: 400 in CData's error shape, naming the field.
    bad = cdata.post("/api.rsc/certificates", json={"Name": "bad", "Data": "not a PEM"})
    assert "Data" in odata_error(bad, 400)["message"]
    wrong_type = cdata.post(
        "/api.rsc/certificates", json={"Name": "x", "Data": ca.certificate, "StoreType": "Mine"}
    )
    assert "StoreType" in odata_error(wrong_type, 400)["message"]
    other_key = make_ca("Other")[0].key
    mismatch = cdata.post(
        "/api.rsc/certificates", json={"Name": "y", "Data": mine.certificate + other_key}
    )
    assert "does not belong" in odata_error(mismatch, 400)["message"]
    no_name = cdata.post("/api.rsc/certificates", json={"Name": "", "Data": ca.certificate})
    odata_error(no_name, 400)
    unknown = cdata.post(
        "/api.rsc/certificates", json={"Name": "z", "Data": ca.certificate, "Colour": "red"}
    )
    assert "Colour" in odata_error(unknown, 400)["message"]
    twice = cdata.post("/api.rsc/certificates", json={"Name": "replay-ca", "Data": ca.certificate})
    odata_error(twice, 409)
    # Non-admins are refused, reads included.
    standard = user_client(client, "standard")
    odata_error(standard.get("/api.rsc/certificates", params=WS), 403)
    odata_error(
        standard.post("/api.rsc/certificates", json={"Name": "s", "Data": ca.certificate}), 403
    )
    # deleteCertificate
    assert cdata.delete("/api.rsc/certificates('replayer')", params=WS).status_code == 204
    odata_error(cdata.get("/api.rsc/certificates('replayer')", params=WS), 404)
    assert cdata.get("/api.rsc/certificates/$count", params=WS).text == "1"


def test_native_certificates_are_admin_only_and_validated(client: TestClient) -> None:
    ca = make_ca("Native CA")[0]
    created = store(client, "native-ca", ca.certificate)
    assert created["kind"] == "trusted" and created["workspace_id"] is None
    assert created["has_private_key"] is False and created["subject"] == "CN=Native CA"
    assert client.get(f"/api/v1/certificates/{created['id']}").json()["name"] == "native-ca"
    assert client.get("/api/v1/certificates", params={"kind": "trusted"}).json()["total"] == 1
    bad = client.post("/api/v1/certificates", json={"name": "b", "certificate": "-----BEGIN"})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(PROBLEM)
    assert "certificate" in bad.json()["detail"]
    keyless = client.post(
        "/api/v1/certificates", json={"name": "k", "certificate": ca.certificate, "kind": "client"}
    )
    assert keyless.status_code == 422 and "private_key" in keyless.json()["detail"]
    path_like = client.post(
        "/api/v1/certificates", json={"name": "/etc/ca", "certificate": ca.certificate}
    )
    assert path_like.status_code == 422
    for role in ("standard", "viewer"):
        other = user_client(client, role)
        assert other.get("/api/v1/certificates").status_code == 403
        assert other.get(f"/api/v1/certificates/{created['id']}").status_code == 403
        assert other.delete(f"/api/v1/certificates/{created['id']}").status_code == 403
    assert client.delete(f"/api/v1/certificates/{created['id']}").status_code == 204
    assert client.get(f"/api/v1/certificates/{created['id']}").status_code == 404


# --- connections that name certificates ---------------------------------------------------


def new_connection(client: TestClient, url: str, **extra: Any) -> Any:
    return client.post("/api/v1/connections", json={"name": unique("conn"), "url": url, **extra})


def outcome(client: TestClient, connection_id: str) -> dict[str, Any]:
    result = client.post(f"/api/v1/connections/{connection_id}/test")
    assert result.status_code == 200, result.text
    return result.json()  # type: ignore[no-any-return]


def test_certificates_a_connection_may_name(client: TestClient) -> None:
    team = client.post("/api/v1/workspaces", json={"name": unique("team")}).json()
    ca = make_ca("Scoped CA")[0]
    default_only = unique("default-ca")
    store(client, default_only, ca.certificate, workspace_id="default")
    shared = unique("shared-ca")
    store(client, shared, ca.certificate)
    member = user_client(client, "standard", [team["id"]])
    url = "postgresql://someone@db.example.com/x?sslmode=verify-full&sslrootcert={}"
    refused = member.post(
        "/api/v1/connections",
        json={"name": "a", "url": url.format(default_only), "workspace_id": team["id"]},
    )
    assert refused.status_code == 422, refused.text
    assert "no certificate named" in refused.json()["detail"]
    allowed = member.post(
        "/api/v1/connections",
        json={"name": "b", "url": url.format(shared), "workspace_id": team["id"]},
    )
    assert allowed.status_code == 201, allowed.text
    moved = member.patch(
        f"/api/v1/connections/{allowed.json()['id']}", json={"url": url.format(default_only)}
    )
    assert moved.status_code == 422 and "url.sslrootcert" in moved.text, moved.text
    # A file path stays a file path, under the policy: a standard user reads no server file.
    server_file = member.post(
        "/api/v1/connections",
        json={"name": "c", "url": url.format("/etc/ssl/certs/ca-certificates.crt")},
    )
    assert server_file.status_code == 403, server_file.text
    given = member.post(
        "/api/v1/connections",
        json={
            "name": "d",
            "url": "postgresql://someone@db.example.com/x",
            "options": {"tls": {"root_certificates": ca.certificate}},
        },
    )
    assert given.status_code == 422 and "tls" in given.json()["detail"]
    a_client = client.post(
        "/api/v1/connections",
        json={
            "name": "e",
            "url": "postgresql://someone@db.example.com/x?sslcert=" + shared,
        },
    )
    assert a_client.status_code == 422 and "client certificate" in a_client.json()["detail"]
    mysql_path = client.post(
        "/api/v1/connections",
        json={"name": "f", "url": "mysql://root@db.example.com/x?ssl_ca=/etc/ssl/ca.pem"},
    )
    assert mysql_path.status_code == 422 and "ssl_ca" in mysql_path.json()["detail"]


def test_migration_0017_matches_the_model_and_goes_away_on_downgrade(
    store_settings: Settings,
) -> None:
    runtime = Runtime.create(store_settings)
    try:
        migrate.upgrade(runtime.engine)
        assert differences_from_models(runtime.engine, "'certificates'") == []
        config = migrate._config(runtime.engine)
        with runtime.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0016")
        assert "certificates" not in inspect(runtime.engine).get_table_names()
        migrate.upgrade(runtime.engine)
        assert "certificates" in inspect(runtime.engine).get_table_names()
    finally:
        runtime.close()


def test_a_mysql_connection_naming_a_ca_requires_tls(client: TestClient) -> None:
    """The machine's MariaDB serves no TLS: naming a CA makes TLS required, so the
    connection is refused rather than opened in the clear."""
    with fresh_mysql_database() as database:
        ca = unique("mysql-ca")
        store(client, ca, make_ca("MySQL CA")[0].certificate)
        plain = new_connection(client, mysql_url(database))
        assert outcome(client, plain.json()["id"])["ok"] is True
        named = new_connection(client, mysql_url(database) + f"?ssl_ca={ca}")
        assert named.status_code == 201, named.text
        failed = outcome(client, named.json()["id"])
        assert failed["ok"] is False and "SSL is required" in failed["error"], failed
        connector = open_connector(
            mysql_url(database),
            {"tls": TLSMaterial(root_certificates=make_ca("x")[0].certificate).model_dump()},
        )
        try:
            context = connector._ssl()  # type: ignore[attr-defined]
            assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
        finally:
            connector.close()
