"""The CData Sync curl examples (docs/compatibility-cdata.md), run as written against a real server with the demo."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.readme import elsewhere, needs_curl, run_block
from tests.e2e.server import running_server


@needs_curl
def test_readme_cdata_examples_work_as_written(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        stdout = run_block("cdata", server.url, elsewhere(tmp_path))
        lines = stdout.splitlines()
        assert '"Status":"SUCCESS"' in lines[0] and "executeJobOutput" in lines[0]
        assert '"JobName":"demo-copy","Status":"SUCCESS"' in lines[1]
        assert '"status":"SUCCESS"' in lines[-1] and '"records_affected":2000' in lines[-1]
        run = server.client.get("/api/v1/runs", params={"job_name": "customers-v2"}).json()
        assert run["items"][0]["status"] == "completed"
