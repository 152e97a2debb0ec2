"""CData Sync's paths are case-insensitive; this middleware makes ours so before routing.

`/api.rsc/Jobs('Nightly')/Source/$value`, `/API.RSC/executeJob` and `/api.rsc/jobs`
must reach the same routes, but a key inside `('…')` and an id in a v2 path keep their
case. So only the words of the API's own vocabulary are lowered, segment by segment,
working on the raw (still percent-encoded) path so that an encoded `/` inside a key does
not split it. It also tolerates what CData's documents and clients write:

- a trailing slash (`/api.rsc/jobs/`);
- the v2 document's `PUT /api.rsc/v2/jobs{job_id}` (no slash, braces optional).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/api.rsc"
VOCABULARY = frozenset(
    {
        "api.rsc",
        "v2",
        "$count",
        "$value",
        "$metadata",
        # entity sets
        "jobs",
        "tasks",
        "connections",
        "transformations",
        "users",
        "history",
        "workspaces",
        "requests",
        "certificates",
        # v1 actions
        "executejob",
        "executequery",
        "canceljob",
        "getjobstatus",
        "getjoblog",
        "getlogs",
        "testconnection",
        "getconnectiontables",
        "getconnectiontablecolumns",
        "getaddingtablesforjob",
        "createusers",
        # v2 sub-resources
        "execute",
        "cancel",
        "status",
        "move",
        "last-run",
        "generate-token",
    }
)
_ENTITY_KEY = re.compile(r"^(?P<name>[^()]+)(?P<key>\(.*\))$", re.DOTALL)
_GLUED_JOB_ID = re.compile(r"^jobs\{?(?P<id>[^{}/]+)\}?$", re.IGNORECASE)


def _lower_word(segment: str) -> str:
    """The segment with its vocabulary word lowered; a `(key)` suffix is left as sent."""
    decoded = unquote(segment)
    if (match := _ENTITY_KEY.match(decoded)) is not None:
        name = match.group("name")
        if name.lower() in VOCABULARY and segment[: len(name)].lower() == name.lower():
            return name.lower() + segment[len(name) :]
        return segment
    return decoded.lower() if decoded.lower() in VOCABULARY else segment


def normalize(raw_path: str) -> str:
    """The raw path with CData's case-insensitive words lowered and its quirks smoothed."""
    segments = raw_path.split("/")
    # segments[0] is "" (the path starts with "/"); segments[1] is "api.rsc" in any case.
    rewritten = [segments[0], *(_lower_word(s) for s in segments[1:])]
    if len(rewritten) > 2 and rewritten[-1] == "":
        rewritten.pop()
    if len(rewritten) >= 4 and rewritten[2] == "v2":
        match = _GLUED_JOB_ID.match(unquote(rewritten[3]))
        if match is not None and rewritten[3].lower() != "jobs":
            rewritten[3:4] = ["jobs", match.group("id")]
    return "/".join(rewritten)


class CDataPaths:
    """ASGI middleware: normalize `/api.rsc…` paths (any case) before the router sees them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path[: len(PREFIX)].lower() == PREFIX and (
                len(path) == len(PREFIX) or path[len(PREFIX)] == "/"
            ):
                raw = scope.get("raw_path")
                raw_text = raw.decode("latin-1") if raw else path
                raw_text = raw_text.split("?", 1)[0]
                normalized = normalize(raw_text)
                scope = {
                    **scope,
                    "path": unquote(normalized),
                    "raw_path": normalized.encode("latin-1"),
                }
        await self.app(scope, receive, send)
