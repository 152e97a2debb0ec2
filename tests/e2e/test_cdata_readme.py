"""The README's CData Sync curl examples, run as written against a real server with the demo."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import ADMIN_TOKEN, running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def examples() -> str:
    block = re.search(
        r"<!-- cdata:start -->\s*```bash\n(.*?)```\s*<!-- cdata:end -->", README.read_text(), re.S
    )
    assert block, "README.md lost its CData examples block"
    return block.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_cdata_examples_work_as_written(tmp_path: Path) -> None:
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        env = {**os.environ, "CONVEYOR_TOKEN": ADMIN_TOKEN, "CONVEYOR_URL": server.url}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", examples()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert '"Status":"SUCCESS"' in lines[0] and "executeJobOutput" in lines[0]
        assert '"JobName":"demo-copy","Status":"SUCCESS"' in lines[1]
        assert '"status":"SUCCESS"' in lines[-1] and '"records_affected":2000' in lines[-1]
        run = server.client.get("/api/v1/runs", params={"job_name": "customers-v2"}).json()
        assert run["items"][0]["status"] == "completed"
