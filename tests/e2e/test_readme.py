"""The README's curl walk-through, run as written against a real server with the demo."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.readme import elsewhere, needs_curl, run_block
from tests.e2e.server import running_server


@needs_curl
def test_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    # Run from a folder that is neither the repository nor the parent of the data directory:
    # the block finds the demo's files through the API, not through its working directory.
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        stdout = run_block("walkthrough", server.url, elsewhere(tmp_path), timeout=120)
        assert '"ok":true' in stdout
        assert '"status":"completed"' in stdout
        assert "replaced with 2,000 rows" in stdout  # customers, in the run's logs
        lake = server.data_dir / "workspaces" / "demo" / "lake.duckdb"
        assert lake.stat().st_size > 0
        demo = server.client.get("/api/v1/jobs", params={"name": "demo-copy"}).json()["items"]
        assert demo and demo[0]["workspace_id"] == "demo" and demo[0]["tasks_count"] == 5
        run = server.client.post(
            f"/api/v1/jobs/{demo[0]['id']}/execute", json={"wait": True}
        ).json()
        assert run["status"] == "completed" and run["stats"]["rows_written"] > 20_000
