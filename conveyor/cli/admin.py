"""`conveyor admin`: what is done on the server's machine, with its data directory.

These commands open the store the server uses (`CONVEYOR_DATA_DIR`, or
`CONVEYOR_DATABASE_URL`) instead of talking to the API: they work when no token does.
"""

from __future__ import annotations

from typing import Annotated

import typer

from conveyor.cli.output import console, fail, print_json
from conveyor.cli.remote import Json
from conveyor.cli.server import load_settings
from conveyor.errors import ConveyorError

app = typer.Typer(help="Administer the server from its machine (needs the data directory).")


@app.command("reset-token")
def reset_token(
    user: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="The admin to issue it for (default: the first)."),
    ] = None,
    revoke_others: Annotated[
        bool,
        typer.Option("--revoke-others", help="Revoke the admin's earlier tokens too."),
    ] = False,
    json: Json = False,
) -> None:
    """Issue a new admin token, when the one shown at the first start is lost.

    Run it where the server's data directory is (CONVEYOR_DATA_DIR, default ./.conveyor)
    or with its CONVEYOR_DATABASE_URL; the server may keep running.
    """
    from conveyor.runtime import Runtime
    from conveyor.services.admin_access import reset_admin_token
    from conveyor.store import migrate

    settings = load_settings()
    if settings.database_url is None and not (settings.data_dir / "conveyor.db").exists():
        raise fail(
            f"no store in {settings.data_dir.resolve()}: set CONVEYOR_DATA_DIR to the "
            "server's data directory (or CONVEYOR_DATABASE_URL to its store)"
        )
    runtime = Runtime.create(settings)
    try:
        if not migrate.is_current(runtime.engine):
            raise fail("the store's schema is not current: run `conveyor migrate` first")
        with runtime.unit() as ctx:
            reset = reset_admin_token(ctx, user, revoke_others=revoke_others)
    except ConveyorError as exc:
        raise fail(exc.message) from None
    finally:
        runtime.close()
    if json:
        print_json(
            {
                "user_id": reset.user_id,
                "user_name": reset.user_name,
                **reset.created.model_dump(mode="json"),
                "reactivated": reset.reactivated,
                "revoked": reset.revoked,
            }
        )
        return
    if reset.reactivated:
        console.print(f"{reset.user_name} was inactive: made active again")
    if reset.revoked:
        console.print(f"revoked {reset.revoked} earlier token(s) of {reset.user_name}")
    console.print(
        f"[bold]New token for {reset.user_name}[/bold] (shown once, keep it): "
        f"[green]{reset.created.token}[/green]\n  export CONVEYOR_TOKEN={reset.created.token}"
    )
