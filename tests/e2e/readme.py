"""The README's and the docs pages' shell examples, found between their markers and run as
written — from a directory that is neither the repository nor the server's data directory,
so an example that silently depends on where it runs fails."""

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

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCUMENTS = (README, *sorted((ROOT / "docs").glob("*.md")))
MARKED = re.compile(r"<!-- ([\w-]+):start -->\s*```bash\n(.*?)```\s*<!-- \1:end -->", re.S)

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


def marked_blocks() -> dict[str, tuple[Path, str]]:
    """Every marked bash block of the README and the docs pages: name → (file, text)."""
    found: dict[str, tuple[Path, str]] = {}
    for document in DOCUMENTS:
        for match in MARKED.finditer(document.read_text()):
            assert match.group(1) not in found, f"two blocks are named {match.group(1)}"
            found[match.group(1)] = (document, match.group(2))
    return found


def block(name: str) -> str:
    """The bash block between `<!-- name:start -->` and `<!-- name:end -->`."""
    blocks = marked_blocks()
    assert name in blocks, f"the README and docs/ lost their {name} block"
    return blocks[name][1]


def elsewhere(tmp_path: Path) -> Path:
    """A working directory for an example: inside no repository and no data directory."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def run_block(name: str, url: str, cwd: Path, timeout: float = 180) -> str:
    """Run a block as a user would — token and URL exported, `bash` reading the block as
    written (its own `set -euo pipefail` makes a failure visible); its standard output."""
    assert not cwd.resolve().is_relative_to(ROOT), "examples must run outside the repository"
    result = subprocess.run(
        ["bash", "-c", block(name)],
        cwd=cwd,
        env={**os.environ, "CONVEYOR_TOKEN": ADMIN_TOKEN, "CONVEYOR_URL": url},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
