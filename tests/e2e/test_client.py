"""`conveyor.client` against a real server: every resource, pages, waiting, following
logs, cancelling, and errors raised with the server's problem details."""

from __future__ import annotations

import asyncio
import time
import uuid
import zipfile
from pathlib import Path

import duckdb
import pytest

from conveyor.client import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    ConflictError,
    ConnectionFailed,
    InvalidRequestError,
    NotFoundError,
    RunFailed,
)
from conveyor.domain import RunStatus
from tests.e2e.server import ADMIN_TOKEN, Server, free_port
from tests.e2e.test_server import SLOW_QUERY


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(shared_server: Server) -> Client:
    with Client(shared_server.url, ADMIN_TOKEN) as c:
        yield c  # type: ignore[misc]


def test_connections_are_created_paged_updated_and_deleted(client: Client, tmp_path: Path) -> None:
    prefix = name("page")
    made = [
        client.connections.create(name=f"{prefix}-{i}", url=f"sqlite:///{tmp_path / f'{i}.db'}")
        for i in range(5)
    ]
    first = client.connections.list(limit=2, sort="-name", name__in=[c.name for c in made])
    assert first.total == 5 and [c.name for c in first.items] == [f"{prefix}-4", f"{prefix}-3"]
    every = list(client.connections.iter(page_size=2, sort="name", name__in=[c.name for c in made]))
    assert [c.name for c in every] == [f"{prefix}-{i}" for i in range(5)]
    assert client.connections.find(made[1].name).id == made[1].id
    assert client.connections.find(made[2].id).name == made[2].name
    with pytest.raises(NotFoundError):
        client.connections.find(f"{prefix}-none")
    changed = client.connections.update(made[0].id, max_concurrent_runs=2)
    assert (
        changed.max_concurrent_runs == 2
        and client.connections.get(made[0].id).max_concurrent_runs == 2
    )
    client.connections.delete(made[0].id)
    with pytest.raises(NotFoundError) as missing:
        client.connections.get(made[0].id)
    assert missing.value.status == 404 and made[0].id in missing.value.detail


def test_job_runs_are_waited_for_and_their_logs_followed(
    client: Client, shared_source: Path, tmp_path: Path
) -> None:
    src = client.connections.create(name=name("src"), url=f"sqlite:///{shared_source}")
    dst = client.connections.create(name=name("dst"), url=f"duckdb:///{tmp_path / 'lake.duckdb'}")
    assert client.connections.test(src.id).can_read
    assert [t["name"] for t in client.connections.tables(src.id)] == ["items"]
    assert "price" in [c["name"] for c in client.connections.columns(src.id, "items")]
    job = client.jobs.create(
        name=name("job"),
        source_connection_id=src.id,
        destination_connection_id=dst.id,
        queries=["REPLICATE [items]"],
    )
    cheap = client.tasks.create(job.id, "REPLICATE [cheap] SELECT id FROM [items] WHERE id < 10")
    client.tasks.move(job.id, cheap.id, 0)
    assert [t.table for t in client.tasks.list(job.id)] == ["cheap", "items"]

    run = client.jobs.execute(job.id)
    lines = list(run.follow(poll=0.1))
    assert run.status is RunStatus.completed and run.stats.rows_written == 2_009
    messages = [line.message for line in lines]
    assert any("REPLICATE [items]" in m for m in messages)
    assert [line.id for line in lines] == sorted({line.id for line in lines})  # each line once
    assert client.jobs.status(job.id)["status"] == "completed"
    assert client.tasks.history(job.id, cheap.id).items[0].rows_written == 9
    again = client.jobs.execute(job.id, load="full").wait(timeout=120, check=True)
    assert again.status is RunStatus.completed and again.id != run.id
    mine = list(client.runs.iter(job_id=job.id, sort="created_at"))
    assert [r.id for r in mine] == [run.id, again.id]
    assert len(client.runs.get(run.id).logs()) == len(lines)
    with duckdb.connect(str(tmp_path / "lake.duckdb"), read_only=True) as lake:
        assert lake.execute("SELECT count(*) FROM items").fetchone() == (2_000,)


def test_a_failed_run_raises_when_checked(
    client: Client, shared_source: Path, tmp_path: Path
) -> None:
    src = client.connections.create(name=name("src"), url=f"sqlite:///{shared_source}")
    dst = client.connections.create(name=name("dst"), url=f"duckdb:///{tmp_path / 'x.duckdb'}")
    job = client.jobs.create(
        name=name("job"), source_connection_id=src.id, destination_connection_id=dst.id
    )
    client.tasks.create(job.id, "REPLICATE [nope]")
    with pytest.raises(RunFailed) as failed:
        client.jobs.execute(job.id).wait(timeout=120, check=True)
    assert failed.value.run.status is RunStatus.error and "nope" in (failed.value.run.error or "")


