"""PostgreSQL → PostgreSQL without decoding: the source's binary COPY rows, relayed as bytes.

When both ends of a load are PostgreSQL and every column has exactly the same built-in
type on both (the staging table was made from the query's own columns), the rows the
source sends with `COPY (query) TO STDOUT (FORMAT binary)` are, byte for byte, rows the
destination takes with `COPY table FROM STDIN (FORMAT binary)`. Relaying them skips
decoding into Arrow and encoding back, which on a PostgreSQL → PostgreSQL copy was two
thirds of Conveyor's CPU, so the copy runs at the speed of the `psql | psql` pipe. Nothing
is converted, so nothing can be converted wrongly.

asyncpg is the client here because it hands COPY data over in the chunks the network
delivers; libpq (under psycopg and ADBC) hands it over one row per call, which costs a
Python call per row. Each part of a read gets its own pair of connections; the source
side reads in one REPEATABLE READ snapshot, so the check column's largest value is read
from exactly the rows that were copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import psycopg

from conveyor.connectors import postgres_types as types
from conveyor.connectors import sql
from conveyor.connectors.base import RelayResult, TableRef
from conveyor.connectors.postgres_errors import connect_error, map_error
from conveyor.connectors.postgres_load import defer_primary_key, restore_primary_key
from conveyor.connectors.postgres_sql import source_label
from conveyor.errors import ConveyorError

if TYPE_CHECKING:
    from conveyor.connectors.postgres import PostgresConnector

DIALECT = types.DIALECT
POLL_SECONDS = 0.5
QUEUED_CHUNKS = 16
"""Chunks (each what one socket read brought, ~200 KB) a source may run ahead of the
destination: a few MB in flight, enough to keep both servers busy."""
FIRST_USER_OID = 16384
"""Types below this OID are built in, the same on every server; user types (enums,
domains, composites) are identified by OIDs that differ between databases."""
_RELAYABLE_PARAMS = {"sslmode", "options"}


def connect_kwargs(connector: PostgresConnector) -> dict[str, Any] | None:
    """asyncpg's connection arguments for a connector, None when its URL needs libpq.

    Of the URL's parameters, sslmode and `options` (`-c name=value` settings, such as a
    search_path) carry over; any other (a service file, keepalives, several hosts…) is
    libpq's alone, and a load through such a connection keeps to the ADBC path.
    """
    address, options = connector.address, connector.options
    if set(address.params) - _RELAYABLE_PARAMS:
        return None
    settings = server_settings(address.params.get("options", ""))
    if settings is None:
        return None
    return {
        "host": address.host or None,
        "port": address.port,
        "user": address.user or None,
        "password": address.password,
        "database": address.database,
        "ssl": options.sslmode or address.params.get("sslmode") or "prefer",
        "timeout": max(2.0, options.connect_timeout),
        "server_settings": {**settings, "application_name": options.application_name},
        "statement_cache_size": 0,
    }


def server_settings(options: str) -> dict[str, str] | None:
    """libpq's `options` (`-c a=b -cc=d --e-f=g`) as settings; None if it holds anything else."""
    words = re.split(r"(?<!\\)\s+", options.strip()) if options.strip() else []
    words = [word.replace("\\ ", " ") for word in words]
    settings: dict[str, str] = {}
    while words:
        word = words.pop(0)
        if word == "-c" and words:
            word = "-c" + words.pop(0)
        long = word.startswith("--")
        if not (long or word.startswith("-c")):
            return None
        name, equals, value = word[2:].partition("=")
        if not equals or not name:
            return None
        settings[name.replace("-", "_") if long else name] = value
    return settings


def prepare(
    source: PostgresConnector,
    destination: PostgresConnector,
    queries: Sequence[str],
    table: TableRef,
    highest: str | None,
) -> CopyRelay | None:
    """A relay when both connections allow one and the column types match; else None."""
    source_kwargs, target_kwargs = connect_kwargs(source), connect_kwargs(destination)
    if source_kwargs is None or target_kwargs is None or not queries:
        return None
    produced = result_columns(source, queries[0])
    if any(oid >= FIRST_USER_OID for _, _, oid in produced):
        return None
    oid = destination._require(table)
    stored = [(name, native) for name, native, *_ in destination._attributes(oid)]
    if [(name, native) for name, native, _ in produced] != stored:
        return None
    fresh = table in destination._created  # made by this connection, still empty
    restore_key = defer_primary_key(destination, table, oid) if fresh else None
    destination._created.discard(table)
    columns = [name for name, _ in stored]
    quoted = sql.quote(highest, DIALECT) if highest is not None else None
    return CopyRelay(
        source, destination, source_kwargs, target_kwargs, queries, table, columns, quoted,
        restore_key, freeze=fresh and len(queries) == 1,
    )  # fmt: skip


