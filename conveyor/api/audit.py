"""The audit recorder: an ASGI middleware that writes one entry per state-changing request.

It sees every surface's requests after routing — the route template, the caller the
auth dependencies left on `request.state` (`principal`, and `sign_in_failure` when a
sign-in was refused), the target the services noted (`services.audit.note`) — and the
status of the answer. What it records:

- every POST, PUT, PATCH and DELETE that reached a route, whatever its status, except
  the POSTs that only read (CData's `getJobStatus`, `getJobLog`, … in `ACTIONS`);
- every GET that changes state: a route listed in `ACTIONS` (SCAPI's datafeed starts a
  job) or one during which a service noted a change;
- every failed sign-in — a 401 or 429 of the auth path — as `signin.failed`, with the
  user name Basic credentials tried; reads without any credentials are not sign-ins.

Unknown paths (404 before any route) and wrong methods (405) change nothing and are not
recorded. The entry is written when the answer starts (or the app raised: then as a 500),
in its own transaction on a worker thread, so the event loop never waits on the store. A
store that refuses the entry is logged, not turned into a failure of a request whose work
is already committed.

This middleware must be the innermost one (installed first): the CData path middleware
hands the router a copy of the scope, and only a middleware inside it sees the route.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import re
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.asgi import HttpMiddleware
from conveyor.domain import utcnow
from conveyor.services import audit
from conveyor.services.audit import Entry, Note

log = logging.getLogger(__name__)

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SIGN_IN_FAILED = "signin.failed"
SURFACES = (
    ("/api/v1", "native", "/api/v1"),
    ("/api.rsc/v2", "cdata_v2", "/api.rsc/v2"),
    ("/api.rsc", "cdata_v1", "/api.rsc"),
    ("/admin/app/scapi", "scapi", "/admin/app/scapi"),
    ("/_connector", "elastic", ""),  # `_connector` is Elastic's resource name: kept
    ("/sync", "jsonapi", "/sync"),
)
"""(path prefix, surface, the part of the prefix that is not a resource name)."""
RESOURCES = frozenset(
    {
        *("workspaces", "connections", "jobs", "tasks", "runs", "transformations", "users"),
        *("tokens", "files", "connectors", "sync_jobs", "exports", "requests", "history"),
        *("pipelines", "pipeline_runs"),
    }
)
PLURAL = {"connector": "connectors", "sync_job": "sync_jobs"}
ON_COLLECTION = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
ON_ITEM = {"POST": "update", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
ACTIONS: dict[tuple[str, str], str | None] = {
    # CData v1 actions, in Conveyor's words; those that only read (None) are not recorded.
    ("POST", "/api.rsc/executejob"): "jobs.execute",
    ("POST", "/api.rsc/executequery"): "jobs.execute",
    ("POST", "/api.rsc/canceljob"): "jobs.cancel",
    ("POST", "/api.rsc/testconnection"): "connections.test",
    ("POST", "/api.rsc/createusers"): "users.create",
    ("POST", "/api.rsc/getjobstatus"): None,
    ("POST", "/api.rsc/getjoblog"): None,
    ("POST", "/api.rsc/getlogs"): None,
    ("POST", "/api.rsc/getconnectiontables"): None,
    ("POST", "/api.rsc/getconnectiontablecolumns"): None,
    ("POST", "/api.rsc/getaddingtablesforjob"): None,
    ("POST", "/api.rsc/v2/users/generate-token"): "tokens.create",
    # Starting a job's run, whatever the surface calls it.
    ("POST", "/admin/app/scapi/jobs/{job_id}/start"): "jobs.execute",
    ("GET", "/admin/app/scapi/datafeed/synchron/{external_key}/"): "jobs.execute",
    ("GET", "/admin/app/scapi/datafeed/synchron/{external_key}"): "jobs.execute",
    ("POST", "/sync/exports/export"): "jobs.execute",
    ("POST", "/api/v1/pipelines/{pipeline_id}/runs"): "pipelines.run",
    # JSON:API's jobs are Conveyor's runs; Elastic's keyless PUT creates a connector.
    ("DELETE", "/sync/jobs/{job_id}"): "runs.delete",
    ("POST", "/sync/jobs/{job_id}/signal"): "runs.signal",
    ("PUT", "/_connector"): "connectors.create",
    ("PUT", "/_connector/{connector_id}"): "connectors.put",  # Elastic's create-or-replace
}
"""Routes whose action is not what `derived_action` reads from the template."""
_KEYED = re.compile(r"^(?P<name>[^{(]+)\((?P<key>\{[^}]+\})\)$")
IGNORED_PARAMS = frozenset({"prop", "rest"})


def surface_of(path: str) -> tuple[str, str]:
    """The surface a path belongs to, and the prefix to drop before naming the action."""
    for prefix, surface, strip in SURFACES:
        if path == prefix or path.startswith(prefix + "/"):
            return surface, strip
    return "other", ""


def derived_action(method: str, template: str) -> str:
    """`resource.verb` from a route template: `/api/v1/jobs/{job_id}/execute` → jobs.execute."""
    _, strip = surface_of(template)
    parts: list[tuple[bool, str]] = []  # (is a parameter, name)
    for segment in template[len(strip) :].strip("/").split("/"):
        keyed = _KEYED.match(segment)
        if keyed is not None:  # CData's `jobs({key})`
            parts += [(False, _word(keyed["name"])), (True, keyed["key"])]
        elif segment.startswith("{"):
            parts.append((True, segment))
        elif segment:
            parts.append((False, _word(segment)))
    last_param = max((i for i, (is_param, _) in enumerate(parts) if is_param), default=-1)
    after = [name for _, name in parts[last_param + 1 :]]
    before = parts[last_param - 1][1] if last_param > 0 and not parts[last_param - 1][0] else None
    if after and after[-1] in RESOURCES:
        return f"{after[-1]}.{ON_COLLECTION.get(method, method.lower())}"
    if not after:
        return f"{before or 'other'}.{ON_ITEM.get(method, method.lower())}"
    if last_param >= 0:
        return f"{before or 'other'}.{'_'.join(after)}"
    return f"{after[0]}.{'_'.join(after[1:]) or ON_COLLECTION.get(method, method.lower())}"


def _word(segment: str) -> str:
    word = segment.lstrip("_").replace("-", "_").lower()
    return PLURAL.get(word, word)


def action_of(method: str, template: str) -> str | None:
    """The action a request to this route performs, or None for one that only reads."""
    key = ("GET" if method == "HEAD" else method, template)
    if key in ACTIONS:
        return ACTIONS[key]
    if method not in WRITES:
        return None
    return derived_action(method, template)


def template_of(scope: Scope) -> str | None:
    """The matched route's full template, e.g. `/api/v1/jobs/{job_id}` (None: no route).

    A route included with a prefix knows only its own part (`/jobs/{job_id}`); the prefix
    is what the request's path has before that part, filled with the path parameters.
    """
    route_format = getattr(scope.get("route"), "path_format", None)
    if not isinstance(route_format, str):
        return None
    params = scope.get("path_params") or {}
    try:
        filled = route_format.format(**{k: str(v) for k, v in params.items()})
    except (KeyError, IndexError, ValueError):
        return route_format
    path: str = scope["path"]
    return path[: len(path) - len(filled)] + route_format if path.endswith(filled) else route_format


def basic_user(headers: Headers) -> str | None:
    """The user name of Basic credentials (never the password beside it)."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, _ = decoded.partition(":")
    return name if sep and name else None


