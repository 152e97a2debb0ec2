"""Installing the package as `make` does (`pip install -e .`) prints no warning of ours:
no setuptools deprecation or build-backend notice caused by pyproject.toml."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
NOISE = ("BuildBackendWarning", "SetuptoolsDeprecationWarning", "DeprecationWarning", "!!")


def test_an_editable_install_prints_no_setuptools_warning(tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    # As the Makefile does: a current pip shows what the build backend warns about.
    upgraded = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if upgraded.returncode != 0:
        unavailable("a package index", RuntimeError(upgraded.stderr[-500:]))
    # --no-deps: the dependencies are not what is checked; building the package is.
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 and "setuptools" in output and "No matching distribution" in output:
        unavailable("a package index with setuptools", RuntimeError(output[-500:]))
    assert result.returncode == 0, output
    noise = [line for line in output.splitlines() if any(n in line for n in NOISE)]
    assert not noise, output
    imported = subprocess.run(
        [str(python), "-c", "import conveyor; print(conveyor.__file__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(imported.stdout.strip()) == ROOT / "conveyor" / "__init__.py"
