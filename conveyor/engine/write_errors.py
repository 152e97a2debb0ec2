"""A failed write names the user's table, never the run's staging table.

A load writes a staging table first (`_conveyor_stage_<job>_<run>_<table>`) and only then
the target; a destination's own error names the table it was given. What a user reads
about a run says "cannot write public.orders: permission denied for schema public", the
table they asked for, and never a name they did not choose and will not find.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from conveyor.connectors.base import TableRef
from conveyor.errors import ConnectorError, ConveyorError, RunCanceled, RunSuspended

__all__ = ["named_for_user", "renamed", "writing"]


def _names(table: TableRef) -> list[str]:
    """How a message may spell a table: qualified, bare, quoted."""
    qualified = [f'"{table.schema}"."{table.name}"', f"`{table.schema}`.`{table.name}`"]
    bare = [f'"{table.name}"', f"`{table.name}`", str(table), table.name]
    return (qualified if table.schema else []) + bare  # the longest spelling first


def renamed(message: str, target: TableRef, helpers: Sequence[TableRef]) -> str:
    """The message with each of the run's `helpers` (staging tables) called `target`."""
    for helper in helpers:
        for spelled in _names(helper):
            message = message.replace(spelled, str(target))
    return message


def _rewrite(exc: ConveyorError, message: str) -> None:
    exc.message = message
    exc.args = (message,)


@contextlib.contextmanager
def named_for_user(target: TableRef, helpers: Sequence[TableRef]) -> Iterator[None]:
    """Errors raised inside say `target` wherever they named one of the run's `helpers`
    (its staging tables); a driver's own exception becomes a `ConnectorError` that does."""
    try:
        yield
    except (RunCanceled, RunSuspended):
        raise
    except ConveyorError as exc:
        _rewrite(exc, renamed(exc.message, target, helpers))
        raise
    except Exception as exc:
        text = renamed(f"{type(exc).__name__}: {exc}", target, helpers)
        if text == f"{type(exc).__name__}: {exc}":
            raise
        raise ConnectorError(text) from exc


@contextlib.contextmanager
def writing(target: TableRef, helpers: Sequence[TableRef]) -> Iterator[None]:
    """A destination step of loading `target`: its failure reads "cannot write <target>:
    <reason>", with no staging name in the reason (the error's kind is kept)."""
    prefix = f"cannot write {target}: "
    try:
        yield
    except (RunCanceled, RunSuspended):
        raise
    except ConveyorError as exc:
        reason = exc.message
        for named in (*helpers, target):  # "<table>: permission denied" says it twice
            for spelled in _names(named):
                reason = reason.removeprefix(f"{spelled}: ")
        reason = renamed(reason, target, helpers)
        if not reason.startswith(prefix):
            reason = prefix + reason
        _rewrite(exc, reason)
        raise
    except Exception as exc:
        reason = renamed(f"{type(exc).__name__}: {exc}", target, helpers)
        raise ConnectorError(prefix + reason) from exc
