"""Help texts that read as prose: no `<bool>`, `<str>` or `<list[str]>` placeholders.

Typer labels every parameter with its Python type in angle brackets. A flag takes no
value, so it gets no label; a value gets its metavar when the command names one (`URL`,
`ID`), else click's plain words (`TEXT`, `INTEGER`); a choice lists its values.

Typer has no setting for this, so `install` replaces the two methods that word it; the
CLI's help tests (`tests/e2e/test_cli_server.py`) notice if an upgrade renames them.
"""

from __future__ import annotations

import datetime as dt
import enum
from pathlib import Path
from typing import Any, get_args, get_origin

import click
from typer import core

WORDS: dict[Any, str] = {
    str: "TEXT",
    int: "INTEGER",
    float: "NUMBER",
    Path: "PATH",
    dt.datetime: "DATETIME",
}


def _word(annotation: Any) -> str | None:
    if get_origin(annotation) is list:
        (annotation,) = get_args(annotation)
    if annotation is bool:
        return None
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "|".join(str(member.value) for member in annotation)
    return WORDS.get(annotation, "VALUE")


def _display_type(self: Any, ctx: click.Context) -> str | None:
    if getattr(self, "is_flag", False):
        return None
    return _word(self.type_descriptor.annotation)


def _usage_name(self: Any) -> str:
    name = self.display_name_raw if self.metavar is not None else self.name.upper()
    return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")


def install() -> None:
    """Label parameters in every command's help as described above, and name arguments
    in the usage line as click does (`JOB`, `[JOB]`), not in braces."""
    core._TyperParameter.display_type = _display_type  # type: ignore[method-assign,assignment]
    core.TyperArgument._usage_display_name = _usage_name  # type: ignore[method-assign]
