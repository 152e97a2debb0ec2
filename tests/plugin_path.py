"""The test-only connectors (`memory://`), installed as a plugin for the tests' processes.

`memory://` (`conveyor.testing.SPEC`) is not built into Conveyor. The distribution
metadata in tests/plugins declares it in the `conveyor.connectors` entry point group;
`install` puts that folder on this process's path and on PYTHONPATH, so every process
the tests start (servers, their run processes, `conveyor run`) finds it the way it finds
any third-party connector. `production_env` is an environment without it: a process
started with it is what a production install runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

TEST_PLUGINS = Path(__file__).parent / "plugins"


def _paths(value: str | None) -> list[str]:
    return [p for p in (value or "").split(os.pathsep) if p]


def install() -> None:
    """Make this process and the processes it starts from now on know `memory://`."""
    if str(TEST_PLUGINS) not in sys.path:
        sys.path.append(str(TEST_PLUGINS))
    paths = _paths(os.environ.get("PYTHONPATH"))
    if str(TEST_PLUGINS) not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([*paths, str(TEST_PLUGINS)])


def production_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's) without the test-only connectors on PYTHONPATH."""
    found = dict(os.environ if env is None else env)
    kept = [p for p in _paths(found.get("PYTHONPATH")) if p != str(TEST_PLUGINS)]
    if kept:
        found["PYTHONPATH"] = os.pathsep.join(kept)
    else:
        found.pop("PYTHONPATH", None)
    return found
