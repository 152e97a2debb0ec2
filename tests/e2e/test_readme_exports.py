"""The export examples of docs/exports.md (SCAPI, native downloads, JSON:API), run as written."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.readme import elsewhere, needs_curl, run_block
from tests.e2e.server import running_server

pytestmark = pytest.mark.e2e


@needs_curl
def test_readme_export_examples_work_as_written(tmp_path: Path) -> None:
    # The downloads land in the working directory, which is neither the repository nor the
    # parent of the data directory: the block finds the demo's files through the API.
    here = elsewhere(tmp_path)
    with running_server(tmp_path, env={"CONVEYOR_DEMO": "true"}) as server:
        stdout = run_block("exports", server.url, here)
    archive = zipfile.ZipFile(here / "customers.zip")
    assert sorted(archive.namelist()) == ["customers.csv", "customers.xlsx"]
    with archive.open("customers.xlsx") as sheet:
        assert len(list(openpyxl.load_workbook(sheet).active.values)) == 2001
    assert sorted(zipfile.ZipFile(here / "customers-export.zip").namelist()) == [
        "customers.csv",
        "customers.xlsx",
    ]
    assert (here / "customers-head.csv").stat().st_size == 100
    assert '"meta": {"count": 2}' in stdout and '"type": "sync:jobs"' in stdout
    assert '"id": "parquet"' in stdout
