"""No import loops among the modules of `engine/` and `connectors/`, type-only ones included;
and no connector family reaching into another's modules.

The graph counts every import a module makes — at the top, inside a function, under
`if TYPE_CHECKING:` — because a loop that only type checkers follow still ties two
modules together: neither can be understood, moved or split without the other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = tuple(
    sorted(
        f"conveyor.{path.name}"
        for path in (ROOT / "conveyor").iterdir()
        if (path / "__init__.py").exists()
    )
)
"""Each package of `conveyor`: a loop is reported under the packages of its members."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in (ROOT / "conveyor").rglob("*.py")}


def imported(name: str, path: Path) -> set[str]:
    """The modules of `MODULES` that a module imports, anywhere in it."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:  # `from package import module` imports the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Each strongly connected group of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                yield from visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                yield sorted(group)

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


def test_the_graph_sees_every_kind_of_import() -> None:
    assert (
        "conveyor.connectors.postgres.relay" in GRAPH["conveyor.connectors.postgres.connector"]
    )  # in a method
    assert (
        "conveyor.connectors.postgres.session" in GRAPH["conveyor.connectors.postgres.load"]
    )  # TYPE_CHECKING
    assert (
        "conveyor.engine.sql.merge" in GRAPH["conveyor.engine.apply"]
    )  # from package import module
    assert list(cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == [["a", "b", "c"]]


def test_the_graph_walks_the_subpackages() -> None:
    for family in FAMILIES:
        assert f"conveyor.connectors.{family}.connector" in MODULES, family
    assert "conveyor.engine.sql.merge" in MODULES
    assert {"conveyor.api", "conveyor.compat", "conveyor.services", "conveyor.store"} <= set(
        PACKAGES
    )
    assert "conveyor.config" in MODULES


def in_package(module: str, package: str) -> bool:
    """Whether `module` is in `package`; `conveyor` itself holds the top-level modules."""
    if package == "conveyor":
        return module.count(".") == 1
    return module == package or module.startswith(f"{package}.")


@pytest.mark.parametrize("package", (*PACKAGES, "conveyor"))
def test_no_import_loops(package: str) -> None:
    found = [group for group in cycles(GRAPH) if any(in_package(m, package) for m in group)]
    described = [
        " ↔ ".join(group)
        + "\n"
        + "\n".join(f"  {m} → {sorted(GRAPH[m] & set(group))}" for m in group)
        for group in found
    ]
    assert not found, "\n".join(described)


FAMILIES = ("duckdb", "files", "mysql", "postgres", "sqlite")
"""Subpackages of `connectors/` holding one connector each; the modules beside them
(`base`, `registry`, `sql`, `arrow_types`, `server`, `duckdb_access`, …) are shared."""


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["conveyor", "connectors"] else None


@pytest.mark.parametrize("family", FAMILIES)
def test_a_family_imports_only_itself_and_shared_modules(family: str) -> None:
    """What two families both need lives in a shared module, never in one of them."""
    reached = {
        (module, other)
        for module in GRAPH
        if family_of(module) == family
        for other in GRAPH[module]
        if family_of(other) not in (None, family)
    }
    assert not reached, sorted(reached)


def test_shared_modules_import_no_family_but_the_registry_its_options() -> None:
    """Shared modules stay below the families; the registry reads only their options."""
    reached = {
        (module, other)
        for module in GRAPH
        if module.startswith("conveyor.connectors.") and family_of(module) is None
        for other in GRAPH[module]
        if family_of(other) is not None
        and not (module == "conveyor.connectors.registry" and other.endswith(".options"))
    }
    assert not reached, sorted(reached)
