"""The dependency direction of DESIGN.md §2: engine and connectors never import the upper layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "conveyor"
FORBIDDEN = {
    "engine": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.store",
        "conveyor.services",
        "conveyor.queue",
        "conveyor.cli",
    ),
    "connectors": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.store",
        "conveyor.services",
        "conveyor.queue",
        "conveyor.engine",
        "conveyor.cli",
    ),
    "services": ("conveyor.api", "conveyor.compat", "conveyor.cli", "conveyor.console"),
    # The web console is a surface like the API: it calls services, never the store,
    # the queue or the engine behind them.
    "console": (
        "conveyor.compat",
        "conveyor.cli",
        "conveyor.store",
        "conveyor.queue",
        "conveyor.engine",
    ),
    "store": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.services",
        "conveyor.engine",
        "conveyor.queue",
    ),
    "queue": ("conveyor.api", "conveyor.compat", "conveyor.services", "conveyor.cli"),
    "files": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.services",
        "conveyor.cli",
        "conveyor.queue",
        "conveyor.engine",
    ),
    "scheduler": ("conveyor.api", "conveyor.compat", "conveyor.services", "conveyor.cli"),
    "client": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.services",
        "conveyor.store",
        "conveyor.queue",
        "conveyor.engine",
        "conveyor.connectors",
        "conveyor.cli",
    ),
    "manifest": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.services",
        "conveyor.store",
        "conveyor.queue",
        "conveyor.engine",
        "conveyor.connectors",
        "conveyor.cli",
    ),
    "policy": (
        "conveyor.api",
        "conveyor.compat",
        "conveyor.services",
        "conveyor.store",
        "conveyor.queue",
        "conveyor.engine",
        "conveyor.connectors",
        "conveyor.cli",
    ),
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    offenders = []
    root = PACKAGE / layer
    for path in [root] if root.is_file() else root.rglob("*.py"):
        for name in imports_of(path):
            # a whole module name: `conveyor.cli` is not `conveyor.client`
            if any(name == f or name.startswith(f + ".") for f in FORBIDDEN[layer]):
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, "\n".join(offenders)
