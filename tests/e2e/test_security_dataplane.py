"""The data plane holds roles and workspaces: files, the metadata store and embedded SQL.

Every attack here was once a working exploit against a real server (issue 14): a standard
user limited to one workspace became admin, downloaded the secret key, read /etc files,
wrote files anywhere, copied another workspace's table and lost the store's live WAL.
"""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from cryptography.fernet import Fernet

from tests.e2e.security import Site, Tenant, problem, site
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e


KEY_CANARY = "key-canary-2b7e91"


@pytest.fixture(scope="module")
def s(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    for found in site(tmp_path_factory.mktemp("security")):
        # The server takes its key from CONVEYOR_SECRET_KEY; a key file with a canary
        # stands for the one a server without that variable keeps here.
        (found.data_dir / "secret.key").write_text(KEY_CANARY)
        yield found


def sqlite_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS x (id INTEGER PRIMARY KEY, v TEXT)")
    db.execute("INSERT INTO x (v) VALUES ('row')")
    db.commit()
    db.close()
    return path


def duckdb_db(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE IF NOT EXISTS x AS SELECT 1 AS id, 'row' AS v")
    con.close()
    return path


def transformation(s: Site, who: Tenant, connection_id: str, *queries: str) -> dict[str, Any]:
    """Create and run a transformation as `who`; the finished run."""
    created = who.client.post(
        "/api/v1/transformations",
        json={
            "name": f"t-{os.urandom(4).hex()}",
            "workspace_id": who.workspace_id,
            "connection_id": connection_id,
            "queries": list(queries),
        },
    )
    assert created.status_code == 201, created.text
    run = who.client.post(f"/api/v1/transformations/{created.json()['id']}/execute")
    assert run.status_code == 202, run.text
    return s.server.wait_run(run.json()["id"])


def export(s: Site, who: Tenant, connection_id: str, *queries: str) -> dict[str, Any]:
    """Create and run an export job (csv) as `who`; the finished run."""
    job = who.client.post(
        "/api/v1/jobs",
        json={
            "name": f"e-{os.urandom(4).hex()}",
            "workspace_id": who.workspace_id,
            "source_connection_id": connection_id,
            "export_format": "csv",
            "queries": list(queries),
        },
    )
    assert job.status_code == 201, job.text
    return s.run(who, job.json()["id"])


def downloaded(s: Site, run: dict[str, Any]) -> str:
    """Everything a run's files hold, as text."""
    files = s.admin.client.get(f"/api/v1/runs/{run['id']}/files").json()["items"]
    return "".join(s.admin.client.get(f"/api/v1/files/{f['id']}/download").text for f in files)


def test_the_store_and_the_key_cannot_be_named_by_any_url(s: Site, tmp_path: Path) -> None:
    data = s.data_dir
    folder = s.folder("a")
    os.symlink(data / "conveyor.db", folder / "store-link.db")
    urls = [
        f"sqlite:///{data}/conveyor.db",
        f"sqlite:///{folder}/../../conveyor.db",
        f"sqlite:///{folder}/store-link.db",
        f"sqlite:///file:{data}/conveyor.db?mode=ro",
        f"duckdb:///{data}/secret.key",
        f"duckdb:///{data}/conveyor.db",
        f"file://{data}?format=csv",
        f"file://{data}/files?format=csv",
    ]
    for who in ("admin", "sam", "bea"):
        for url in urls:
            answer = s.users[who].connect(url)
            assert answer.status_code in (403, 422), f"{who} {url}: {answer.text}"
    # Another workspace's folder is part of the data directory too.
    theirs = f"sqlite:///{s.folder('b')}/theirs.db"
    problem(s.users["sam"].connect(theirs), 403)
    assert s.users["bea"].connect(theirs).status_code == 201
    refused = problem(s.users["sam"].connect(f"sqlite:///{data}/conveyor.db"), 403)
    assert "data directory" in refused["detail"]


def test_a_standard_user_outside_the_roots_gets_them_named(s: Site, tmp_path: Path) -> None:
    outside = sqlite_db(tmp_path / "outside.db")
    refused = problem(s.users["sam"].connect(f"sqlite:///{outside}"), 403)
    assert str(s.folder("a")) in refused["detail"]
    assert s.admin.connect(f"sqlite:///{outside}").status_code == 201
    mine = sqlite_db(s.folder("a") / "mine.db")
    assert s.users["sam"].connect(f"sqlite:///{mine}").status_code == 201


def test_a_transformation_cannot_attach_the_store_and_make_its_author_admin(s: Site) -> None:
    sam = s.users["sam"]
    mine = sqlite_db(s.folder("a") / "attacker.db")
    connection = sam.connect(f"sqlite:///{mine}").json()
    run = transformation(
        s,
        sam,
        connection["id"],
        f"ATTACH DATABASE '{s.data_dir}/conveyor.db' AS store",
        "UPDATE store.users SET role = 'admin' WHERE name = 'sam'",
    )
    assert run["status"] == "error"
    assert sam.client.get("/api/v1/users").status_code == 403
    roles = {u["name"]: u["role"] for u in s.admin.client.get("/api/v1/users").json()["items"]}
    assert roles["sam"] == "standard"


@pytest.mark.parametrize(
    "statement",
    [
        "ATTACH DATABASE '{tmp}/created.db' AS other",
        "/* hidden */ attach '{tmp}/created.db' as other",
        "VACUUM INTO '{tmp}/created.db'",
        "SELECT 1; ATTACH '{tmp}/created.db' AS other",
    ],
)
def test_sqlite_sql_cannot_create_or_open_other_files(
    s: Site, tmp_path: Path, statement: str
) -> None:
    sam = s.users["sam"]
    mine = sqlite_db(s.folder("a") / f"s-{os.urandom(3).hex()}.db")
    connection = sam.connect(f"sqlite:///{mine}").json()
    run = transformation(s, sam, connection["id"], statement.format(tmp=tmp_path))
    assert run["status"] == "error"
    assert not (tmp_path / "created.db").exists()


READS = [
    "(SELECT content FROM read_text('{data}/secret.key'))",
    "(SELECT string_agg(column0, ',') FROM read_csv('/etc/passwd', header=false, columns={{'column0': 'VARCHAR'}}))",
    "(SELECT count(*) FROM read_blob('{data}/*'))",
    "(SELECT count(*) FROM read_parquet('{data}/files/*/*.parquet'))",
]


@pytest.mark.parametrize("expression", READS)
def test_duckdb_selects_cannot_read_files(s: Site, expression: str) -> None:
    sam = s.users["sam"]
    source = duckdb_db(s.folder("a") / f"d-{os.urandom(3).hex()}.duckdb")
    connection = sam.connect(f"duckdb:///{source}").json()
    key = KEY_CANARY
    query = f"REPLICATE [leak] SELECT {expression.format(data=s.data_dir)} AS k FROM [x]"
    run = export(s, sam, connection["id"], query)
    assert run["status"] == "error", run
    assert "allow_external_access" in run["error"] or "external" in run["error"].lower()
    assert key not in downloaded(s, run) and key not in s.logs(run["id"])


@pytest.mark.parametrize(
    "statement",
    [
        "COPY x TO '{tmp}/written.csv'",
        "EXPORT DATABASE '{tmp}/exported'",
        "ATTACH '{other}' AS theirs",
        "INSTALL httpfs",
        "SET enable_external_access = true",
        "CREATE TABLE stolen AS SELECT * FROM read_text('{data}/secret.key')",
    ],
)
def test_duckdb_statements_cannot_leave_the_database(
    s: Site, tmp_path: Path, statement: str
) -> None:
    sam, bea = s.users["sam"], s.users["bea"]
    theirs = duckdb_db(s.folder("b") / "theirs.duckdb")
    assert bea.connect(f"duckdb:///{theirs}").status_code == 201
    mine = duckdb_db(s.folder("a") / f"w-{os.urandom(3).hex()}.duckdb")
    connection = sam.connect(f"duckdb:///{mine}").json()
    text = statement.format(tmp=tmp_path, other=theirs, data=s.data_dir)
    run = transformation(s, sam, connection["id"], text)
    assert run["status"] == "error", run
    assert not (tmp_path / "written.csv").exists() and not (tmp_path / "exported").exists()


def test_an_admin_may_open_one_connection_to_external_files(s: Site, tmp_path: Path) -> None:
    csv = tmp_path / "outside.csv"
    csv.write_text("id,v\n1,a\n2,b\n")
    database = duckdb_db(s.folder("a") / "open.duckdb")
    refused = s.users["sam"].connect(f"duckdb:///{database}", allow_external_access=True)
    problem(refused, 403)
    admin = Tenant("admin", "admin", s.workspaces["a"]["id"], "", s.admin.client)
    opened = admin.connect(f"duckdb:///{database}", allow_external_access=True)
    assert opened.status_code == 201, opened.text
    connection = opened.json()
    run = transformation(
        s, admin, connection["id"], f"CREATE TABLE imported AS SELECT * FROM read_csv('{csv}')"
    )
    assert run["status"] == "completed", run
    # The workspace's members use it; only an admin may point it elsewhere.
    problem(
        s.users["sam"].client.patch(
            f"/api/v1/connections/{connection['id']}", json={"url": f"duckdb:///{tmp_path}/x"}
        ),
        403,
    )


def test_a_symlink_made_after_the_connection_is_refused_when_opened(s: Site) -> None:
    sam = s.users["sam"]
    path = sqlite_db(s.folder("a") / "late.db")
    connection = sam.connect(f"sqlite:///{path}").json()
    path.unlink()
    os.symlink(s.data_dir / "conveyor.db", path)
    tested = sam.client.post(f"/api/v1/connections/{connection['id']}/test").json()
    assert tested["ok"] is False and "data directory" in tested["error"]
    tables = sam.client.get(f"/api/v1/connections/{connection['id']}/tables")
    assert tables.status_code == 403


def test_viewers_neither_test_nor_discover_nor_run(s: Site) -> None:
    vic = s.users["vic"]
    path = sqlite_db(s.folder("a") / "view.db")
    connection = s.users["sam"].connect(f"sqlite:///{path}").json()
    problem(vic.client.post(f"/api/v1/connections/{connection['id']}/test"), 403)
    problem(vic.client.get(f"/api/v1/connections/{connection['id']}/tables"), 403)
    job = export(s, s.users["sam"], connection["id"], "REPLICATE [x]")
    problem(vic.client.post(f"/api/v1/jobs/{job['job_id']}/execute", json={}), 403)


def test_testing_a_connection_never_touches_the_store(tmp_path: Path) -> None:
    """A connection row pointing at the store (stored before the policy existed) is refused
    when opened, and writes made after testing it survive kill -9."""
    data_dir = tmp_path / "data"
    env = {"CONVEYOR_SECRET_KEY": Fernet.generate_key().decode()}
    with running_server(tmp_path, env=env, data_dir=data_dir) as server:
        client = server.client
        store = data_dir.resolve() / "conveyor.db"
        db = sqlite3.connect(store, timeout=30)
        db.execute(
            "INSERT INTO connections (id, workspace_id, name, scheme, url, options, "
            "created_at, updated_at, admin_configured, allow_external_access) VALUES "
            "('legacy', 'default', 'legacy', 'sqlite', ?, '{}', CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, 0, 0)",
            (f"sqlite:///{store}",),
        )
        db.commit()
        db.close()
        tested = client.post("/api/v1/connections/legacy/test").json()
        assert tested["ok"] is False and "data directory" in tested["error"]
        created = client.post("/api/v1/workspaces", json={"name": "written-after-the-test"})
        assert created.status_code == 201
        server.process.send_signal(signal.SIGKILL)
        server.process.wait()
    with running_server(tmp_path, env=env, data_dir=data_dir) as again:
        names = [w["name"] for w in again.client.get("/api/v1/workspaces").json()["items"]]
        assert "written-after-the-test" in names