def result_columns(connector: PostgresConnector, query: str) -> list[tuple[str, str, int]]:
    """A query's result columns — name, declared type, type OID — planned, not run."""
    statement = f"SELECT * FROM ({query}) AS __conveyor_d LIMIT 0"  # noqa: S608
    with connector._lock:
        conn = connector._meta()
        try:
            cur = conn.execute(statement)
            result = cur.pgresult
            assert result is not None and cur.description is not None
            oids = [result.ftype(i) for i in range(result.nfields)]
            mods = [result.fmod(i) for i in range(result.nfields)]
            names = [column.name for column in cur.description]
            declared = conn.execute(
                "SELECT format_type(t, m) FROM unnest(%s::oid[], %s::int[])"
                " WITH ORDINALITY AS u(t, m, n) ORDER BY n",
                [oids, mods],
            ).fetchall()
        except psycopg.Error as exc:
            raise map_error(exc, connector.address, source_label(query)) from exc
    return [(n, d, o) for n, (d,), o in zip(names, declared, oids, strict=True)]


class CopyRelay:
    """One load relayed between two PostgreSQL servers as binary COPY bytes."""

    def __init__(
        self,
        source: PostgresConnector,
        destination: PostgresConnector,
        source_kwargs: dict[str, Any],
        target_kwargs: dict[str, Any],
        queries: Sequence[str],
        table: TableRef,
        columns: list[str],
        highest: str | None,
        restore_key: str | None,
        freeze: bool = False,
    ) -> None:
        self._source, self._destination = source, destination
        self._source_kwargs, self._target_kwargs = source_kwargs, target_kwargs
        self._queries = list(queries)
        self._table = table
        self._columns = columns
        self._highest = highest  # the check column, quoted
        self._restore_key = restore_key
        self._freeze = freeze
        self._received = 0
        self._pids: list[int] = []  # the destination's backends
        self._read_pids: list[int] = []  # the source's
        self._progress_view = True

    def run(self, poll: Callable[[int, int], None]) -> RelayResult:
        """Relay every part at once; build the deferred primary key back at the end."""
        background = _Background(self._relay_all)
        try:
            while not background.wait(POLL_SECONDS):
                poll(self._rows_so_far(), self._received)
            result = background.result()
        except BaseException:
            background.cancel()
            background.wait(None)
            self._stop_reads()
            restore_primary_key(self._destination, self._table, self._restore_key, quietly=True)
            raise
        restore_primary_key(self._destination, self._table, self._restore_key, quietly=False)
        return result

    async def _relay_all(self) -> RelayResult:
        parts = [asyncio.create_task(self._relay_part(query)) for query in self._queries]
        try:
            done = await asyncio.gather(*parts)
        except BaseException:
            for part in parts:  # one part failed or all were canceled: stop the others
                part.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            raise
        found = [highest for _, highest in done if highest is not None]
        return RelayResult(sum(rows for rows, _ in done), self._received, max(found, default=None))

    async def _relay_part(self, query: str) -> tuple[int, Any]:
        """Copy one query's rows: the source's COPY feeds the destination's through a queue.

        A failed read puts its error in the queue, so the destination's COPY fails with it
        (asyncpg then sends CopyFail: nothing of the part is kept).
        """
        chunks: asyncio.Queue[bytes | Exception | None] = asyncio.Queue(QUEUED_CHUNKS)

        async def received(chunk: bytes) -> None:
            self._received += len(chunk)
            await chunks.put(chunk)

        async def relayed() -> AsyncIterator[bytes]:
            while (chunk := await chunks.get()) is not None:
                if isinstance(chunk, Exception):
                    raise chunk
                yield chunk

        async def read() -> Any:
            try:
                return await self._read(query, received, chunks)
            except Exception as exc:
                await chunks.put(map_error(exc, self._source.address, source_label(query)))
                raise

        target = await self._connect(self._destination, self._target_kwargs)
        reading = asyncio.create_task(read())
        try:
            self._pids.append(target.get_server_pid())
            if self._freeze:  # COPY FREEZE needs the table emptied in its own transaction
                await target.execute("BEGIN")
                await target.execute(f"TRUNCATE {sql.table_sql(self._table, DIALECT)}")
            status = await target.copy_to_table(
                self._table.name,
                schema_name=self._table.schema,
                columns=self._columns,
                source=relayed(),
                format="binary",
                freeze=self._freeze,
            )
            if self._freeze:
                await target.execute("COMMIT")
            highest = await reading
        except BaseException as exc:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)
            target.terminate()
            if isinstance(exc, Exception):
                raise map_error(exc, self._destination.address, str(self._table)) from exc
            raise
        await _close(target)
        return int(status.split()[-1]), highest

    async def _read(
        self, query: str, received: Callable[[bytes], Awaitable[None]], chunks: asyncio.Queue[Any]
    ) -> Any:
        """COPY the query out (then its check column's maximum) in one snapshot."""
        source = await self._connect(self._source, self._source_kwargs)
        self._read_pids.append(source.get_server_pid())
        try:
            await source.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            await source.copy_from_query(query, output=received, format="binary")
            await chunks.put(None)
            highest = None
            if self._highest is not None:
                highest = await source.fetchval(
                    f"SELECT max({self._highest}) FROM ({query}) AS __conveyor_r"  # noqa: S608
                )
            await source.execute("COMMIT")
        except BaseException:
            source.terminate()  # mid-COPY: cut off; the server rolls back
            raise
        await _close(source)
        return highest

    async def _connect(self, connector: PostgresConnector, kwargs: dict[str, Any]) -> Any:
        try:
            return await asyncpg.connect(**kwargs)
        except Exception as exc:
            raise connect_error(exc, connector.address) from exc

    def _stop_reads(self) -> None:
        """Cancel the source's COPYs of an abandoned relay.

        Their connections are closed, but a server notices that only when it next sends
        (a slow query could run on for seconds): cancel them, as libpq's cancel would.
        """
        with contextlib.suppress(ConveyorError):
            self._source._query(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                " WHERE pid = ANY(%s) AND state = 'active' AND application_name = %s",
                [list(self._read_pids), self._source.options.application_name],
            )

    def _rows_so_far(self) -> int:
        """Rows the destination has taken so far (pg_stat_progress_copy, PostgreSQL 14+)."""
        if not self._progress_view or not self._pids:
            return 0
        try:
            found = self._destination._query(
                "SELECT coalesce(sum(tuples_processed), 0) FROM pg_stat_progress_copy"
                " WHERE pid = ANY(%s)",
                [list(self._pids)],
            )
        except ConveyorError:  # an older server: progress is reported at the end
            self._progress_view = False
            return 0
        return int(found[0][0])


