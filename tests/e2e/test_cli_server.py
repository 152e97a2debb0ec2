"""The CLI against a real server: connections, jobs and runs commands, their `--json`
output parsed, `run --wait` exit codes, `admin reset-token`, and help texts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from conveyor import __version__
from conveyor.client import Client
from conveyor.domain import RunStatus
from tests.e2e.server import ADMIN_TOKEN, Server, free_port, running_server
from tests.e2e.test_server import SLOW_QUERY

PLACEHOLDER = re.compile(r"<[a-z_]+(\[[^\]]*\])?>|\{[A-Za-z_]+\}")


def conveyor(
    *args: str, server: Server | None = None, token: str | None = ADMIN_TOKEN, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "COLUMNS": "160", **env}
    environment.pop("CONVEYOR_URL", None)
    environment.pop("CONVEYOR_TOKEN", None)
    if server is not None:
        environment["CONVEYOR_URL"] = server.url
    if token is not None:
        environment["CONVEYOR_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_version_and_help_without_type_placeholders() -> None:
    version = conveyor("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"conveyor {__version__}"
    for command in (
        (),
        ("run",),
        ("serve",),
        ("connections", "create"),
        ("jobs", "create"),
        ("jobs", "execute"),
        ("runs", "list"),
        ("runs", "logs"),
        ("pipelines", "run"),
        ("pipelines", "show"),
        ("admin", "reset-token"),
    ):
        shown = conveyor(*command, "--help")
        assert shown.returncode == 0, shown.stderr
        assert "Usage: conveyor" in shown.stdout
        assert not PLACEHOLDER.search(shown.stdout), (command, shown.stdout)
    assert (
        "Usage: conveyor jobs execute [OPTIONS] JOB" in conveyor("jobs", "execute", "--help").stdout
    )


def test_connections_are_created_listed_shown_and_tested(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    src = name("src")
    made = as_json(
        conveyor(
            "connections",
            "create",
            src,
            f"sqlite:///{shared_source}",
            "--json",
            server=shared_server,
        )
    )
    assert made["name"] == src and made["scheme"] == "sqlite"
    listed = as_json(
        conveyor("connections", "list", "--json", "--limit", "1000", server=shared_server)
    )
    assert made["id"] in [c["id"] for c in listed["items"]]
    assert (
        as_json(conveyor("connections", "show", src, "--json", server=shared_server))["id"]
        == made["id"]
    )
    tested = as_json(conveyor("connections", "test", src, "--json", server=shared_server))
    assert tested["ok"] and tested["can_read"]
    table = conveyor("connections", "list", server=shared_server)
    assert table.returncode == 0 and src in table.stdout and "NAME" in table.stdout
    missing = name("gone")
    conveyor(
        "connections",
        "create",
        missing,
        f"postgresql://127.0.0.1:{free_port()}/none",
        server=shared_server,
    )
    unreachable = conveyor("connections", "test", missing, server=shared_server)
    assert unreachable.returncode == 1 and "reached" in unreachable.stdout


def _job(server: Server, source: Path, tmp_path: Path, *queries: str) -> str:
    src, dst = name("src"), name("dst")
    conveyor("connections", "create", src, f"sqlite:///{source}", server=server)
    conveyor(
        "connections", "create", dst, f"duckdb:///{tmp_path / (dst + '.duckdb')}", server=server
    )
    job = name("job")
    args = [arg for query in queries for arg in ("-q", query)]
    made = as_json(
        conveyor(
            "jobs",
            "create",
            job,
            "--source",
            src,
            "--destination",
            dst,
            *args,
            "--json",
            server=server,
        )
    )
    assert made["tasks_count"] == len(queries)
    return job


def test_execute_wait_exit_codes_and_runs_commands(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    good = _job(shared_server, shared_source, tmp_path, "REPLICATE [items]")
    run = as_json(conveyor("jobs", "execute", good, "--wait", "--json", server=shared_server))
    assert run["status"] == "completed" and run["stats"]["rows_written"] == 2_000
    words = conveyor("jobs", "execute", good, "--wait", "--full", server=shared_server)
    assert words.returncode == 0 and "completed" in words.stdout and "2,000 rows" in words.stdout

    runs = as_json(conveyor("runs", "list", "--job", good, "--json", server=shared_server))
    assert runs["total"] == 2 and runs["items"][1]["id"] == run["id"]  # newest first
    shown = as_json(conveyor("runs", "show", run["id"], "--json", server=shared_server))
    assert shown["tasks"][0]["table"] == "items"
    lines = as_json(conveyor("runs", "logs", run["id"], "--json", server=shared_server))
    assert any("REPLICATE [items]" in line["message"] for line in lines)
    followed = conveyor("runs", "logs", run["id"], "--follow", server=shared_server)
    assert followed.returncode == 0 and "REPLICATE [items]" in followed.stdout
    listed = conveyor("jobs", "list", server=shared_server)
    assert listed.returncode == 0 and good in listed.stdout
    job = as_json(conveyor("jobs", "show", good, "--json", server=shared_server))
    assert job["status"] == "completed" and [t["table"] for t in job["tasks"]] == ["items"]

    bad = _job(shared_server, shared_source, tmp_path, "REPLICATE [nope]")
    failed = conveyor("jobs", "execute", bad, "--wait", server=shared_server)
    assert failed.returncode == 1 and "nope" in failed.stderr
    followed_failure = conveyor("jobs", "execute", bad, "--follow", server=shared_server)
    assert followed_failure.returncode == 1 and "nope" in followed_failure.stdout


def test_a_canceled_run_exits_3(shared_server: Server, shared_source: Path, tmp_path: Path) -> None:
    slow = _job(shared_server, shared_source, tmp_path, SLOW_QUERY)
    environment = {**os.environ, "CONVEYOR_URL": shared_server.url, "CONVEYOR_TOKEN": ADMIN_TOKEN}
    waiting = subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "jobs", "execute", slow, "--wait", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    with Client(shared_server.url, ADMIN_TOKEN) as client:
        job = client.jobs.find(slow)
        while client.jobs.status(job.id)["status"] != RunStatus.in_progress.value:
            assert waiting.poll() is None, waiting.communicate()
            time.sleep(0.05)
    canceled = as_json(conveyor("jobs", "cancel", slow, "--json", server=shared_server))
    assert canceled["status"] in ("canceling", "canceled")
    out, err = waiting.communicate(timeout=120)
    assert waiting.returncode == 3, err
    assert json.loads(out)["status"] == "canceled"
    waited = conveyor("runs", "wait", canceled["id"], server=shared_server)
    assert waited.returncode == 3 and "canceled" in waited.stdout
    again = conveyor("runs", "cancel", canceled["id"], server=shared_server)
    assert again.returncode == 1 and "[409]" in again.stderr


def test_failures_say_what_to_do(shared_server: Server) -> None:
    nowhere = conveyor("jobs", "list", "--url", "x", server=None)
    assert nowhere.returncode == 2  # an option of the root command, not of `list`
    unreachable = conveyor("--url", f"http://127.0.0.1:{free_port()}", "jobs", "list")
    assert unreachable.returncode == 2 and "cannot reach the server" in unreachable.stderr
    wrong = conveyor("jobs", "list", server=shared_server, token="cvy_wrong_token")
    assert wrong.returncode == 2 and "conveyor admin reset-token" in wrong.stderr
    missing = conveyor("jobs", "show", name("missing"), server=shared_server)
    assert missing.returncode == 1 and "[404]" in missing.stderr
    flagged = conveyor("jobs", "execute", name("missing"), "--wait", server=shared_server)
    assert flagged.returncode == 1


def test_reset_token_recovers_admin_access(tmp_path: Path) -> None:
    env = {"CONVEYOR_AUTH_CACHE_SECONDS": "0", "CONVEYOR_API_PROCESSES": "1"}
    with running_server(tmp_path, env=env) as server:
        assert conveyor("jobs", "list", server=server).returncode == 0
        nowhere = conveyor("admin", "reset-token", CONVEYOR_DATA_DIR=str(tmp_path / "elsewhere"))
        assert nowhere.returncode == 2 and "CONVEYOR_DATA_DIR" in nowhere.stderr
        data = {"CONVEYOR_DATA_DIR": str(server.data_dir)}
        reset = as_json(
            conveyor("admin", "reset-token", "--revoke-others", "--json", token=None, **data)
        )
        assert reset["user_name"] == "admin" and reset["revoked"] == 1
        new = reset["token"]
        assert as_json(conveyor("jobs", "list", "--json", server=server, token=new))["total"] == 0
        old = conveyor("jobs", "list", server=server)
        assert old.returncode == 2 and "reset-token" in old.stderr
        words = conveyor("admin", "reset-token", token=None, **data)
        assert words.returncode == 0 and "export CONVEYOR_TOKEN=" in words.stdout
        assert conveyor("jobs", "list", server=server, token=new).returncode == 0  # still valid


@pytest.mark.parametrize("user", ["nobody"])
def test_reset_token_names_a_missing_admin(tmp_path: Path, user: str) -> None:
    with running_server(tmp_path) as server:
        data = {"CONVEYOR_DATA_DIR": str(server.data_dir)}
        refused = conveyor("admin", "reset-token", "--user", user, **data)
        assert refused.returncode == 2 and f"no admin named '{user}'" in refused.stderr