def _target(scope: Scope, note: Note) -> str | None:
    """What the services said they changed, else the route's last path parameter."""
    if note.target_id is not None:
        return note.target_id
    params = {k: v for k, v in (scope.get("path_params") or {}).items() if k not in IGNORED_PARAMS}
    if not params:
        return None
    value = str(list(params.values())[-1])
    return value[1:-1] if len(value) > 1 and value[0] == value[-1] == "'" else value


def _cut(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


def entry_for(scope: Scope, note: Note, status: int, arrived: dt.datetime) -> Entry | None:
    """The entry a finished request deserves, or None when it changed nothing."""
    method: str = scope["method"]
    path: str = scope["path"]
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    template = template_of(scope)
    failure = state.get("sign_in_failure")
    if principal is None and (status in (401, 429) or failure is not None):
        headers = Headers(scope=scope)
        presented = "authorization" in headers or "x-cdata-authtoken" in headers
        writes = method in WRITES or (template is not None and action_of(method, template))
        if not presented and not writes:
            return None  # a read without credentials is not a sign-in
        action = SIGN_IN_FAILED
        user_name = getattr(failure, "user_name", None) or basic_user(headers)
    else:
        route = scope.get("route")
        if template is None or method not in (getattr(route, "methods", None) or ()):
            return None  # no route, or not this method: nothing was attempted
        found = action_of(method, template)
        if found is None and note.changed:
            found = derived_action(method, template)
        if found is None:
            return None
        action = found
        user_name = getattr(principal, "name", None)
    client = scope.get("client")
    return Entry(
        created_at=arrived,
        surface=surface_of(path)[0],
        method=method[:10],
        route=_cut(template or path, 400) or "",
        path=path[:1000],
        action=action[:100],
        status=status,
        user_id=getattr(principal, "user_id", None),
        user_name=_cut(user_name, 200),
        workspace_id=note.workspace_id or (scope.get("path_params") or {}).get("workspace_id"),
        target_id=_cut(_target(scope, note), 200),
        client=_cut(client[0] if client else None, 64),
    )


class AuditRecorder(HttpMiddleware):
    """ASGI middleware: note each request's changes, record an entry when it is answered."""

    def __init__(self, app: ASGIApp, engine: Engine) -> None:
        self.app = app
        self.engine = engine

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("state", {})  # shared with the copies the inner layers make
        arrived = utcnow()
        answered = False
        with audit.observing() as note:

            async def watch(message: Message) -> None:
                nonlocal answered
                if message["type"] == "http.response.start" and not answered:
                    answered = True
                    await self._record(scope, note, message["status"], arrived)
                await send(message)

            try:
                await self.app(scope, receive, watch)
            except Exception:
                if not answered:  # the outermost handler answers 500
                    answered = True
                    await self._record(scope, note, 500, arrived)
                raise

    async def _record(self, scope: Scope, note: Note, status: int, arrived: dt.datetime) -> None:
        """Write the request's entry, if it deserves one; a failure here fails no request."""
        try:
            entry = entry_for(scope, note, status, arrived)
            if entry is not None:
                await run_in_threadpool(audit.record, self.engine, entry)
        except Exception:
            log.exception("could not record %s %s in the audit log", scope["method"], scope["path"])


def install(app: FastAPI, engine: Engine) -> None:
    """Record the app's state-changing requests; call before adding any other middleware."""
    app.add_middleware(AuditRecorder, engine=engine)
