"""The README's curl walk-through, run as written against a real server with the demo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import ADMIN_TOKEN, running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def walkthrough() -> str:
    text = README.read_text()
    block = re.search(
        r"<!-- walkthrough:start -->\s*```bash\n(.*?)```\s*<!-- walkthrough:end -->", text, re.S
    )
    assert block, "README.md lost its walk-through block"
    return block.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_walkthrough_works_as_written(tmp_path: Path) -> None:
    # The walk-through runs where `make run` ran: the data directory is ./.conveyor.
    with running_server(
        tmp_path, env={"CONVEYOR_DEMO": "true"}, data_dir=tmp_path / ".conveyor"
    ) as server:
        env = {**os.environ, "CONVEYOR_TOKEN": ADMIN_TOKEN, "CONVEYOR_URL": server.url}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walkthrough()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert '"ok":true' in result.stdout
        assert '"status":"completed"' in result.stdout
        assert "replaced with 2,000 rows" in result.stdout  # customers, in the run's logs
        demo = server.client.get("/api/v1/jobs", params={"name": "demo-copy"}).json()["items"]
        assert demo and demo[0]["workspace_id"] == "demo" and demo[0]["tasks_count"] == 5
        run = server.client.post(
            f"/api/v1/jobs/{demo[0]['id']}/execute", json={"wait": True}
        ).json()
        assert run["status"] == "completed" and run["stats"]["rows_written"] > 20_000
