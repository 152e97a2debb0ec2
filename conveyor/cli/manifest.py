"""`conveyor apply -f conveyor.yaml` and `conveyor export`: a workspace as a file to review.

conveyor apply -f conveyor.yaml --dry-run    # the plan: + create, ~ update, - delete
conveyor apply -f conveyor.yaml --prune      # and delete what the file does not name
conveyor export > conveyor.yaml              # the workspace, secrets as ${…}
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from conveyor.cli.output import console, fail, print_json
from conveyor.cli.remote import Json, connected

FileOption = Annotated[
    Path,
    typer.Option("--file", "-f", metavar="FILE", help="The conveyor.yaml ('-' reads stdin)."),
]


def apply(
    ctx: typer.Context,
    file: FileOption = Path("conveyor.yaml"),
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; change nothing.")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete what the workspace has and the file lacks.")
    ] = False,
    json: Json = False,
) -> None:
    """Make the server's workspace hold the file's connections, jobs and transformations.

    Matched by name; what the file does not name is left alone unless --prune. Secrets
    are written as ${ENV_VAR} and read from the environment.
    """
    from conveyor.manifest import ManifestError, apply, load, plan, read_state

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    except OSError as exc:
        raise fail(f"{file}: {exc.strerror}") from None
    try:
        manifest = load(text, str(file))
    except ManifestError as exc:
        raise fail(exc.message) from None
    with connected(ctx) as client:
        state = read_state(client, manifest.workspace)
        changes = plan(manifest, state, prune=prune)
        if json:
            print_json([{**vars(c), "fields": list(c.fields)} for c in changes])
        elif not changes:
            console.print("no changes: the workspace matches the file")
        for change in changes:
            if not json:
                console.print(change.line(), highlight=False, markup=False)
        if dry_run or not changes:
            return
        apply(client, manifest, state, changes)
    if not json:
        console.print(f"applied {len(changes)} change(s)")


def export(
    ctx: typer.Context,
    workspace: Annotated[str, typer.Option(metavar="ID", help="The workspace.")] = "default",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write here, not stdout.")
    ] = None,
) -> None:
    """Write a workspace as a conveyor.yaml that `conveyor apply` makes again."""
    from conveyor.manifest import export as export_text
    from conveyor.manifest import read_state

    with connected(ctx) as client:
        text = export_text(read_state(client, workspace))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
