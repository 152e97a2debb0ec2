"""The `conveyor` command.

On the server's machine: `serve`, `worker`, `migrate`, `admin reset-token`, and one-off
`run`s without a server. Against a running server (`CONVEYOR_URL`, `CONVEYOR_TOKEN`,
or `--url` and `--token`): `connections`, `jobs` and `runs`, through `conveyor.client`,
and `apply` and `export` of a `conveyor.yaml` (`conveyor.manifest`).
Each group is a module of this package; this one puts them together.
"""

from __future__ import annotations

from typing import Annotated

from conveyor import __version__, collector

with collector.paused():  # what these imports make lives until exit: nothing to collect
    import typer

    from conveyor.cli import (
        admin,
        connections,
        helptext,
        jobs,
        manifest,
        oneoff,
        pipelines,
        runs,
        server,
    )
    from conveyor.cli.remote import Target

__all__ = ["app"]

helptext.install()

app = typer.Typer(help="Conveyor: a self-hosted data synchronization server.", no_args_is_help=True)


def _version(shown: bool) -> None:
    if shown:
        typer.echo(f"conveyor {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    url: Annotated[
        str | None,
        typer.Option(
            envvar="CONVEYOR_URL",
            show_envvar=True,
            metavar="URL",
            help="The server the connections, jobs and runs commands talk to "
            "(default http://127.0.0.1:8077).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="CONVEYOR_TOKEN",
            show_envvar=True,
            metavar="TOKEN",
            help="The API token those commands send.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Conveyor: a self-hosted data synchronization server."""
    ctx.obj = Target(url, token)


app.command()(server.serve)
app.command()(server.worker)
app.command()(server.migrate)
app.command()(oneoff.run)
app.command()(manifest.apply)
app.command()(manifest.export)
app.add_typer(connections.app, name="connections")
app.add_typer(jobs.app, name="jobs")
app.add_typer(runs.app, name="runs")
app.add_typer(pipelines.app, name="pipelines")
app.add_typer(admin.app, name="admin")
