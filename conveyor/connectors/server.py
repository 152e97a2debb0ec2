"""What the database-server connectors (PostgreSQL, MySQL/MariaDB) share.

A server URL is parsed once into a `ServerAddress` whose password never appears in its
text form, so error messages can name the host, user and database without leaking it;
its `redactor` masks that password (and nothing else) in the driver's error texts.
`Feed` runs one bulk-load statement in a background thread fed batch by batch: a whole
stream becomes a single COPY or LOAD DATA, which is what makes loads run at the speed of
the server's bulk path rather than at the speed of a statement per batch. Such a
statement is bounded by `command_timeout` between batches: the load fails when the
server takes no batch (or does not finish once the last one is sent) for that long.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

import sqlglot
from sqlglot import exp

from conveyor.connectors.command_limit import timed_out
from conveyor.crypto import Redactor, is_secret_option, redact
from conveyor.errors import ConnectorError, ConveyorError, InvalidInput

T = TypeVar("T")


@dataclass(frozen=True)
class ServerAddress:
    """Where a database server is and who connects to it; `str()` never shows the password."""

    scheme: str
    host: str
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    params: dict[str, str] = field(default_factory=dict, repr=False)
    """The URL's other query parameters (a secret one, such as `sslpassword`, included)."""

    @property
    def where(self) -> str:
        """`host:port`, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.user}@{self.where}/{self.database}"

    @property
    def redactor(self) -> Redactor:
        """Masks this connection's password and secret parameters in its errors' texts."""
        return Redactor.of(
            self.password, *(v for k, v in self.params.items() if is_secret_option(k))
        )


def parse_server_url(
    url: str, schemes: tuple[str, ...], default_port: int, password: str | None = None
) -> ServerAddress:
    """Parse `scheme://user[:password]@host[:port]/database[?params]`; 422 when malformed.

    The password may also come as a `?password=` parameter (it is then taken out of the
    parameters, never passed twice to a driver); a URL giving two different ones is
    refused. A `password` option overrides the URL's.
    """
    try:
        parts = urlsplit(url)
        port = parts.port or default_port
    except ValueError as exc:
        raise InvalidInput(f"malformed connection URL: {redact(str(exc))}", field="url") from exc
    scheme = parts.scheme.lower().split("+", 1)[0]
    if scheme not in schemes or not parts.hostname:
        expected = " or ".join(f"{s}://user@host/database" for s in schemes)
        raise InvalidInput(f"expected a URL like {expected}", field="url")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise InvalidInput("the URL must name one database: …/database", field="url")
    params = dict(parse_qsl(parts.query))
    given = params.pop("password", None)
    in_url = unquote(parts.password) if parts.password is not None else None
    if given is not None and in_url is not None and given != in_url:
        raise InvalidInput(
            "the URL gives two different passwords (user:password@ and ?password=)", field="url"
        )
    return ServerAddress(
        scheme=scheme,
        host=url_host(parts),
        port=port,
        user=unquote(parts.username or ""),
        database=database,
        password=password if password is not None else (in_url if in_url is not None else given),
        params=params,
    )


def url_host(parts: SplitResult) -> str:
    """The URL's host, percent-decoded: `%2Fvar%2Frun%2Fpostgresql` is a Unix-socket folder.

    Decoded here, once, so that the host the policy checks is the host the driver gets.
    A path keeps its case (`hostname` lowers it); `[fe80::1%25eth0]` keeps its zone.
    """
    host = parts.hostname or ""
    if "%" not in host:
        return host
    hostport = parts.netloc.rpartition("@")[2]
    if hostport.startswith("["):
        return unquote(host)
    name, colon, port = hostport.rpartition(":")
    return unquote(name if colon and port.isdigit() else hostport)


def returns_nothing(query: str, dialect: str) -> bool:
    """Whether a query is a SELECT … LIMIT 0: a probe of its columns, answered without running."""
    try:
        tree = sqlglot.parse_one(query, dialect=dialect)
    except sqlglot.errors.ParseError:
        return False
    limit = tree.args.get("limit") if isinstance(tree, exp.Select) else None
    count = limit.expression if limit is not None else None
    return isinstance(count, exp.Literal) and count.this == "0"


def redacted(exc: BaseException, *addresses: ServerAddress) -> str:
    """An exception's message, trimmed, with these connections' own secrets (and any
    URL password or `password=` assignment) masked — no other connection's."""
    redactor = Redactor()
    for address in addresses:
        redactor |= address.redactor
    return redactor.redact(str(exc).strip())


class _Done:
    """The end-of-stream marker of a `Feed`."""


_DONE = _Done()


class Feed(Generic[T]):
    """One statement running in a thread, consuming items handed over by `put`.

    `consume` receives an iterator over the items and runs until it is exhausted (one
    COPY or LOAD DATA). The queue is bounded, so the caller blocks when the server falls
    behind; an error of the statement is raised to the caller at its next `put` or at
    `finish`, mapped by `map_error`. With a `timeout`, a `put` or a `finish` waiting
    longer than that raises `CommandTimedOut` naming `statement` and `what`.
    """

    def __init__(
        self,
        consume: Callable[[Iterator[T]], object],
        map_error: Callable[[Exception], ConveyorError],
        depth: int = 2,
        name: str = "conveyor-load",
        *,
        timeout: float | None = None,
        statement: str = "",
        what: str = "",
    ) -> None:
        self._queue: queue.Queue[T | _Done] = queue.Queue(maxsize=depth)
        self._consume = consume
        self._map_error = map_error
        self._timeout = timeout
        self._statement = statement
        self._what = what
        self._error: BaseException | None = None
        self._aborted = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _items(self) -> Iterator[T]:
        while True:
            item = self._queue.get()
            if isinstance(item, _Done):
                if self._aborted.is_set():
                    raise ConnectorError("load aborted")
                return
            yield item

    def _run(self) -> None:
        try:
            self._consume(self._items())
        except BaseException as exc:
            self._error = exc
            self._drain()

    def _drain(self) -> None:
        """Empty the queue so a producer blocked in `put` wakes up and sees the error."""
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _raise_error(self) -> None:
        error = self._error
        if error is None:
            return
        if isinstance(error, Exception):
            raise self._map_error(error) from error
        raise error

    def put(self, item: T) -> None:
        """Hand one item to the statement, waiting while the queue is full (at most
        `timeout` seconds)."""
        started = time.monotonic()
        while True:
            self._raise_error()
            if not self._thread.is_alive():
                raise ConnectorError("the load ended before all rows were sent")
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                self._check_waited(started)

    def finish(self) -> None:
        """Signal the end of the stream and wait for the statement to complete (at most
        `timeout` seconds once the last item is taken)."""
        if self._thread.is_alive():
            started = time.monotonic()
            while self._thread.is_alive():
                try:
                    self._queue.put(_DONE, timeout=0.2)
                    break
                except queue.Full:
                    self._check_waited(started)
        started = time.monotonic()
        while self._thread.is_alive():
            self._thread.join(0.2)
            self._check_waited(started)
        self._raise_error()

    def _check_waited(self, started: float) -> None:
        """Past the timeout, the statement's `CommandTimedOut`."""
        if self._timeout is not None and time.monotonic() - started > self._timeout:
            self._raise_error()
            raise timed_out(self._timeout, self._statement, self._what)

    def abort(self) -> None:
        """Make the statement fail (so the server discards what it received) and wait."""
        self._aborted.set()
        if self._thread.is_alive():
            self._put_marker()
        self._thread.join(timeout=30)

    def _put_marker(self) -> None:
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=0.2)
                return
            except queue.Full:
                continue
