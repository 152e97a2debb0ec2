"""The facades translate only (DESIGN.md §2, §6), checked on the source:

- `conveyor.compat` is one package (or module) per surface, each mounted by the
  package's `install`;
- no module of `conveyor.compat` reads store rows (imports `conveyor.store`), defines a
  request dependency of its own — the only dependencies a facade declares read the
  request's body, as its protocol spells it; signing in and the unit of work come from
  `conveyor.api.deps` — or installs an exception handler: those live once, in
  `conveyor.api` (`deps`, `problems`), and a facade plugs in its error *shape* only;
- `conveyor.api` reaches `conveyor.compat` in one registration module, through the
  package's `install`, and `compat` uses only a small stable part of `api`, which never
  leads back to `compat`: there is no import loop between the two, type-only imports and
  imports inside functions included.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from conveyor import compat
from conveyor.api import problems

PACKAGE = Path(__file__).resolve().parents[2] / "conveyor"
COMPAT = PACKAGE / "compat"
API = PACKAGE / "api"
REGISTRATION = {"conveyor.api.app"}
"""The modules of `api` that may import `compat`: the app factory, which calls install."""
STABLE_API = {
    "conveyor.api.deps",
    "conveyor.api.problems",
    "conveyor.api.downloads",
    "conveyor.api.json_depth",
}
"""The part of `api` a facade may import: request dependencies, the error handler it
plugs its shape into, download answers, the JSON depth scan."""
SIGN_IN_OR_SESSION = {"authenticated", "authenticate", "unit_of_work", "Session"}
DEPENDENCY_TYPES = {"Context", "Principal", "Runtime", "Session"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(root: Path) -> dict[str, Path]:
    return {module_name(path): path for path in sorted(root.rglob("*.py"))}


KNOWN = modules(PACKAGE)


def imports(path: Path) -> Iterator[tuple[str, str]]:
    """(module imported, name imported or "") for every import in a file — at the top, under
    `TYPE_CHECKING`, or inside a function; `from pkg import mod` names the module `pkg.mod`."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield (submodule, "") if submodule in KNOWN else (base, alias.name)


def graph(names: set[str]) -> dict[str, set[str]]:
    """The import edges between the named modules."""
    return {
        name: {target for target, _ in imports(KNOWN[name]) if target in names}
        for name in sorted(names)
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module, or with an edge to itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in edges[node]:
                found.append(sorted(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


COMPAT_MODULES = modules(COMPAT)


@pytest.mark.parametrize("name", sorted(COMPAT_MODULES))
def test_a_facade_reads_service_results_not_store_rows(name: str) -> None:
    found = [target for target, _ in imports(COMPAT_MODULES[name])]
    assert not [t for t in found if t == "conveyor.store" or t.startswith("conveyor.store.")]


def test_compat_is_one_home_per_surface() -> None:
    top_level = {name.split(".")[2] for name in COMPAT_MODULES if name != "conveyor.compat"}
    assert top_level == {surface.__name__.split(".")[2] for surface in compat.SURFACES}


@pytest.mark.parametrize("name", sorted(COMPAT_MODULES))
def test_a_facade_imports_no_sign_in_or_session(name: str) -> None:
    offenders = [
        f"imports {imported or target}"
        for target, imported in imports(COMPAT_MODULES[name])
        if imported in SIGN_IN_OR_SESSION or target in ("conveyor.services.auth", "sqlalchemy.orm")
    ]
    assert not offenders, offenders


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """The routes of an app, those of the routers it includes too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)  # an included router, wrapped
        if included is not None:
            yield from api_routes(included.routes)


def dependencies(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    """Every callable a route depends on, sub-dependencies included."""
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from dependencies(sub)


def test_a_facade_declares_only_body_readers_as_dependencies() -> None:
    """A dependency from `compat` takes the request alone and provides no caller, session
    or runtime; every other one a facade's route uses is `conveyor.api.deps`'."""
    app = FastAPI()
    problems.install(app)
    compat.install(app)
    offenders = set()
    routes = list(api_routes(app.routes))
    assert routes, "no facade route mounted"
    for route in routes:
        for call in dependencies(route.dependant):
            module = getattr(call, "__module__", "")
            if module.startswith("conveyor.compat"):
                signature = inspect.signature(call, eval_str=True)
                takes = [p.annotation for p in signature.parameters.values()]
                returned = str(signature.return_annotation)
                if any(kind is not Request for kind in takes) or any(
                    kind in returned for kind in DEPENDENCY_TYPES
                ):
                    offenders.add(f"{module}.{call.__qualname__}{signature}")
            elif not module.startswith(("conveyor.api.deps", "fastapi.")):
                offenders.add(f"{route.path} depends on {module}.{call.__qualname__}")
    assert not offenders, sorted(offenders)


@pytest.mark.parametrize("name", sorted(COMPAT_MODULES))
def test_a_facade_installs_no_exception_handler(name: str) -> None:
    tree = ast.parse(COMPAT_MODULES[name].read_text())
    offenders = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in ("add_exception_handler", "exception_handler", "exception_handlers")
    ]
    assert not offenders, offenders


def test_api_reaches_compat_through_one_registration_module() -> None:
    reaching = {
        name: sorted(
            {target for target, _ in imports(path) if target.startswith("conveyor.compat")}
        )
        for name, path in modules(API).items()
    }
    reaching = {name: targets for name, targets in reaching.items() if targets}
    assert reaching == {name: ["conveyor.compat"] for name in REGISTRATION}
    for name in REGISTRATION:
        used = {
            ast.unparse(node)
            for node in ast.walk(ast.parse(KNOWN[name].read_text()))
            if isinstance(node, ast.Attribute) and ast.unparse(node.value) == "compat"
        }
        assert used == {"compat.install"}, f"{name} uses {used}"


def test_compat_uses_only_the_stable_part_of_api() -> None:
    used = {
        target
        for path in COMPAT_MODULES.values()
        for target, _ in imports(path)
        if target == "conveyor.api" or target.startswith("conveyor.api.")
    }
    assert used <= STABLE_API, used - STABLE_API
    for name in STABLE_API:
        leads_to = {
            t for t, _ in imports(KNOWN[name]) if t.startswith(("conveyor.api", "conveyor.compat"))
        }
        assert leads_to <= STABLE_API, f"{name} imports {leads_to - STABLE_API}"


def test_no_import_loop_between_api_and_compat() -> None:
    names = {name for name in KNOWN if name.startswith(("conveyor.api", "conveyor.compat"))}
    assert cycles(graph(names)) == []


def test_the_loop_check_sees_loops() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
