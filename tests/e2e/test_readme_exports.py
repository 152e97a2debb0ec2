"""The README's export examples (SCAPI, native downloads, JSON:API), run as written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.readme import needs_curl, run_block
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e


@needs_curl
def test_readme_export_examples_work_as_written(tmp_path: Path) -> None:
    with running_server(
        tmp_path, env={"CONVEYOR_DEMO": "true"}, data_dir=tmp_path / ".conveyor"
    ) as server:
        stdout = run_block("exports", server.url, tmp_path)
    archive = zipfile.ZipFile(tmp_path / "customers.zip")
    assert sorted(archive.namelist()) == ["customers.csv", "customers.xlsx"]
    with archive.open("customers.xlsx") as sheet:
        assert len(list(openpyxl.load_workbook(sheet).active.values)) == 2001
    assert sorted(zipfile.ZipFile(tmp_path / "customers-export.zip").namelist()) == [
        "customers.csv",
        "customers.xlsx",
    ]
    assert (tmp_path / "customers-head.csv").stat().st_size == 100
    assert '"meta": {"count": 2}' in stdout and '"type": "sync:jobs"' in stdout
    assert '"id": "parquet"' in stdout
