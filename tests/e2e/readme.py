"""The README's shell examples, found between their markers and run as written."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.e2e.server import ADMIN_TOKEN
from tests.services import unavailable

README = Path(__file__).resolve().parents[2] / "README.md"

Test = TypeVar("Test", bound=Callable[..., Any])


def needs_curl(test: Test) -> Test:
    """The README's examples use curl: without it the test is skipped with the reason —
    except in CI (CI=true), where a missing curl is a failure, never a skip."""

    @functools.wraps(test)
    def checked(*args: Any, **kwargs: Any) -> Any:
        if shutil.which("curl") is None:
            unavailable("curl", FileNotFoundError("curl is not on PATH"))
        return test(*args, **kwargs)

    return checked  # type: ignore[return-value]


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
