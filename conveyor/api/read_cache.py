"""The read cache: a native GET answered again from memory while the store has not changed.

Most of what the API answers are small reads that many clients repeat (a job list, a
run polled until it ends). Computing one costs a worker thread, a store transaction and
a validation of its output; sending a copy of the same bytes costs a fraction of that.
`CachedReads` is a pure ASGI middleware that keeps the answers of the native API's store
reads and serves a copy while it is provably still the answer:

- **What is kept**: a 200 answer of a GET of `/api/v1` whose route reads the store only —
  a route of the request's unit of work (`Ctx`, see `api.deps`), which by the rule of that
  unit holds no external I/O. Routes that reach a connection's database (its tables) or
  the artifact files (downloads), and every other surface, always run.
- **Keyed by** the credentials presented (their SHA-256, never the token itself), the
  full URL (scheme, host, path and query) and the `Accept` header: one caller never gets
  another's answer, whatever their roles and workspaces.
- **Stamped** with the store's data version (`store.data_version`) read *before* the
  route reads its data, and served only while the version read now is the same: any
  commit anywhere — this process, another API process, a worker, the scheduler, another
  node — makes every kept answer miss. An answer that also depends on the clock (a job's
  next scheduled run, see `services.freshness`) is kept only until then.
- **Authentication and authorization still hold**: a copy is served only to a caller
  whose token this process verified lately (`services.auth.cached_principal`, the same
  check the route's own sign-in makes, with the same expiry and the same periodic note
  of the token's use) and who is still the same principal. Revoking a token, or changing
  a user, is a commit, so nothing kept before it is served after it. Anything else — no
  credentials, a token to check against the store, an expired one — takes the full path
  and gets its 401.
- **Bounded**: at most `CONVEYOR_READ_CACHE_ENTRIES` answers and
  `CONVEYOR_READ_CACHE_BYTES` bytes, least recently used out first; everything is
  dropped as soon as the version changes (an old version never comes back).

It sits inside the metrics middleware (a copy is timed and labeled by its route like any
answer) and outside the body limits and the audit recorder: a GET of a native store read
is never audited (reads are not recorded, a failed sign-in is never served from here).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from conveyor.api.asgi import HttpMiddleware
from conveyor.api.deps import UnitRoute, takes_context
from conveyor.domain import utcnow
from conveyor.runtime import Runtime
from conveyor.services import freshness
from conveyor.services.auth import cached_principal, store_key
from conveyor.services.context import Principal
from conveyor.store.data_version import DataVersion

PREFIX = "/api/v1/"
Key = tuple[bytes, str, str, bytes, str]


@dataclass(frozen=True)
class Answer:
    """A kept answer: what was sent, for whom, as of which data version, until when."""

    version: Hashable
    principal: Principal
    route: Any
    start: Message
    body: bytes
    until: dt.datetime | None

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(n) + len(v) for n, v in self.start["headers"])


class Answers:
    """The kept answers, least recently used first; all of them of one data version."""

    def __init__(self, entries: int, size: int) -> None:
        self.entries = entries
        self.size = size
        self.largest = max(size // 16, 1)
        self.used = 0
        self.version: Hashable | None = None
        self._answers: OrderedDict[Key, Answer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._answers)

    def seen(self, version: Hashable) -> None:
        """The store is at `version` now: answers of any other version are dropped."""
        if version != self.version:
            self._answers.clear()
            self.used = 0
            self.version = version

    def get(self, key: Key) -> Answer | None:
        answer = self._answers.get(key)
        if answer is not None:
            self._answers.move_to_end(key)
        return answer

    def put(self, key: Key, answer: Answer) -> None:
        """Keep the answer, if it is of the version seen last and not too large."""
        size = answer.size
        if answer.version != self.version or size > self.largest:
            return
        old = self._answers.pop(key, None)
        if old is not None:
            self.used -= old.size
        self._answers[key] = answer
        self.used += size
        while len(self._answers) > self.entries or self.used > self.size:
            _, dropped = self._answers.popitem(last=False)
            self.used -= dropped.size


def key_of(scope: Scope, headers: Headers) -> Key | None:
    """The answer's key: who asks (their credentials' digest), the full URL and what they
    accept; None for a request without credentials (it answers 401 the long way)."""
    presented = headers.get("authorization", "") + "\0" + headers.get("x-cdata-authtoken", "")
    if presented == "\0":
        return None
    who = hashlib.sha256(presented.encode()).digest()
    where = f"{scope.get('scheme', 'http')}://{headers.get('host', '')}{scope.get('root_path', '')}"
    return (who, where, scope["path"], scope.get("query_string", b""), headers.get("accept", ""))


def store_reads(app: FastAPI) -> frozenset[int]:
    """The routes whose answers may be kept: the GETs of `/api/v1` that run in the request's
    unit of work (`Ctx`) — store reads, no external I/O — by the route objects' ids."""
    found = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if (
            isinstance(route, APIRoute)
            and isinstance(route, UnitRoute)
            and "GET" in (route.methods or ())
            and isinstance(context.path, str)
            and context.path.startswith(PREFIX)
            and takes_context(route.endpoint)
        ):
            found.add(id(route))
    return frozenset(found)


