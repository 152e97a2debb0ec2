"""The README's shell examples, found between their markers and run as written."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import ADMIN_TOKEN

README = Path(__file__).resolve().parents[2] / "README.md"

needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")


def block(name: str) -> str:
    """The bash block between `<!-- name:start -->` and `<!-- name:end -->`."""
    found = re.search(
        rf"<!-- {name}:start -->\s*```bash\n(.*?)```\s*<!-- {name}:end -->",
        README.read_text(),
        re.S,
    )
    assert found, f"README.md lost its {name} block"
    return found.group(1)


def run_block(name: str, url: str, cwd: Path, timeout: float = 180) -> str:
    """Run a README block as a user would (token and URL exported); its standard output."""
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block(name)],
        cwd=cwd,
        env={**os.environ, "CONVEYOR_TOKEN": ADMIN_TOKEN, "CONVEYOR_URL": url},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
