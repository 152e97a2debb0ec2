"""How the CLI writes: results to stdout (Rich tables, or JSON for scripts), errors to stderr.

A table shows what a person scans for — names, statuses, counts, times relative to
now — and leaves the rest to `show` and `--json`; the JSON is the API's own objects, so
a script reads the same fields as it would over HTTP.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # the schemas cost `conveyor --version` time it does not need
    from conveyor.schemas.common import Page

Item = TypeVar("Item")

console = Console()
errors = Console(stderr=True)

STYLE_OF = {
    "completed": "green",
    "error": "red",
    "canceled": "yellow",
    "canceling": "yellow",
    "in_progress": "cyan",
    "pending": "blue",
    "suspended": "magenta",
    "idle": "dim",
    "waiting": "dim",
    "skipped": "dim",
    "completed_with_errors": "yellow",
}


def error(message: str) -> None:
    """Print one error line to stderr: its text verbatim (brackets are not Rich markup)
    and not wrapped at the terminal's width."""
    errors.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error and return the exit that ends the command with `code`."""
    error(message)
    return typer.Exit(code)


def plain(value: Any) -> Any:
    """A result as JSON-ready data (schema models dumped as the API sends them)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def print_json(value: Any) -> None:
    """Write a result to stdout as indented JSON (one document)."""
    sys.stdout.write(json.dumps(plain(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    """Write a result as one line of JSON (for streams such as followed logs)."""
    sys.stdout.write(json.dumps(plain(value), ensure_ascii=False) + "\n")
    sys.stdout.flush()


def status(value: Any) -> Text:
    """A status, coloured by what it means."""
    text = str(getattr(value, "value", value))
    return Text(text, style=STYLE_OF.get(text, ""))


def ago(moment: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """A time relative to now: `12 s ago`, `5 min ago`, `3 h ago`, else the date."""
    if moment is None:
        return "—"
    now = now or dt.datetime.now(dt.UTC)
    seconds = (now - moment).total_seconds()
    if seconds < 0:
        return moment.astimezone().strftime("%Y-%m-%d %H:%M")
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.0f} h ago"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def duration(start: dt.datetime | None, end: dt.datetime | None) -> str:
    """How long something took (or has taken so far)."""
    if start is None:
        return "—"
    seconds = ((end or dt.datetime.now(dt.UTC)) - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def table(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str | None = None
) -> None:
    """Print rows under headers; numbers right-aligned, nothing cut that can wrap."""
    shown = Table(*columns, caption=caption, header_style="bold", show_edge=False)
    for row in rows:
        shown.add_row(*(_cell(value) for value in row))
    console.print(shown)


def _cell(value: Any) -> Text | str:
    if isinstance(value, Text):
        return value
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))  # a statement's [brackets] are text, not markup


def fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """Print one object as aligned `name  value` lines."""
    shown = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    shown.add_column(style="bold")
    shown.add_column()
    for name, value in pairs:
        shown.add_row(name, _cell(value))
    console.print(shown)


def print_page(
    page: Page[Item],
    as_json: bool,
    columns: Sequence[str],
    row: Callable[[Item], Sequence[Any]],
) -> None:
    """A list command's result: the page's JSON, or a table of its items with where
    the page sits in the whole list (`41–60 of 312`)."""
    if as_json:
        print_json(page)
        return
    table(
        columns,
        (row(item) for item in page.items),
        page_caption(len(page.items), page.total, page.offset),
    )


def page_caption(shown: int, total: int, offset: int) -> str | None:
    """`41–60 of 312` when the page is not the whole list."""
    if shown == total and offset == 0:
        return None
    return f"{offset + 1}–{offset + shown} of {total:,}" if shown else f"none of {total:,}"
