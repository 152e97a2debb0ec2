"""Elasticsearch's security API subset over HTTP against the real server: roles of index
privileges and users made with it become Conveyor users, who then sign in with Basic
`user:password` as Elasticsearch clients send it — the official client included."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from elasticsearch import AuthorizationException, Elasticsearch

from tests.e2e.elastic_support import VENDOR, connector, error_of, server, sync_job, unique
from tests.e2e.server import ADMIN_TOKEN, Server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:This API is in (beta|technical preview)"),
]
PASSWORD = "s3cret-pass"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server(tmp_path_factory.mktemp("elastic-security")) as running:
        yield running


@pytest.fixture
def es(srv: Server) -> httpx.Client:
    return srv.client


def _as(srv: Server, username: str, password: str = PASSWORD) -> httpx.Client:
    return httpx.Client(
        base_url=srv.url, auth=(username, password), headers={"Accept": VENDOR}, timeout=30
    )


def _user(es: httpx.Client, privileges: list[str], **more: object) -> str:
    role, username = unique("role"), unique("user")
    body = {"indices": [{"names": ["*"], "privileges": privileges}], **more}
    assert es.put(f"/_security/role/{role}", json=body).json() == {"role": {"created": True}}
    created = es.put(f"/_security/user/{username}", json={"password": PASSWORD, "roles": [role]})
    assert created.json() == {"created": True}
    return username


@pytest.mark.parametrize("privileges", [["read"], ["view_index_metadata"], ["read", "monitor"]])
def test_a_read_only_user_reads_and_may_not_write(
    srv: Server, es: httpx.Client, privileges: list[str]
) -> None:
    cid = connector(es)
    job = sync_job(es, cid)
    with _as(srv, _user(es, privileges)) as reader:
        assert reader.get("/_connector").status_code == 200
        assert reader.get(f"/_connector/{cid}").json()["id"] == cid
        assert (
            reader.get("/_connector/_sync_job", params={"connector_id": cid}).json()["count"] == 1
        )
        assert reader.get(f"/_connector/_sync_job/{job}").status_code == 200
        error_of(
            reader.put(f"/_connector/{cid}/_name", json={"name": "x"}), 403, "security_exception"
        )
        error_of(reader.put(f"/_connector/{unique()}", json={}), 403, "security_exception")
        error_of(reader.delete(f"/_connector/{cid}"), 403, "security_exception")
        error_of(reader.post("/_connector/_sync_job", json={"id": cid}), 403, "security_exception")
        error_of(reader.put(f"/_connector/_sync_job/{job}/_cancel"), 403, "security_exception")
        role = {"indices": [{"names": ["*"], "privileges": ["all"]}]}
        error_of(reader.put(f"/_security/role/{unique()}", json=role), 403, "security_exception")
    assert es.get(f"/_connector/{cid}").json()["name"] != "x"


@pytest.mark.parametrize("privileges", [["manage"], ["write"], ["all"], ["read", "write"]])
def test_a_writer_changes_connectors_but_not_users(
    srv: Server, es: httpx.Client, privileges: list[str]
) -> None:
    cid = connector(es)
    with _as(srv, _user(es, privileges)) as writer:
        assert writer.put(f"/_connector/{cid}/_name", json={"name": "renamed"}).status_code == 200
        assert writer.post("/_connector/_sync_job", json={"id": cid}).status_code == 201
        user = {"password": PASSWORD, "roles": []}
        error_of(writer.put(f"/_security/user/{unique()}", json=user), 403, "security_exception")
    assert es.get(f"/_connector/{cid}").json()["name"] == "renamed"


def test_wrong_passwords_and_unknown_users_are_401(srv: Server, es: httpx.Client) -> None:
    username = _user(es, ["read"])
    with _as(srv, username, "not-the-password") as wrong:
        error_of(wrong.get("/_connector"), 401, "security_exception")
    with _as(srv, unique("nobody")) as nobody:
        error_of(nobody.get("/_connector"), 401, "security_exception")


def test_changing_a_role_changes_its_users(srv: Server, es: httpx.Client) -> None:
    role, username = unique("role"), unique("user")
    read = {"indices": [{"names": ["*"], "privileges": ["read"]}]}
    es.put(f"/_security/role/{role}", json=read)
    es.put(f"/_security/user/{username}", json={"password": PASSWORD, "roles": [role]})
    cid = connector(es)
    with _as(srv, username) as user:
        error_of(
            user.put(f"/_connector/{cid}/_name", json={"name": "a"}), 403, "security_exception"
        )
        write = {"indices": [{"names": ["*"], "privileges": ["write"]}]}
        assert es.put(f"/_security/role/{role}", json=write).json() == {"role": {"created": False}}
        assert user.put(f"/_connector/{cid}/_name", json={"name": "a"}).status_code == 200
        assert es.delete(f"/_security/role/{role}").json() == {"found": True}
        error_of(
            user.put(f"/_connector/{cid}/_name", json={"name": "b"}), 403, "security_exception"
        )
    assert es.delete(f"/_security/role/{role}").status_code == 404


def test_roles_and_users_read_back_as_elasticsearch_shows_them(es: httpx.Client) -> None:
    role, username = unique("role"), unique("user")
    definition = {"cluster": ["monitor"], "indices": [{"names": ["idx-*"], "privileges": ["read"]}]}
    es.put(f"/_security/role/{role}", json=definition)
    assert es.get(f"/_security/role/{role}").json() == {role: definition}
    assert es.get(f"/_security/role/{unique('none')}").status_code == 404
    body = {"password": PASSWORD, "roles": [role], "full_name": "Rea Der", "email": "r@x.io"}
    assert es.put(f"/_security/user/{username}", json=body).json() == {"created": True}
    shown = es.get(f"/_security/user/{username}").json()[username]
    assert (shown["username"], shown["roles"], shown["full_name"], shown["enabled"]) == (
        username,
        [role],
        "Rea Der",
        True,
    )
    again = es.put(f"/_security/user/{username}", json={"roles": [role], "enabled": False})
    assert again.json() == {"created": False}  # no password needed to update
    assert es.get(f"/_security/user/{username}").json()[username]["enabled"] is False
    assert es.get(f"/_security/user/{unique('none')}").status_code == 404
    assert es.delete(f"/_security/user/{username}").json() == {"found": True}
    assert es.delete(f"/_security/user/{username}").json() == {"found": False}


def test_security_bodies_elasticsearch_refuses(es: httpx.Client) -> None:
    error_of(
        es.put(f"/_security/role/{unique()}", json={"colour": "red"}),
        400,
        "x_content_parse_exception",
    )
    no_privileges = {"indices": [{"names": ["*"]}]}
    error_of(
        es.put(f"/_security/role/{unique()}", json=no_privileges), 400, "x_content_parse_exception"
    )
    error_of(
        es.put(f"/_security/user/{unique()}", json={"password": PASSWORD}),
        400,
        "x_content_parse_exception",
    )
    reason = error_of(
        es.put(f"/_security/user/{unique()}", json={"roles": []}), 400, "status_exception"
    )
    assert "password must be specified" in reason


def test_the_official_client_with_basic_auth(srv: Server) -> None:
    admin = Elasticsearch(srv.url, api_key=ADMIN_TOKEN, request_timeout=30)
    role, username = unique("role"), unique("user")
    admin.security.put_role(name=role, indices=[{"names": ["*"], "privileges": ["read"]}])
    admin.security.put_user(username=username, password=PASSWORD, roles=[role])
    connector_id = unique()
    admin.connector.put(connector_id=connector_id, index_name=unique("idx"), service_type="jira")
    reader = Elasticsearch(srv.url, basic_auth=(username, PASSWORD), request_timeout=30)
    try:
        assert reader.connector.get(connector_id=connector_id)["id"] == connector_id
        assert reader.connector.list()["count"] >= 1
        assert reader.connector.sync_job_list(connector_id=connector_id)["count"] == 0
        with pytest.raises(AuthorizationException) as refused:
            reader.connector.update_name(connector_id=connector_id, name="nope")
        assert refused.value.meta.status == 403
    finally:
        reader.close()
        admin.close()
