"""The package ships what production runs: no test-only connector, no fault switch."""

from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import conveyor
from conveyor.errors import InvalidInput
from tests.plugin_path import production_env

PACKAGE = Path(conveyor.__file__).parent


def test_no_fault_switch_in_the_package() -> None:
    assert importlib.util.find_spec("conveyor.engine.faults") is None
    mentions = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "CONVEYOR_FAULT" in path.read_text()
    ]
    assert mentions == []


def test_memory_is_not_a_builtin_scheme() -> None:
    from conveyor.connectors.registry import BUILTIN

    assert all("memory" not in spec.schemes for spec in BUILTIN)


def test_a_production_process_does_not_know_memory_urls() -> None:
    script = (
        "from conveyor.connectors import registry\n"
        "from conveyor.errors import InvalidInput\n"
        "assert 'memory' not in {s.name for s in registry.specs()}\n"
        "try:\n"
        "    registry.resolve('memory://vault')\n"
        "except InvalidInput as exc:\n"
        "    print(exc.field, exc)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", script],
        env=production_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert answer.startswith("url unknown connection scheme 'memory'"), answer


def test_register_adds_a_connector_to_this_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from conveyor.connectors import registry
    from conveyor.testing import SPEC

    renamed = dataclasses.replace(SPEC, name="scratch", schemes=("scratch",))
    monkeypatch.setattr(registry, "_REGISTERED", [])
    registry._all_specs.cache_clear()
    try:
        with pytest.raises(InvalidInput, match="unknown connection scheme 'scratch'"):
            registry.resolve("scratch://x")
        registry.register(renamed)
        assert registry.resolve("scratch://x") is renamed
        registry.register(renamed)  # once is enough
        assert [s.name for s in registry.specs()].count("scratch") == 1
    finally:
        monkeypatch.undo()
        registry._all_specs.cache_clear()
