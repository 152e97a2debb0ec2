"""Two workspaces, distinctive secrets in each: no text about one reveals or masks the other's.

Workspace B's connections carry canary passwords, secret parameters and options, and
three short words (`zebra42`, `wrong`, `nope`); they are tested and run, so that every
process has had them in hand. Workspace A then provokes errors whose text names those
words (a database `zebra42`, a database `wrongdb`, a connection id `nope`, a table
`zebra42`): A reads the names in clear — with a process-wide list of secrets they came
back as `***`, an oracle for B's passwords. The canaries appear in no answer, run log,
log line (of the API process and the workers supervising runs, in both formats; a run's
own process reports through its run log), metric or store byte (the store holds them
only encrypted).

A `?password=` URL round-trips masked (`password=***`) on the native API and CData v1,
survives a PATCH that sends it back masked, and works for test, tables and a run. The
local PostgreSQL trusts 127.0.0.1 (any password is accepted), so that the password
really reaches the driver is shown by a stand-in PostgreSQL server on loopback that
asks for a cleartext password and records what it is sent; MariaDB checks passwords
itself, so there a user with a password is created and a wrong one is refused.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from conveyor.api.app import create_app
from conveyor.config import Settings
from conveyor.logging import JsonFormatter, TextFormatter
from conveyor.runtime import Runtime
from conveyor.services import connection_secrets, connections
from conveyor.store.models import Connection
from tests.services import (
    MYSQL_HOST,
    MYSQL_PORT,
    PG_HOST,
    PG_PORT,
    fresh_mysql_database,
    fresh_pg_database,
    mysql_admin,
)

A_URL_PW = "canaryA-5f1e"
A_QUERY_PW = "canaryA-q-3b7d"
A_STANDIN_PW = "canaryA-standin-55e1"
A_MYSQL_PW = "canaryA-my-8e4a"
B_URL_PW = "canaryB-9c2d"
B_QUERY_PW = "canaryB-q-71e0"
B_OPTION = "canaryB-opt-4a8c"
CANARIES = (A_URL_PW, A_QUERY_PW, A_STANDIN_PW, A_MYSQL_PW, B_URL_PW, B_QUERY_PW, B_OPTION)
"""Never in any answer, log line, run log, metric or store byte."""
B_SELF = "canaryB-self-3d9f"
"""B's password that is also the name of B's database: B's own error masks it (acceptable:
it is B's own text), and B's URL shows it as the database name (B typed it there)."""
B_WORDS = ("zebra42", "wrong", "nope")
"""B's short passwords: A may name them (its own input), and reads them back unmasked."""


