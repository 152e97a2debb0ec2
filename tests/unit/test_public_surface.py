"""What a connector plugin may import is stated once, in each plugin-facing module's `__all__`.

Every name there exists, and every public class or function a module defines is in it:
what is not meant for plugins is named with an underscore, so it stays free to change.
"""

from __future__ import annotations

import importlib
import inspect
from types import ModuleType

import pytest

PLUGIN_FACING = (
    "conveyor.connectors.base",
    "conveyor.connectors.registry",
    "conveyor.errors",
    "conveyor.testing",
)


def defined_here(module: ModuleType) -> set[str]:
    """The public classes and functions the module defines (not those it imports)."""
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(value) or inspect.isfunction(value))
        and value.__module__ == module.__name__
    }


@pytest.fixture(params=PLUGIN_FACING)
def module(request: pytest.FixtureRequest) -> ModuleType:
    return importlib.import_module(request.param)


def test_declares_its_surface(module: ModuleType) -> None:
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list), f"{module.__name__} has no __all__ list"
    assert all(isinstance(name, str) for name in exported)
    assert len(set(exported)) == len(exported), "a name is listed twice"


def test_every_listed_name_exists(module: ModuleType) -> None:
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{module.__name__}.__all__ names what it lacks: {missing}"


def test_every_public_definition_is_listed_or_private(module: ModuleType) -> None:
    unlisted = sorted(defined_here(module) - set(module.__all__))
    assert not unlisted, (
        f"{module.__name__} defines {unlisted}: add them to __all__ if plugins may use"
        " them, else name them with a leading underscore"
    )


def test_star_import_gives_exactly_the_surface(module: ModuleType) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module.__name__} import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(module.__all__)
