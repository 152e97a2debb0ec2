"""`conveyor apply` and `conveyor export` against real servers: a workspace made from a
file, applied again with no change, one edit as one update, pruning, secrets as
references, and export → apply on a fresh server giving the same state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from conveyor.client import Client
from tests.e2e.server import ADMIN_TOKEN, Server, running_server


def conveyor(
    server: Server, *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "CONVEYOR_URL": server.url, "CONVEYOR_TOKEN": ADMIN_TOKEN, **env}
    return subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=cwd,
    )


def plan(server: Server, path: Path, *flags: str, **env: str) -> list[dict[str, Any]]:
    result = conveyor(server, "apply", "-f", str(path), "--json", *flags, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def workspace(server: Server) -> str:
    with Client(server.url, ADMIN_TOKEN) as client:
        return client.workspaces.create(name=f"ws-{uuid.uuid4().hex[:8]}").id


def file_text(ws: str, source: Path, lake: Path, truncate: bool = False) -> str:
    return f"""\
version: 1
workspace: {ws}
connections:
  - name: shop
    url: sqlite:///{source}
  - name: lake
    url: duckdb:///{lake}
  - name: warehouse
    url: postgresql://loader:${{WAREHOUSE_PASSWORD}}@127.0.0.1:5432/test
    max_concurrent_runs: 2
jobs:
  - name: shop-to-lake
    source: shop
    destination: lake
    truncate_table_data: {str(truncate).lower()}
    schedule: {{enabled: true, cron: "0 3 * * *"}}
    tasks:
      - REPLICATE [items]
      - REPLICATE [cheap] SELECT id, price FROM [items] WHERE price < 1
  - name: items-export
    source: shop
    export_format: csv
    labels: [nightly]
    tasks: ["REPLICATE [items]"]
transformations:
  - name: totals
    connection: lake
    queries: ["CREATE OR REPLACE TABLE totals AS SELECT count(*) AS n, '$${{HOME}}' AS s FROM items"]
    trigger_mode: after_job
    after_job: shop-to-lake
"""


SECRET = {"WAREHOUSE_PASSWORD": "pa55-word"}


def test_apply_creates_then_changes_nothing_then_one_update(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    ws = workspace(shared_server)
    path = tmp_path / "conveyor.yaml"
    path.write_text(file_text(ws, shared_source, tmp_path / "lake.duckdb"))
    dry = plan(shared_server, path, "--dry-run", **SECRET)
    assert [(c["action"], c["kind"], c["name"]) for c in dry] == [
        ("create", "connection", "shop"),
        ("create", "connection", "lake"),
        ("create", "connection", "warehouse"),
        ("create", "job", "shop-to-lake"),
        ("create", "job", "items-export"),
        ("create", "transformation", "totals"),
    ]
    with Client(shared_server.url, ADMIN_TOKEN) as client:
        assert client.connections.list(workspace_id=ws).total == 0  # a dry run changes nothing
        assert len(plan(shared_server, path, **SECRET)) == 6
        job = client.jobs.find("shop-to-lake")
        assert job.workspace_id == ws and job.schedule.cron == "0 3 * * *"
        assert [t.table for t in client.tasks.list(job.id)] == ["items", "cheap"]
        warehouse = client.connections.list(workspace_id=ws, name="warehouse").items[0]
        assert warehouse.url == "postgresql://loader:***@127.0.0.1:5432/test"
        totals = client.transformations.find("totals")
        assert totals.trigger_after_job_id == job.id and "'${HOME}' AS s" in totals.queries[0]
    again = conveyor(shared_server, "apply", "-f", str(path), **SECRET)
    assert again.returncode == 0 and "no changes" in again.stdout

    path.write_text(file_text(ws, shared_source, tmp_path / "lake.duckdb", truncate=True))
    edited = plan(shared_server, path, **SECRET)
    assert edited == [
        {
            "action": "update",
            "kind": "job",
            "name": "shop-to-lake",
            "fields": ["truncate_table_data"],
        }
    ]
    assert plan(shared_server, path, **SECRET) == []

    fewer = path.read_text().replace(
        "      - REPLICATE [items]\n      - REPLICATE [cheap]", "      - REPLICATE [cheap]"
    )
    path.write_text(fewer)
    assert [c["fields"] for c in plan(shared_server, path, **SECRET)] == [["tasks"]]
    with Client(shared_server.url, ADMIN_TOKEN) as client:
        assert [t.table for t in client.tasks.list(client.jobs.find("shop-to-lake").id)] == [
            "cheap"
        ]


def test_prune_deletes_only_what_the_file_lacks(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    ws = workspace(shared_server)
    path = tmp_path / "conveyor.yaml"
    path.write_text(file_text(ws, shared_source, tmp_path / "lake.duckdb"))
    plan(shared_server, path, **SECRET)
    without = (
        path.read_text()
        .split("transformations:")[0]
        .replace(
            "  - name: items-export\n    source: shop\n    export_format: csv\n    labels: [nightly]\n"
            '    tasks: ["REPLICATE [items]"]\n',
            "",
        )
    )
    path.write_text(without)
    assert plan(shared_server, path, **SECRET) == []  # without --prune, nothing is deleted
    pruned = plan(shared_server, path, "--prune", **SECRET)
    assert [(c["action"], c["name"]) for c in pruned] == [
        ("delete", "totals"),
        ("delete", "items-export"),
    ]
    with Client(shared_server.url, ADMIN_TOKEN) as client:
        assert [j.name for j in client.jobs.iter(workspace_id=ws)] == ["shop-to-lake"]
        assert client.transformations.list(workspace_id=ws).total == 0


def test_export_then_apply_on_a_fresh_server_gives_the_same_state(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    ws = workspace(shared_server)
    path = tmp_path / "conveyor.yaml"
    path.write_text(file_text(ws, shared_source, tmp_path / "lake.duckdb"))
    plan(shared_server, path, **SECRET)
    exported = conveyor(shared_server, "export", "--workspace", ws)
    assert exported.returncode == 0, exported.stderr
    text = exported.stdout
    assert "${WAREHOUSE_PASSWORD}" in text and "pa55-word" not in text
    assert "'$${HOME}' AS s" in text  # a literal ${ is written escaped, as it was read
    assert "# Set before `conveyor apply`: WAREHOUSE_PASSWORD" in text
    assert plan(shared_server, _write(tmp_path / "again.yaml", text), **SECRET) == []

    (tmp_path / "fresh").mkdir()
    with running_server(tmp_path / "fresh") as fresh:
        fresh_ws = workspace(fresh)
        moved = text.replace(f"workspace: {ws}", f"workspace: {fresh_ws}")
        other = tmp_path / "elsewhere"
        other.mkdir()
        _write(other / "conveyor.yaml", moved)
        applied = conveyor(fresh, "apply", cwd=other, **SECRET)  # -f defaults to ./conveyor.yaml
        assert applied.returncode == 0 and "applied 6 change(s)" in applied.stdout, applied.stderr
        second = conveyor(fresh, "export", "--workspace", fresh_ws)
        assert second.stdout == moved
        assert plan(fresh, other / "conveyor.yaml", **SECRET) == []


def test_a_wrong_field_is_named_with_its_line(shared_server: Server, tmp_path: Path) -> None:
    path = tmp_path / "conveyor.yaml"
    path.write_text(
        "version: 1\njobs:\n  - name: x\n    export_format: csv\n    batch_size: many\n"
    )
    refused = conveyor(shared_server, "apply", "-f", str(path))
    assert refused.returncode == 2
    assert f"{path}:5: jobs[0].batch_size: Input should be a valid integer" in refused.stderr


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_refused_change_is_named(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    ws = workspace(shared_server)
    path = tmp_path / "conveyor.yaml"
    path.write_text(
        f"workspace: {ws}\nconnections:\n  - name: shop\n    url: sqlite:///{shared_source}\n"
        "jobs:\n  - name: broken\n    source: shop\n    export_format: csv\n"
        '    tasks: ["REPLICATE [x] SELECT"]\n'
    )
    refused = conveyor(shared_server, "apply", "-f", str(path))
    assert refused.returncode == 1
    assert "+ job broken: " in refused.stderr and "position" in refused.stderr, refused.stderr
    with Client(shared_server.url, ADMIN_TOKEN) as client:  # what came before it was made
        assert [c.name for c in client.connections.iter(workspace_id=ws)] == ["shop"]


def pipeline_file(ws: str, source: Path, lake: Path, steps: str) -> str:
    return f"""\
