"""The README's export examples (SCAPI, native downloads, JSON:API), run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.server import ADMIN_TOKEN, running_server

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.e2e


def block() -> str:
    found = re.search(
        r"<!-- exports:start -->\s*```bash\n(.*?)```\s*<!-- exports:end -->",
        README.read_text(),
        re.S,
    )
    assert found, "README.md lost its exports block"
    return found.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_export_examples_work_as_written(tmp_path: Path) -> None:
    with running_server(
        tmp_path, env={"CONVEYOR_DEMO": "true"}, data_dir=tmp_path / ".conveyor"
    ) as server:
        env = {**os.environ, "CONVEYOR_TOKEN": ADMIN_TOKEN, "CONVEYOR_URL": server.url}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block()],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    archive = zipfile.ZipFile(tmp_path / "customers.zip")
    assert sorted(archive.namelist()) == ["customers.csv", "customers.xlsx"]
    with archive.open("customers.xlsx") as sheet:
        assert len(list(openpyxl.load_workbook(sheet).active.values)) == 2001
    assert sorted(zipfile.ZipFile(tmp_path / "customers-export.zip").namelist()) == [
        "customers.csv",
        "customers.xlsx",
    ]
    assert (tmp_path / "customers-head.csv").stat().st_size == 100
    assert '"meta": {"count": 2}' in result.stdout and '"type": "sync:jobs"' in result.stdout
    assert '"id": "parquet"' in result.stdout
