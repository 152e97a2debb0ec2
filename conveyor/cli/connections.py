"""`conveyor connections`: list, show, create, test and delete a server's connections.

conveyor connections create shop sqlite:///shop.db
conveyor connections test shop            # exit 1 when it cannot be reached
"""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli import output
from conveyor.cli.output import ago, console, fields, print_json
from conveyor.cli.remote import EXIT_REFUSED, ByName, Json, Offset, connected

app = typer.Typer(
    help="Connections on the server: list, show, create, test, delete.", no_args_is_help=True
)

ConnectionKey = Annotated[
    str, typer.Argument(metavar="CONNECTION", help="The connection's id or name.")
]


@app.command("list")
def list_connections(
    ctx: typer.Context,
    limit: ByName = 50,
    offset: Offset = 0,
    json: Json = False,
) -> None:
    """The connections, by name (passwords shown as ***)."""
    with connected(ctx) as client:
        page = client.connections.list(limit=limit, offset=offset, sort="name")
    output.print_page(
        page,
        json,
        ("NAME", "SCHEME", "URL", "LAST TEST", "ID"),
        lambda c: (
            c.name,
            c.scheme,
            c.url,
            None
            if c.last_test_ok is None
            else f"{'ok' if c.last_test_ok else 'failed'}, {ago(c.last_tested_at)}",
            c.id,
        ),
    )


@app.command()
def show(ctx: typer.Context, connection: ConnectionKey, json: Json = False) -> None:
    """A connection: its URL (masked), options and what it can do."""
    with connected(ctx) as client:
        found = client.connections.find(connection)
    if json:
        print_json(found)
        return
    fields(
        (
            ("name", found.name),
            ("id", found.id),
            ("url", found.url),
            ("options", ", ".join(f"{k}={v}" for k, v in found.options.items()) or None),
            ("capabilities", ", ".join(found.capabilities)),
            ("workspace", found.workspace_id),
            ("last test", ago(found.last_tested_at) if found.last_tested_at else None),
            ("last error", found.last_test_error),
        )
    )


@app.command()
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The connection's name.")],
    url: Annotated[str, typer.Argument(help="e.g. sqlite:///shop.db, postgresql://u:p@host/db")],
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", "-o", metavar="KEY=VALUE", help="A connector option (repeatable)."
        ),
    ] = None,
    workspace: Annotated[str | None, typer.Option(metavar="ID", help="Its workspace.")] = None,
    json: Json = False,
) -> None:
    """Create a connection (a password in the URL is stored encrypted)."""
    options: dict[str, str] = {}
    for pair in option or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise output.fail(f"--option {pair!r}: expected KEY=VALUE")
        options[key] = value
    with connected(ctx) as client:
        made = client.connections.create(
            name=name,
            url=url,
            options=options,
            **({"workspace_id": workspace} if workspace else {}),
        )
    if json:
        print_json(made)
        return
    console.print(
        f"created connection [bold]{made.name}[/bold] ({made.id}): {made.url}", highlight=False
    )


@app.command()
def test(ctx: typer.Context, connection: ConnectionKey, json: Json = False) -> None:
    """Reach a connection and say whether runs could read and write it (exit 1 if not reached)."""
    with connected(ctx) as client:
        found = client.connections.find(connection)
        result = client.connections.test(found.id)
    if json:
        print_json(result)
    else:
        fields(
            (
                ("reached", result.ok if result.ok else f"no: {result.error}"),
                ("can read", result.can_read if result.can_read else f"no: {result.read_error}"),
                (
                    "can write",
                    result.can_write if result.can_write else f"no: {result.write_error}",
                ),
                *(
                    ()
                    if result.can_capture_changes is None
                    else (
                        (
                            "change data capture",
                            True if result.can_capture_changes else f"no: {result.cdc_error}",
                        ),
                    )
                ),
                ("took", f"{result.duration_ms:,.0f} ms"),
            )
        )
    if not result.ok:
        raise typer.Exit(EXIT_REFUSED)


@app.command()
def delete(ctx: typer.Context, connection: ConnectionKey) -> None:
    """Delete a connection (refused while a job uses it)."""
    with connected(ctx) as client:
        found = client.connections.find(connection)
        client.connections.delete(found.id)
    console.print(f"deleted connection {found.name} ({found.id})")