class StandInPostgres:
    """A loopback listener speaking just enough of PostgreSQL's protocol to ask a client
    for a cleartext password, record it and refuse it — echoing it in the refusal, as a
    careless server might, so that its masking in the connection's own error shows."""

    def __init__(self) -> None:
        self.passwords: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._socket.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(30)
                with contextlib.suppress(OSError, ValueError):
                    self._one(conn)

    @staticmethod
    def _read(conn: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise ValueError("client went away")
            data += chunk
        return data

    def _startup(self, conn: socket.socket) -> None:
        while True:  # SSL and GSS encryption requests are declined; then the startup packet
            length, code = struct.unpack("!ii", self._read(conn, 8))
            if code in (80877103, 80877104):
                conn.sendall(b"N")
                continue
            self._read(conn, length - 8)
            return

    def _one(self, conn: socket.socket) -> None:
        self._startup(conn)
        conn.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind, length = struct.unpack("!ci", self._read(conn, 5))
        assert kind == b"p"
        password = self._read(conn, length - 4).rstrip(b"\0").decode()
        self.passwords.append(password)
        fields = b"".join(
            tag + text.encode() + b"\0"
            for tag, text in (
                (b"S", "FATAL"),
                (b"V", "FATAL"),
                (b"C", "28P01"),
                (b"M", f'password authentication failed: "{password}" is not it'),
            )
        )
        conn.sendall(b"E" + struct.pack("!i", len(fields) + 5) + fields + b"\0")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._socket.close()


class Seen:
    """Every answer's text and headers, and every line the server's loggers wrote."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.log = io.StringIO()

    def keep(self, response: httpx.Response) -> httpx.Response:
        self.texts.append(response.text)
        self.texts.append(str(response.headers))
        return response


@pytest.fixture
def seen() -> Iterator[Seen]:
    """Log lines of the API process and its workers, through both of Conveyor's formats."""
    found = Seen()
    root = logging.getLogger()
    handlers = []
    for formatter in (TextFormatter(), JsonFormatter()):
        handler = logging.StreamHandler(found.log)
        handler.setFormatter(formatter)
        handler.setLevel(logging.DEBUG)
        root.addHandler(handler)
        handlers.append(handler)
    level = root.level
    root.setLevel(logging.DEBUG)
    yield found
    root.setLevel(level)
    for handler in handlers:
        root.removeHandler(handler)


@pytest.fixture
def app(store_settings: Settings, admin_headers: dict[str, str]) -> Iterator[TestClient]:
    """The app on each store; non-admins may reach the local servers (127.0.0.1)."""
    settings = store_settings.model_copy(update={"allowed_hosts": ["127.0.0.1"]})
    runtime = Runtime.create(settings)
    runtime.migrate()
    runtime.bootstrap()
    with TestClient(create_app(runtime, shutdown_grace=5), headers=admin_headers) as client:
        yield client
    runtime.close()


@pytest.fixture
def standin() -> Iterator[StandInPostgres]:
    server = StandInPostgres()
    yield server
    server.close()


@pytest.fixture
def mysql_user() -> Iterator[tuple[str, str]]:
    """A MariaDB user whose password is A's canary, owning a fresh database: (user, db)."""
    with fresh_mysql_database("conveyor_canary") as database:
        user = f"cvy_{uuid.uuid4().hex[:10]}"
        admin = mysql_admin()
        try:
            with admin.cursor() as cur:
                cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{A_MYSQL_PW}'")
                cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
                cur.execute(f"CREATE TABLE `{database}`.`orders` (id INT PRIMARY KEY)")
            yield user, database
        finally:
            with admin.cursor() as cur:
                cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            admin.close()


@dataclass
class World:
    """Workspaces A and B, a standard user of each, and a PostgreSQL database to reach."""

    app: TestClient
    settings: Settings
    seen: Seen
    a: str
    b: str
    anna: TestClient
    bert: TestClient
    database: str
    server: str = f"{PG_HOST}:{PG_PORT}"

    def connection(
        self, client: TestClient, workspace: str, name: str, url: str, **options: Any
    ) -> dict[str, Any]:
        made = self.seen.keep(
            client.post(
                "/api/v1/connections",
                json={"name": name, "url": url, "options": options, "workspace_id": workspace},
            )
        )
        assert made.status_code == 201, made.text
        return made.json()  # type: ignore[no-any-return]

    def run(
        self, client: TestClient, workspace: str, source: str, target: str, query: str
    ) -> tuple[dict[str, Any], str]:
        """Run a one-query job to its end: the run, and its log lines as one text."""
        job = self.seen.keep(
            client.post(
                "/api/v1/jobs",
                json={
                    "name": f"job-{uuid.uuid4().hex[:6]}",
                    "workspace_id": workspace,
                    "source_connection_id": source,
                    "destination_connection_id": target,
                    "queries": [query],
                },
            )
        )
        assert job.status_code == 201, job.text
        job_id = job.json()["id"]
        run = self.seen.keep(
            client.post(f"/api/v1/jobs/{job_id}/execute", json={"wait": True, "timeout": 90})
        ).json()
        assert run["status"] in ("completed", "error"), run
        logs = self.seen.keep(client.get(f"/api/v1/runs/{run['id']}/logs", params={"limit": 1000}))
        return run, "\n".join(line["message"] for line in logs.json()["items"])

    def assert_no_canary_anywhere(self) -> None:
        """No answer, metric, log line or store byte holds a canary in clear."""
        self.seen.keep(self.app.get("/metrics"))
        self.seen.keep(self.app.get("/api/v1/runs", params={"limit": 100}))
        self.seen.keep(self.app.get("/api/v1/connections", params={"limit": 100}))
        for workspace in (self.a, self.b):
            self.seen.keep(self.app.get("/api.rsc/connections", params={"workspaceId": workspace}))
        store = _store_bytes(self.settings)
        logged = self.seen.log.getvalue()
        assert "HTTP Request" in logged, "the log lines were captured"
        for canary in CANARIES:
            for text in self.seen.texts:
                assert canary not in text, (canary, text[:500])
            assert canary not in logged, canary
            assert canary.encode() not in store, f"{canary} is in the store in clear"


def _member(app: TestClient, seen: Seen, name: str, workspace: str) -> TestClient:
    user = seen.keep(
        app.post(
            "/api/v1/users",
            json={"name": name, "role": "standard", "workspace_ids": [workspace]},
        )
    ).json()
    token = seen.keep(app.post(f"/api/v1/users/{user['id']}/tokens", json={"name": "t"}))
    return TestClient(app.app, headers={"Authorization": f"Bearer {token.json()['token']}"})


@pytest.fixture
def world(app: TestClient, store_settings: Settings, seen: Seen) -> Iterator[World]:
    a = seen.keep(app.post("/api/v1/workspaces", json={"name": "A"})).json()["id"]
    b = seen.keep(app.post("/api/v1/workspaces", json={"name": "B"})).json()["id"]
    with fresh_pg_database("conveyor_canary") as scratch:
        yield World(
            app=app,
            settings=store_settings,
            seen=seen,
            a=a,
            b=b,
            anna=_member(app, seen, "anna", a),
            bert=_member(app, seen, "bert", b),
            database=scratch.rsplit("/", 1)[1],
        )


def _store_bytes(settings: Settings) -> bytes:
    """Every byte the metadata store holds: the SQLite files, or every PostgreSQL row."""
    if settings.database_url is None:
        return b"".join(path.read_bytes() for path in Path(settings.data_dir).glob("conveyor.db*"))
    with psycopg.connect(settings.database_url) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        rows = [
            str(row[0])
            for (table,) in tables
            for row in conn.execute(f'SELECT t::text FROM "{table}" t').fetchall()
        ]
    assert any("gAAAA" in row for row in rows), "the store's sealed secrets were read"
    return "\n".join(rows).encode()


def _populate_b(world: World) -> dict[str, dict[str, Any]]:
    """B's connections with secrets of every kind, tested, listed and run: by then every
    process of the server has had them in hand."""
    where, bert, b = f"{world.server}/{world.database}", world.bert, world.b
    made = {
        "b-pg": world.connection(bert, b, "b-pg", f"postgresql://postgres:{B_URL_PW}@{where}"),
        "b-query": world.connection(
            bert, b, "b-query", f"postgresql://postgres@{where}?password={B_QUERY_PW}"
        ),
        "b-option": world.connection(
            bert, b, "b-option", f"postgresql://postgres@{where}", password=B_OPTION
        ),
        "b-zebra": world.connection(bert, b, "b-zebra", f"postgresql://postgres:zebra42@{where}"),
        "b-wrong": world.connection(
            bert, b, "b-wrong", f"postgresql://postgres:wrong@{where}", password="nope"
        ),
    }
    for connection in made.values():
        tested = world.seen.keep(bert.post(f"/api/v1/connections/{connection['id']}/test"))
        assert tested.json()["ok"] is True, tested.text
    tables = world.seen.keep(bert.get(f"/api/v1/connections/{made['b-pg']['id']}/tables"))
    assert tables.status_code == 200
    run, log = world.run(
        bert, b, made["b-pg"]["id"], made["b-query"]["id"], "REPLICATE [b_copy] " + ONE_ROW
    )
    assert run["status"] == "completed", (run, log)
    # B's own password, also the name of the database it tries: B's own error masks it.
    own = world.connection(
        bert, b, "b-self", f"postgresql://postgres:{B_SELF}@{world.server}/{B_SELF}"
    )
    tested = world.seen.keep(bert.post(f"/api/v1/connections/{own['id']}/test")).json()
    assert tested["ok"] is False and tested["error"].startswith("database '***' does not exist")
    return made


ONE_ROW = "SELECT 1 AS one FROM pg_class LIMIT 1"


def test_errors_in_one_workspace_neither_reveal_nor_mask_anothers_secrets(world: World) -> None:
    made = _populate_b(world)
    shown = world.seen.keep(world.bert.get("/api/v1/connections", params={"limit": 100})).json()
    urls = {c["name"]: c["url"] for c in shown["items"]}
    where = f"{world.server}/{world.database}"
    assert urls["b-zebra"] == f"postgresql://postgres:***@{where}"
    assert urls["b-query"] == f"postgresql://postgres@{where}?password=***"
    options = {c["name"]: c["options"] for c in shown["items"]}
    assert options["b-option"] == options["b-wrong"] == {"password": "***"}
    assert "zebra42" not in str(shown) and "wrong@" not in str(shown) and "nope" not in str(shown)

    # A names B's words — databases `zebra42` and `wrongdb` — and reads them in clear.
    anna, a = world.anna, world.a
    for name in ("zebra42", "wrongdb"):
        probe = world.connection(
            anna, a, f"a-{name}", f"postgresql://postgres:{A_URL_PW}@{world.server}/{name}"
        )
        tested = world.seen.keep(anna.post(f"/api/v1/connections/{probe['id']}/test")).json()
        assert tested["ok"] is False and "***" not in tested["error"]
        assert tested["error"].startswith(f"database '{name}' does not exist"), tested
        listed = world.seen.keep(anna.get(f"/api/v1/connections/{probe['id']}/tables"))
        assert listed.status_code == 502 and f"database '{name}'" in listed.json()["detail"]
        assert "***" not in listed.json()["detail"]
    missing = world.seen.keep(anna.get("/api/v1/connections/nope"))
    assert missing.status_code == 404 and missing.json()["detail"] == "connection nope not found"
    a_pg = world.connection(anna, a, "a-pg", f"postgresql://postgres:{A_URL_PW}@{where}")
    columns = world.seen.keep(anna.get(f"/api/v1/connections/{a_pg['id']}/tables/nope/columns"))
    assert columns.status_code == 404 and "nope" in columns.json()["detail"], columns.text
    assert "***" not in columns.json()["detail"]
    run, log = world.run(anna, a, a_pg["id"], a_pg["id"], "REPLICATE [z] SELECT * FROM zebra42")
    assert run["status"] == "error" and 'relation "zebra42" does not exist' in run["error"], run
    assert "***" not in run["error"] and '"zebra42"' in log and "***" not in log
    history = world.seen.keep(world.anna.get(f"/api.rsc/v2/jobs/{run['job_id']}/history"))
    assert history.status_code == 200 and '\\"zebra42\\" does not exist' in history.text

    # A never saw B's connections at all.
    for connection in made.values():
        assert (
            world.seen.keep(anna.get(f"/api/v1/connections/{connection['id']}")).status_code == 404
        )
    world.assert_no_canary_anywhere()


def test_a_password_parameter_is_sealed_shown_masked_and_reaches_the_driver(
    world: World, standin: StandInPostgres, mysql_user: tuple[str, str]
) -> None:
    anna, a, where = world.anna, world.a, f"{world.server}/{world.database}"
    a_pg = world.connection(
        anna, a, "a-pg", f"postgresql://postgres@{where}?sslmode=disable&password={A_QUERY_PW}"
    )
    masked = f"postgresql://postgres@{where}?sslmode=disable&password=***"
    assert a_pg["url"] == masked
    assert world.seen.keep(anna.get(f"/api/v1/connections/{a_pg['id']}")).json()["url"] == masked
    row = world.seen.keep(anna.get("/api.rsc/connections('a-pg')", params={"workspaceId": a}))
    assert row.json()["ConnectionString"] == f"URL={masked}"
    # Sent back masked (native PATCH, CData PUT): the stored password is kept.
    renamed = world.seen.keep(
        anna.patch(f"/api/v1/connections/{a_pg['id']}", json={"name": "a-pg2", "url": masked})
    )
    assert renamed.status_code == 200 and renamed.json()["url"] == masked
    put_back = world.seen.keep(
        anna.put(
            "/api.rsc/connections('a-pg2')",
            params={"workspaceId": a},
            json={"ConnectionString": f"URL={masked}"},
        )
    )
    assert put_back.status_code == 200 and put_back.json()["ConnectionString"] == f"URL={masked}"
    # Usable: test, tables and a run.
    tested = world.seen.keep(anna.post(f"/api/v1/connections/{a_pg['id']}/test")).json()
    assert tested["ok"] is True, tested
    run, log = world.run(anna, a, a_pg["id"], a_pg["id"], "REPLICATE [a_copy] " + ONE_ROW)
    assert run["status"] == "completed", (run, log)
    tables = world.seen.keep(anna.get(f"/api/v1/connections/{a_pg['id']}/tables"))
    assert tables.status_code == 200 and "a_copy" in tables.text
    twice = world.seen.keep(
        anna.post(
            "/api/v1/connections",
            json={
                "name": "a-twice",
                "workspace_id": a,
                "url": f"postgresql://postgres:{A_URL_PW}@{where}?password={A_QUERY_PW}",
            },
        )
    )
    assert twice.status_code == 422 and "two different passwords" in twice.json()["detail"]

    # The password reaches the driver: the stand-in server records what it is sent, for a
    # test, a listing and a run (which gets it through the run's process).
    url = (
        f"postgresql://postgres@127.0.0.1:{standin.port}/db?password={A_STANDIN_PW}&sslmode=disable"
    )
    probe = world.connection(anna, a, "a-standin", url, connect_timeout=30)
    tested = world.seen.keep(anna.post(f"/api/v1/connections/{probe['id']}/test")).json()
    assert standin.passwords == [A_STANDIN_PW]
    assert tested["ok"] is False and '"***" is not it' in tested["error"], tested
    listed = world.seen.keep(anna.get(f"/api/v1/connections/{probe['id']}/tables"))
    assert listed.status_code == 502 and '"***" is not it' in listed.json()["detail"]
    run, log = world.run(anna, a, probe["id"], a_pg["id"], "REPLICATE [s] " + ONE_ROW)
    assert run["status"] == "error" and '"***" is not it' in run["error"], run
    assert set(standin.passwords) == {A_STANDIN_PW} and len(standin.passwords) >= 3

    # MariaDB checks passwords: the right one in ?password= works, a wrong one is refused.
    user, database = mysql_user
    server = f"{MYSQL_HOST}:{MYSQL_PORT}/{database}"
    mine = world.connection(anna, a, "a-my", f"mariadb://{user}@{server}?password={A_MYSQL_PW}")
    assert mine["url"] == f"mariadb://{user}@{server}?password=***"
    assert world.seen.keep(anna.post(f"/api/v1/connections/{mine['id']}/test")).json()["ok"]
    listed = world.seen.keep(anna.get(f"/api/v1/connections/{mine['id']}/tables"))
    assert listed.status_code == 200 and "orders" in listed.text
    wrong = world.connection(anna, a, "a-my-wrong", f"mariadb://{user}@{server}?password=wrong1")
    refused = world.seen.keep(anna.post(f"/api/v1/connections/{wrong['id']}/test")).json()
    assert refused["ok"] is False and f"refused user '{user}'" in refused["error"], refused
    world.assert_no_canary_anywhere()


def test_a_url_sent_back_masked_keeps_only_what_is_stored(client: TestClient) -> None:
    made = client.post(
        "/api/v1/connections",
        json={"name": "m", "url": f"memory://vault?token={A_QUERY_PW}&mode=x"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["url"] == "memory://vault?mode=x&token=***"
    cid = made.json()["id"]
    kept = client.patch(f"/api/v1/connections/{cid}", json={"url": "memory://vault?token=***"})
    assert kept.status_code == 200 and kept.json()["url"] == "memory://vault?token=***"
    nothing = client.patch(
        f"/api/v1/connections/{cid}", json={"url": "memory://vault?token=***&api_key=***"}
    )
    assert nothing.status_code == 422 and "'api_key' is '***'" in nothing.json()["detail"]
    invented = client.post("/api/v1/connections", json={"name": "n", "url": "memory://u:***@vault"})
    assert invented.status_code == 422 and "password is '***'" in invented.json()["detail"]
    replaced = client.patch(f"/api/v1/connections/{cid}", json={"url": "memory://vault"})
    assert replaced.json()["url"] == "memory://vault"


def test_a_masked_secret_is_kept_only_for_the_server_it_was_given_for(
    client: TestClient, standin: StandInPostgres
) -> None:
    """Whoever edits a connection sees `***`; were it kept for another host, pointing the
    connection at their own server and testing it would hand them the password. (Only the
    stand-in on loopback is ever connected to.)"""
    hidden = client.post(
        "/api/v1/connections",
        json={"name": "dw", "url": f"postgresql://etl:{A_URL_PW}@db.example.com/dw"},
    ).json()
    in_option = client.post(
        "/api/v1/connections",
        json={
            "name": "dw2",
            "url": "postgresql://etl@db.example.com/dw",
            "options": {"password": A_QUERY_PW},
        },
    ).json()
    elsewhere = f"postgresql://etl:***@127.0.0.1:{standin.port}/dw?sslmode=disable"
    for cid, change in (
        (hidden["id"], {"url": elsewhere}),
        (hidden["id"], {"url": "postgresql://other:***@db.example.com/dw"}),
        (in_option["id"], {"url": elsewhere.replace(":***", "")}),
        (in_option["id"], {"url": elsewhere.replace(":***", ""), "options": {"password": "***"}}),
    ):
        refused = client.patch(f"/api/v1/connections/{cid}", json=change)
        assert refused.status_code == 422, refused.text
        assert "give them again" in refused.json()["detail"]
        assert "db.example.com" in client.get(f"/api/v1/connections/{cid}").json()["url"]
    # The same server (another database, a setting) keeps them; so does a new password.
    same = client.patch(
        f"/api/v1/connections/{hidden['id']}",
        json={"url": "postgresql://etl:***@DB.example.com/other?sslmode=require"},
    )
    assert same.status_code == 200, same.text
    moved = client.patch(
        f"/api/v1/connections/{in_option['id']}",
        json={"url": elsewhere.replace(":***", ""), "options": {"password": "given-again"}},
    )
    assert moved.status_code == 200, moved.text
    client.post(f"/api/v1/connections/{in_option['id']}/test")
    assert standin.passwords == ["given-again"]


def test_url_secrets_stored_in_clear_by_earlier_versions_are_sealed_at_start(
    runtime: Runtime,
) -> None:
    with runtime.unit() as ctx:
        old = Connection(
            workspace_id="default",
            name="old",
            scheme="postgresql",
            url=f"postgresql://u@h/db?sslmode=require&password={A_QUERY_PW}",
            options={},
            sealed_secrets=ctx.box.seal({"password": B_OPTION}),
        )
        ctx.session.add(old)
        ctx.session.flush()
        assert connections.to_out(ctx, old).url.endswith("?sslmode=require&password=***")
        cid = old.id
    runtime.bootstrap()
    with runtime.unit() as ctx:
        sealed = ctx.session.get(Connection, cid)
        assert sealed is not None and sealed.url == "postgresql://u@h/db?sslmode=require"
        assert ctx.box.open(sealed.sealed_secrets) == {
            "password": B_OPTION,
            "?password": A_QUERY_PW,
        }
        assert connections.endpoint(ctx, sealed).url == (
            f"postgresql://u@h/db?sslmode=require&password={A_QUERY_PW}"
        )
        shown = connections.to_out(ctx, sealed)
        assert shown.url == "postgresql://u@h/db?sslmode=require&password=***"
        assert shown.options == {"password": "***"}
    with runtime.unit() as ctx:
        assert connection_secrets.seal_stored_url_secrets(ctx) == 0, "once sealed, nothing left"