async def _close(conn: Any) -> None:
    """Close a connection whose work ended cleanly (cut off if the server does not answer)."""
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except Exception:
        conn.terminate()


class _Background:
    """A coroutine run to its end on an event loop of its own thread, cancelable from outside.

    The engine is synchronous; this keeps asyncio inside the relay, whichever thread (or
    event loop) the run itself is on.
    """

    def __init__(self, make: Callable[[], Coroutine[Any, Any, RelayResult]]) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[RelayResult] | None = None
        self._outcome: RelayResult | None = None
        self._error: BaseException | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(make,), name="conveyor-pg-relay", daemon=True
        )
        self._thread.start()
        self._started.wait()

    def _main(self, make: Callable[[], Coroutine[Any, Any, RelayResult]]) -> None:
        async def body() -> RelayResult:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            self._started.set()
            return await make()

        try:
            self._outcome = asyncio.run(body())
        except BaseException as exc:
            self._error = exc
        finally:
            self._started.set()

    def wait(self, timeout: float | None) -> bool:
        """Whether the coroutine ended within `timeout` seconds (None: wait for it)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """Cancel the coroutine (its COPYs fail, so nothing of them is committed)."""
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._task.cancel)

    def result(self) -> RelayResult:
        """The coroutine's result, or its exception raised here."""
        if self._error is not None:
            raise self._error
        assert self._outcome is not None
        return self._outcome
