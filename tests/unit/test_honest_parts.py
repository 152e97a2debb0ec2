"""The package ships what production runs: no test-only connector, no fault switch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import conveyor

PACKAGE = Path(conveyor.__file__).parent


def test_no_fault_switch_in_the_package() -> None:
    assert importlib.util.find_spec("conveyor.engine.faults") is None
    mentions = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "CONVEYOR_FAULT" in path.read_text()
    ]
    assert mentions == []