class VersionReads:
    """The data version for requests of this event loop, each read begun after the request
    arrived (so a commit it follows is seen).

    SQLite's is read on the loop: a few microseconds. PostgreSQL's is a round trip to the
    server, so it is read on a worker thread, and one read answers every request that
    arrived before it began: a request that comes while a read is under way waits for the
    next one, which starts as soon as that one ends — under load one round trip serves a
    whole batch of requests, and the loop never waits on the network.
    """

    def __init__(self, versions: DataVersion) -> None:
        self.versions = versions
        self._next: asyncio.Future[Hashable | None] | None = None
        self._reading = False

    async def current(self) -> Hashable | None:
        if not self.versions.remote:
            return self.versions.current()
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
            if not self._reading:
                self._begin()
        return await asyncio.shield(waiting)

    def _begin(self) -> None:
        answered, self._next = self._next, None
        assert answered is not None
        self._reading = True
        task = asyncio.get_running_loop().create_task(self._read(answered))
        _reads.add(task)
        task.add_done_callback(_reads.discard)

    async def _read(self, answered: asyncio.Future[Hashable | None]) -> None:
        version: Hashable | None = None  # cancelled (at shutdown): nobody trusts anything
        try:
            version = await anyio.to_thread.run_sync(self.versions.current)
        finally:
            answered.set_result(version)
            self._reading = False
            if self._next is not None:
                self._begin()


_reads: set[asyncio.Task[None]] = set()
"""Reads under way (a task is only weakly held by its loop)."""


class CachedReads(HttpMiddleware):
    """ASGI middleware: serve a kept answer while it is still the answer; keep new ones."""

    def __init__(self, app: ASGIApp, owner: FastAPI, runtime: Runtime) -> None:
        self.app = app
        self.owner = owner
        self.runtime = runtime
        settings = runtime.settings
        self.answers = Answers(settings.read_cache_entries, settings.read_cache_bytes)
        self.store = store_key(runtime.engine)
        self.versions = VersionReads(runtime.data_version())
        self._routes: frozenset[int] | None = None

    @property
    def routes(self) -> frozenset[int]:
        if self._routes is None:  # every route is declared by the first request
            self._routes = store_reads(self.owner)
        return self._routes

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "GET" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = key_of(scope, headers)
        version = await self.versions.current() if key is not None else None
        if key is None or version is None:
            await self.app(scope, receive, send)
            return
        self.answers.seen(version)  # before the route reads its data
        kept = self.answers.get(key)
        if kept is not None and self._still_true(kept, headers):
            scope["route"] = kept.route  # the metrics label it as the route it answers for
            await send(kept.start)
            await send({"type": "http.response.body", "body": kept.body})
            return
        await self._answer_and_keep(scope, receive, send, key, version)

    def _still_true(self, kept: Answer, headers: Headers) -> bool:
        """Whether the kept answer may be served to this caller now (its version was checked)."""
        if kept.until is not None and utcnow() >= kept.until:
            return False
        caller = cached_principal(headers, self.store)
        return caller is not None and caller[0] == kept.principal

    async def _answer_and_keep(
        self, scope: Scope, receive: Receive, send: Send, key: Key, version: Hashable
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        size = 0
        whole = True

        async def keep(message: Message) -> None:
            nonlocal start, size, whole
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body" and whole:
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > self.answers.largest:
                    whole = False
                    chunks.clear()
                else:
                    chunks.append(chunk)
            await send(message)

        with freshness.observing() as fresh:
            await self.app(scope, receive, keep)
        if start is None or not whole or start["status"] != 200:
            return
        state: dict[str, Any] = scope.get("state") or {}
        principal = state.get("principal")
        route = scope.get("route")
        if not isinstance(principal, Principal) or id(route) not in self.routes:
            return
        self.answers.put(
            key,
            Answer(version, principal, route, dict(start), b"".join(chunks), fresh.until),
        )


def install(app: FastAPI, runtime: Runtime) -> None:
    """Keep the native API's store reads (`CONVEYOR_READ_CACHE_ENTRIES` 0: keep none);
    install after the limits and before the metrics, so it sits between them."""
    if runtime.settings.read_cache_entries == 0 or not DataVersion.supports(runtime.engine):
        return
    app.add_middleware(CachedReads, owner=app, runtime=runtime)