version: 1
workspace: {ws}
connections:
  - name: shop
    url: sqlite:///{source}
  - name: lake
    url: duckdb:///{lake}
jobs:
  - name: first
    source: shop
    destination: lake
    tasks: ["REPLICATE [items]"]
  - name: second
    source: shop
    destination: lake
    tasks: ["REPLICATE [cheap] SELECT id FROM [items] WHERE price < 1"]
pipelines:
  - name: nightly
    on_error: continue
    schedule: {{enabled: true, cron: "0 2 * * *"}}
    steps:
{steps}"""


def test_pipelines_are_applied_compared_and_exported_by_job_name(
    shared_server: Server, shared_source: Path, tmp_path: Path
) -> None:
    ws = workspace(shared_server)
    path = tmp_path / "conveyor.yaml"
    in_order = "      - job: first\n      - job: second\n"
    path.write_text(pipeline_file(ws, shared_source, tmp_path / "lake.duckdb", in_order))
    made = plan(shared_server, path)
    assert [(c["kind"], c["name"]) for c in made][-1] == ("pipeline", "nightly")
    with Client(shared_server.url, ADMIN_TOKEN) as client:
        pipeline = client.pipelines.list(workspace_id=ws).items[0]
        first, second = (
            client.jobs.list(workspace_id=ws, name=n).items[0] for n in ("first", "second")
        )
        assert [(s.job_name, s.depends_on) for s in pipeline.steps] == [
            ("first", []),
            ("second", [first.id]),
        ]
        assert first.pipeline_id == second.pipeline_id == pipeline.id
        assert pipeline.on_error.value == "continue" and pipeline.schedule.cron == "0 2 * * *"
    assert plan(shared_server, path) == []  # the jobs' pipeline_id is no change of theirs
    apart = (
        "      - job: second\n        depends_on: []\n      - job: first\n        depends_on: []\n"
    )
    path.write_text(pipeline_file(ws, shared_source, tmp_path / "lake.duckdb", apart))
    assert plan(shared_server, path) == [
        {"action": "update", "kind": "pipeline", "name": "nightly", "fields": ["steps"]}
    ]
    assert plan(shared_server, path) == []
    exported = conveyor(shared_server, "export", "--workspace", ws)
    assert exported.returncode == 0, exported.stderr
    assert "pipeline_id" not in exported.stdout
    assert "pipelines:\n- name: nightly\n" in exported.stdout
    assert plan(shared_server, _write(tmp_path / "again.yaml", exported.stdout)) == []
    with_id = path.read_text().replace("  - name: first\n", "  - name: first\n    pipeline_id: x\n")
    refused = conveyor(shared_server, "apply", "-f", str(_write(tmp_path / "bad.yaml", with_id)))
    assert refused.returncode != 0 and "pipeline_id" in refused.stderr
