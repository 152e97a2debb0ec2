"""Injected crashes, for the tests that prove a killed run converges when re-run.

`CONVEYOR_FAULT=<point>:<marker file>` makes the process kill itself (SIGKILL, as the
OOM killer or `kill -9` would) the first time it reaches `<point>`; the marker file
records that it happened, so the retry runs through. Unset, a point costs one lookup.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

POINTS = ("after_staging", "before_apply", "after_apply", "after_cursor")


def point(name: str) -> None:
    """Die here if a fault is armed for this point and has not fired yet."""
    armed = os.environ.get("CONVEYOR_FAULT")
    if not armed:
        return
    where, _, marker = armed.partition(":")
    if where != name or not marker or Path(marker).exists():
        return
    Path(marker).write_text(name)
    os.kill(os.getpid(), signal.SIGKILL)
