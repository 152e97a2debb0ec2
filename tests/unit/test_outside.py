"""`services.outside`: I/O a write needs first, done between two units, never inside one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.services import outside


class Units:
    """Units of work that record what happened: opened, committed, rolled back."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.open = False

    @contextlib.contextmanager
    def unit(self) -> Iterator[Any]:
        ctx: Any = type("Ctx", (), {})()
        ctx.extra = {}
        self.open = True
        self.events.append("open")
        try:
            yield ctx
        except BaseException:
            self.events.append("rollback")
            raise
        else:
            self.events.append("commit")
        finally:
            self.open = False


def test_the_action_runs_between_two_units_then_the_write_commits() -> None:
    units = Units()

    def act() -> None:
        assert not units.open, "the action ran inside a unit"
        units.events.append("action")

    def body(ctx: Any) -> str:
        outside.require(ctx, "drop slot", act)
        units.events.append("write")
        return "done"

    assert outside.run(units.unit, body) == "done"
    assert units.events == ["open", "rollback", "action", "open", "write", "commit"]


def test_a_failing_action_fails_the_call_and_writes_nothing() -> None:
    units = Units()

    def act() -> None:
        raise RuntimeError("source unreachable")

    def body(ctx: Any) -> None:
        outside.require(ctx, "drop slot", act)
        units.events.append("write")

    with pytest.raises(RuntimeError, match="unreachable"):
        outside.run(units.unit, body)
    assert units.events == ["open", "rollback"]


def test_two_actions_each_run_once() -> None:
    units = Units()
    done: list[str] = []

    def body(ctx: Any) -> int:
        for key in ("a", "b"):
            outside.require(ctx, key, lambda key=key: done.append(key))
        return len(done)

    assert outside.run(units.unit, body) == 2
    assert done == ["a", "b"] and units.events.count("commit") == 1
