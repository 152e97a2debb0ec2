"""The server a command talks to (`--url`/`CONVEYOR_URL`, `--token`/`CONVEYOR_TOKEN`),
and how the client's failures end a command.

Exit codes of the commands that talk to a server: 0 done (a run completed); 1 the server
refused the request, or a run ended in error; 2 bad usage, or the server could not be
reached or refused the token; 3 a run was canceled; 4 waiting for a run timed out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import typer

from conveyor.cli.output import error, fail

if TYPE_CHECKING:  # httpx and the schemas cost `conveyor --version` 300 ms it does not need
    from conveyor.client import Client

EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_CANCELED, EXIT_TIMEOUT = 1, 2, 3, 4

Json = Annotated[bool, typer.Option("--json", help="Print the API's JSON, for scripts.")]
Offset = Annotated[int, typer.Option(help="How many to skip.")]
ByName = Annotated[int, typer.Option(help="How many, by name.")]


@dataclass(frozen=True)
class Target:
    """Where the server is and the token to show it (the root command's options)."""

    url: str | None = None
    token: str | None = None


def target(ctx: typer.Context) -> Target:
    """The root command's `--url` and `--token`."""
    found = ctx.find_root().obj
    return found if isinstance(found, Target) else Target()


@contextlib.contextmanager
def connected(ctx: typer.Context) -> Iterator[Client]:
    """A client of the command's server; a failed request ends the command with a short
    message saying what to do and the exit code above."""
    from conveyor.client import (
        APIError,
        AuthenticationError,
        Client,
        ClientError,
        ConnectionFailed,
        WaitTimeout,
    )

    where = target(ctx)
    client = Client(where.url, where.token)
    try:
        yield client
    except ConnectionFailed as exc:
        raise fail(
            f"cannot reach the server at {client.url} ({exc.__cause__ or exc}); is "
            "`conveyor serve` running there? (set CONVEYOR_URL or --url)",
            EXIT_UNREACHABLE,
        ) from None
    except AuthenticationError as exc:
        hint = "" if where.token else " (set CONVEYOR_TOKEN or --token)"
        raise fail(
            f"{exc.detail or exc.title}{hint}; lost the admin token? "
            "`conveyor admin reset-token` on the server's machine issues a new one",
            EXIT_UNREACHABLE,
        ) from None
    except APIError as exc:
        error(_problem(exc))
        raise typer.Exit(EXIT_REFUSED) from None
    except WaitTimeout as exc:
        raise fail(str(exc), EXIT_TIMEOUT) from None
    except ClientError as exc:
        raise fail(str(exc), EXIT_REFUSED) from None
    finally:
        client.close()


def _problem(exc: object) -> str:
    from conveyor.client import APIError

    assert isinstance(exc, APIError)
    text = exc.detail or exc.title
    bad = [f"{e.get('field') or 'body'}: {e.get('reason')}" for e in exc.errors]
    if bad and exc.detail != "; ".join(bad):
        text += " (" + "; ".join(bad) + ")"
    return f"{text} [{exc.status}]"
