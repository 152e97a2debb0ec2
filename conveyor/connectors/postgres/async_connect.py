"""asyncpg beside libpq: the same PostgreSQL connection, and a coroutine run from sync code.

The binary COPY relay (`relay`) talks to the servers through asyncpg, while
everything else of the connector goes through libpq (psycopg, ADBC). asyncpg must then
reach exactly the server, database, user and settings libpq would: `connect_kwargs`
translates a connector's URL and options, and declines (None) whatever only libpq
understands — a service file, several hosts, keepalives, GSS encryption — so such
connections keep to the Arrow path rather than connect differently.

asyncpg connects where the policy says, as libpq does: `connect` resolves the host through
the connection's `Reach` right before connecting, and the coroutines run on a
`VettingLoop`, which resolves that name to those addresses only. asyncpg is still given
the name, so TLS verifies the certificate against it and sends it as SNI.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import importlib.util
import os
import socket
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from conveyor.connectors.tls import ssl_context

if TYPE_CHECKING:
    from conveyor.connectors.postgres.session import PostgresSession
    from conveyor.policy import Reach

T = TypeVar("T")
_VETTED: contextvars.ContextVar[tuple[str, tuple[str, ...]] | None] = contextvars.ContextVar(
    "conveyor_vetted_host", default=None
)
"""The host being connected to in this task, and the addresses the policy allowed for it."""
_CARRIED_PARAMS = {"sslmode", "options"}
_CREDENTIAL_ENVIRONMENT = ("PGPASSWORD", "PGPASSFILE", "PGSSLCERT", "PGSSLKEY")
_LIBPQ_ONLY_ENVIRONMENT = (
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGHOSTADDR",
    "PGGSSENCMODE",
    "PGTARGETSESSIONATTRS",
    "PGREQUIREAUTH",
    "PGCHANNELBINDING",
)


def connect_kwargs(connector: PostgresSession) -> dict[str, Any] | None:
    """asyncpg's connection arguments for a connector, None when only libpq can connect so.

    Of the URL's parameters, sslmode and `options` (`-c name=value` settings, such as a
    search_path) carry over; an unset sslmode is left to asyncpg, which reads PGSSLMODE
    and otherwise prefers TLS, as libpq does.
    """
    address, options = connector.address, connector.options
    if set(address.params) - _CARRIED_PARAMS or "," in address.host:
        return None
    if not connector.reach.server_credentials and _server_credentials_present():
        return None  # asyncpg would read them; libpq is told not to
    if any(os.environ.get(name) for name in _LIBPQ_ONLY_ENVIRONMENT):
        return None
    settings = server_settings(address.params.get("options", ""))
    if settings is None:
        return None
    sslmode = options.sslmode or address.params.get("sslmode") or None
    ssl: Any = sslmode
    if options.tls is not None:  # stored certificates: a context of them, where libpq's
        if sslmode not in ("verify-ca", "verify-full"):  # mode would check them as asyncpg
            return None  # does not (libpq's require with a root certificate verifies it)
        ssl = ssl_context(options.tls, check_hostname=sslmode == "verify-full")
    return {
        "host": address.host or None,
        "port": address.port,
        "user": address.user or None,
        "password": address.password,
        "database": address.database,
        "ssl": ssl,
        "timeout": max(2.0, options.connect_timeout),
        "server_settings": {**settings, "application_name": options.application_name},
        "statement_cache_size": 0,
    }


def _server_credentials_present() -> bool:
    """Whether the account Conveyor runs as has credentials asyncpg would fall back on —
    Kerberos tickets too, which asyncpg uses when the `gssapi` package is installed."""
    if any(os.environ.get(name) for name in _CREDENTIAL_ENVIRONMENT):
        return True
    if importlib.util.find_spec("gssapi") is not None:
        return True
    home = os.path.expanduser("~")
    return any(
        os.path.exists(os.path.join(home, *part))
        for part in (
            (".pgpass",),
            (".postgresql", "postgresql.crt"),
            (".postgresql", "postgresql.key"),
        )
    )


def server_settings(options: str) -> dict[str, str] | None:
    """libpq's `options` (`-c a=b -cc=d --e-f=g`) as settings; None if it holds anything else.

    Words are split on spaces, a backslash taking the next character as it is; in a
    setting's name a dash stands for an underscore, as the server reads it.
    """
    words = _split_options(options)
    settings: dict[str, str] = {}
    while words:
        word = words.pop(0)
        if word == "-c" and words:
            word = "-c" + words.pop(0)
        if not word.startswith(("-c", "--")):
            return None
        name, equals, value = word[2:].partition("=")
        if not equals or not name:
            return None
        settings[name.replace("-", "_")] = value
    return settings


def _split_options(options: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    return words


def import_meanwhile(module: str) -> None:
    """Import a module on a thread of its own, while this one waits on a server.

    asyncpg takes tens of milliseconds to import; a relay then waited for that between
    its preparation (catalog lookups, DDL: the thread idle, waiting on the servers) and
    its first row. An import of the same module elsewhere meanwhile waits for this one
    (Python's import lock); a failed import here is raised again where it is used.
    """
    if module in sys.modules:
        return
    threading.Thread(
        target=_import_quietly, args=(module,), name="conveyor-import", daemon=True
    ).start()


def _import_quietly(module: str) -> None:
    with contextlib.suppress(ImportError):
        importlib.import_module(module)


async def connect(reach: Reach, kwargs: dict[str, Any]) -> Any:
    """`asyncpg.connect(**kwargs)` to the addresses `reach` allows for the host, resolved now.

    Must run on a `VettingLoop` (as `Background` coroutines do). A refusal of the policy
    raises its `HostRefused` before any packet is sent.
    """
    import asyncpg

    host, port = kwargs["host"], kwargs["port"]
    addresses = await asyncio.to_thread(reach.addresses, host, port)
    token = _VETTED.set((host, tuple(addresses)))
    try:
        return await asyncpg.connect(**kwargs)
    finally:
        _VETTED.reset(token)


class VettingLoop(asyncio.SelectorEventLoop):
    """An event loop that resolves only the host `connect` is connecting to, and only to
    the addresses the policy vetted for it: nothing on it can reach anything else by name.

    asyncio's `create_connection` resolves names through its loop's `getaddrinfo` (address
    literals need no lookup, and `connect` vetted them itself).
    """

    async def getaddrinfo(
        self,
        host: bytes | str | None,
        port: bytes | str | int | None,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:  # typeshed's element type, which differs by Python version
        """The vetted addresses of the host being connected to; OSError for any other."""
        name = host.decode() if isinstance(host, bytes) else host
        vetted = _VETTED.get()
        if vetted is None or name != vetted[0]:
            raise OSError(f"host {name!r} was not vetted by Conveyor's host policy")
        found: list[Any] = []
        for address in vetted[1]:
            found += await super().getaddrinfo(
                address, port, family=family, type=type, proto=proto,
                flags=flags | socket.AI_NUMERICHOST,
            )  # fmt: skip
        return found


class Background(Generic[T]):
    """A coroutine run to its end on a `VettingLoop` of its own thread, cancelable from outside.

    The engine is synchronous; this keeps asyncio inside the connector, whichever thread
    (or event loop) the run itself is on.
    """

    def __init__(self, make: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[T] | None = None
        self._outcome: tuple[T] | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(make,), name="conveyor-pg-async", daemon=True
        )
        self._thread.start()
        self._started.wait()

    def _main(self, make: Callable[[], Coroutine[Any, Any, T]]) -> None:
        async def body() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            self._loop.set_exception_handler(_quiet_about_abandoned_cancels)
            self._started.set()
            return await make()

        try:
            with asyncio.Runner(loop_factory=VettingLoop) as runner:
                self._outcome = (runner.run(body()),)
        except BaseException as exc:
            self._error = exc
        finally:
            self._started.set()

    def wait(self, timeout: float | None) -> bool:
        """Whether the coroutine ended within `timeout` seconds (None: wait for it)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """Cancel the coroutine."""
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._task.cancel)

    def result(self) -> T:
        """The coroutine's result, or its exception raised here."""
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome[0]


def _quiet_about_abandoned_cancels(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    """Drop asyncio's report of a cancel request cut off by our own terminate (asyncpg sends
    one on a failed COPY, then the connection is closed under it); report anything else."""
    if context.get("message") == "Future exception was never retrieved" and isinstance(
        context.get("exception"), ConnectionError
    ):
        return
    loop.default_exception_handler(context)