def test_a_running_run_is_canceled(client: Client, shared_source: Path, tmp_path: Path) -> None:
    src = client.connections.create(name=name("src"), url=f"sqlite:///{shared_source}")
    dst = client.connections.create(name=name("dst"), url=f"duckdb:///{tmp_path / 's.duckdb'}")
    job = client.jobs.create(
        name=name("slow"),
        source_connection_id=src.id,
        destination_connection_id=dst.id,
        queries=[SLOW_QUERY],
    )
    run = client.jobs.execute(job.id)
    while run.refresh().stats.rows_read == 0:
        assert not run.status.is_final, run.error
        time.sleep(0.05)
    assert run.cancel().status in (RunStatus.canceling, RunStatus.canceled)
    assert run.wait(timeout=60).status is RunStatus.canceled
    with pytest.raises(ConflictError) as refused:
        client.runs.cancel(run.id)
    assert refused.value.status == 409 and refused.value.detail


def test_export_files_are_listed_and_downloaded(
    client: Client, shared_source: Path, tmp_path: Path
) -> None:
    src = client.connections.create(name=name("src"), url=f"sqlite:///{shared_source}")
    job = client.jobs.create(
        name=name("export"),
        source_connection_id=src.id,
        export_format="csv",
        queries=["REPLICATE [items]", "REPLICATE [few] SELECT id FROM [items] WHERE id <= 3"],
    )
    run = client.jobs.execute(job.id).wait(timeout=120, check=True)
    files = run.files()
    assert sorted(f.filename for f in files) == ["few.csv", "items.csv"]
    few = next(f for f in files if f.filename == "few.csv")
    assert [f.id for f in client.files.iter(run_id=run.id, filename="few.csv")] == [few.id]
    saved = client.files.download(few.id, tmp_path / "few.csv")
    assert saved.read_text().splitlines() == ['"id"', "1", "2", "3"]
    archive = client.runs.download(run.id, tmp_path / "all.zip")
    assert sorted(zipfile.ZipFile(archive).namelist()) == ["few.csv", "items.csv"]


def test_errors_carry_the_problem_details(client: Client, shared_server: Server) -> None:
    with pytest.raises(InvalidRequestError) as invalid:
        client.connections.create(name=name("x"), url="sqlite:///x.db", colour="blue")
    assert invalid.value.status == 422
    assert {"field": "colour", "reason": "unknown field"} in invalid.value.errors
    job = client.jobs.create(name=name("job"), export_format="csv")
    with pytest.raises(BadRequestError) as bad:
        client.tasks.create(job.id, "REPLICATE [x] SELECT")
    assert bad.value.problem["position"] == 14 and "position 14" in str(bad.value)
    with (
        Client(shared_server.url, "cvy_not_a_token") as stranger,
        pytest.raises(AuthenticationError) as refused,
    ):
        stranger.jobs.list()
    assert refused.value.status == 401
    with (
        Client(f"http://127.0.0.1:{free_port()}", ADMIN_TOKEN) as nowhere,
        pytest.raises(ConnectionFailed),
    ):
        nowhere.health()


def test_users_tokens_and_transformations(
    client: Client, tmp_path: Path, shared_server: Server
) -> None:
    viewer = client.users.create(name=name("viewer"), role="viewer")
    created = client.users.create_token(viewer.id, name="laptop", expires_in_days=7)
    assert [t.id for t in client.users.tokens(viewer.id)] == [created.id]
    with Client(shared_server.url, created.token) as theirs:
        assert theirs.jobs.list().total >= 0
        client.users.revoke_token(viewer.id, created.id)
        with pytest.raises(AuthenticationError):
            theirs.jobs.list()
    lake = client.connections.create(name=name("lake"), url=f"duckdb:///{tmp_path / 't.duckdb'}")
    made = client.transformations.create(
        name=name("t"), connection_id=lake.id, queries=["CREATE TABLE answer AS SELECT 42 AS n"]
    )
    assert (
        client.transformations.execute(made.id).wait(timeout=120, check=True).kind
        == "transformation"
    )
    with duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True) as db:
        assert db.execute("SELECT n FROM answer").fetchone() == (42,)


def test_the_async_client_does_the_same(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with AsyncClient(shared_server.url, ADMIN_TOKEN) as client:
            src = await client.connections.create(
                name=name("src"), url=f"sqlite:///{shared_source}"
            )
            dst = await client.connections.create(
                name=name("dst"), url=f"duckdb:///{tmp_path / 'a.duckdb'}"
            )
            job = await client.jobs.create(
                name=name("job"),
                source_connection_id=src.id,
                destination_connection_id=dst.id,
                queries=["REPLICATE [items]"],
            )
            run = await client.jobs.execute(job.id)
            lines = [line.message async for line in run.follow(poll=0.1)]
            assert run.status is RunStatus.completed and run.stats.rows_written == 2_000
            assert any("REPLICATE [items]" in m for m in lines)
            ids = [r.id async for r in client.runs.iter(job_id=job.id, page_size=1)]
            assert ids == [run.id]
            assert (await client.runs.get(run.id)).status is RunStatus.completed
            with pytest.raises(NotFoundError):
                await client.jobs.get(name("missing"))

    asyncio.run(scenario())
