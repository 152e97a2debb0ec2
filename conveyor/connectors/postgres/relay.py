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
Python call per row. Each part of a read gets its own pair of connections, all opened
before any row moves: if asyncpg cannot connect where libpq could, the relay is declined
and the load goes through Arrow.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

import psycopg

from conveyor.connectors import sql
from conveyor.connectors.base import RelayDeclined, RelayResult, TableRef
from conveyor.connectors.postgres import types
from conveyor.connectors.postgres.async_connect import Background, connect, connect_kwargs
from conveyor.connectors.postgres.errors import map_error
from conveyor.connectors.postgres.load import defer_primary_key, restore_primary_key
from conveyor.connectors.server import redacted
from conveyor.errors import ConveyorError, PermissionDenied, SourceUnavailable

if TYPE_CHECKING:
    from conveyor.connectors.postgres.session import PostgresSession

DIALECT = types.DIALECT
POLL_SECONDS = 0.5
QUEUED_CHUNKS = 16
"""Chunks (each what one socket read brought, ~200 KB) a source may run ahead of the
destination: a few MB in flight, enough to keep both servers busy."""
_REFUSED = object()  # in a part's queue: the destination ended its COPY, stop feeding it
FIRST_USER_OID = 16384
"""Types below this OID are built in, the same on every server; user types (enums,
domains, composites) are identified by OIDs that differ between databases."""


def prepare(
    source: PostgresSession,
    destination: PostgresSession,
    queries: Sequence[str],
    table: TableRef,
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
    return CopyRelay(
        source, destination, source_kwargs, target_kwargs, queries, table,
        [name for name, _ in stored], restore_key, freeze=fresh and len(queries) == 1,
    )  # fmt: skip


def result_columns(connector: PostgresSession, query: str) -> list[tuple[str, str, int]]:
    """A query's result columns — name, declared type, type OID — planned, not run."""
    statement = f"SELECT * FROM ({query}) AS __conveyor_d LIMIT 0"  # noqa: S608
    with connector._shared.lock:
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
            raise map_error(exc, connector.address, sql.source_label(query, DIALECT)) from exc
    return [(n, d, o) for n, (d,), o in zip(names, declared, oids, strict=True)]


class CopyRelay:
    """One load relayed between two PostgreSQL servers as binary COPY bytes.

    A failed relay keeps nothing that matters: each part's COPY fails as a whole, and
    the table (a staging table, dropped by the engine after a failed load) is left as it
    is, its deferred primary key not rebuilt.
    """

    def __init__(
        self,
        source: PostgresSession,
        destination: PostgresSession,
        source_kwargs: dict[str, Any],
        target_kwargs: dict[str, Any],
        queries: Sequence[str],
        table: TableRef,
        columns: list[str],
        restore_key: str | None,
        freeze: bool = False,
    ) -> None:
        self._source, self._destination = source, destination
        self._source_kwargs, self._target_kwargs = source_kwargs, target_kwargs
        self._queries = list(queries)
        self._table = table
        self._columns = columns
        self._restore_key = restore_key
        self._freeze = freeze
        self._received = 0
        self._lock = threading.Lock()
        self._writing: set[int] = set()  # the destination backends still copying
        self._written = 0  # rows of the parts that finished
        self._reported = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._refusals: dict[int, Callable[[], None]] = {}  # how to end each part's feed
        self._read_pids: list[int] = []
        self._progress_view = True

    def run(self, poll: Callable[[int, int], None]) -> RelayResult:
        """Relay every part at once; build the deferred primary key back at the end."""
        background = Background(self._relay_all)
        try:
            while not background.wait(POLL_SECONDS):
                poll(self._rows_so_far(), self._received)
            result = background.result()
        except BaseException:
            background.cancel()
            background.wait(None)
            self._stop_reads()
            raise
        restore_primary_key(self._destination, self._table, self._restore_key, quietly=False)
        return result

    async def _relay_all(self) -> RelayResult:
        self._loop = asyncio.get_running_loop()
        pairs = await self._connect_all()
        parts = [
            asyncio.create_task(self._relay_part(query, source, target))
            for query, (source, target) in zip(self._queries, pairs, strict=True)
        ]
        try:
            rows = await asyncio.gather(*parts)
        except BaseException:
            for part in parts:  # one part failed or all were canceled: stop the others
                part.cancel()
            await asyncio.gather(*parts, return_exceptions=True)
            raise
        return RelayResult(sum(rows), self._received)

    async def _connect_all(self) -> list[tuple[Any, Any]]:
        """A source and a destination connection per part, or RelayDeclined (none kept).

        Each connects only where its connection's reach allows (`async_connect.connect`);
        a refusal of the policy is raised as it is: the Arrow path would be refused too.
        """
        ends = (
            (self._source.reach, self._source_kwargs),
            (self._destination.reach, self._target_kwargs),
        )
        attempts = [connect(reach, kwargs) for _ in self._queries for reach, kwargs in ends]
        opened = await asyncio.gather(*attempts, return_exceptions=True)
        failed = [result for result in opened if isinstance(result, BaseException)]
        if failed:
            for result in opened:
                if not isinstance(result, BaseException):
                    result.terminate()
            refused = [error for error in failed if isinstance(error, PermissionDenied)]
            if refused:
                raise refused[0]
            reason = (
                redacted(failed[0], self._source.address, self._destination.address)
                or type(failed[0]).__name__
            )
            raise RelayDeclined(f"asyncpg could not connect ({reason})")
        connections: list[Any] = list(opened)
        pairs = list(zip(connections[0::2], connections[1::2], strict=True))
        self._read_pids = [source.get_server_pid() for source, _ in pairs]
        with self._lock:
            self._writing = {target.get_server_pid() for _, target in pairs}
        return pairs

    async def _relay_part(self, query: str, source: Any, target: Any) -> int:
        """Copy one query's rows: the source's COPY feeds the destination's through a queue.

        A failed read puts its error in the queue, so the destination's COPY fails with it
        (asyncpg then sends CopyFail: nothing of the part is kept). A destination connection
        lost mid-COPY cancels the COPY (asyncpg would wait for it forever).
        """
        chunks: asyncio.Queue[Any] = asyncio.Queue(QUEUED_CHUNKS)
        copying: asyncio.Task[str] | None = None
        lost = False

        async def received(chunk: bytes) -> None:
            self._received += len(chunk)
            await chunks.put(chunk)

        refused = cut_short = False

        def refuse() -> None:  # the server ended the COPY: stop feeding it, hear why
            nonlocal refused
            refused = True
            if not chunks.full():
                chunks.put_nowait(_REFUSED)

        async def relayed() -> AsyncIterator[bytes]:
            nonlocal cut_short
            while (chunk := await chunks.get()) is not None:
                if chunk is _REFUSED or refused:
                    cut_short = True
                    return
                if isinstance(chunk, Exception):
                    raise chunk
                yield chunk

        async def read() -> None:
            try:
                await source.copy_from_query(query, output=received, format="binary")
            except Exception as exc:
                error = map_error(exc, self._source.address, sql.source_label(query, DIALECT))
                await chunks.put(error)
                raise error from exc
            await chunks.put(None)
            await _close(source)

        def connection_lost(_: object) -> None:
            nonlocal lost
            if copying is not None and not copying.done():
                lost = True
                copying.cancel()

        target.add_termination_listener(connection_lost)
        reading = asyncio.create_task(read())
        pid = target.get_server_pid()
        try:
            if self._freeze:  # COPY FREEZE needs the table emptied in its own transaction
                await target.execute("BEGIN")
                await target.execute(f"TRUNCATE {sql.table_sql(self._table, DIALECT)}")
            self._refusals[pid] = refuse
            copying = asyncio.create_task(self._copy_in(target, relayed()))
            try:
                status = await copying
            except asyncio.CancelledError:
                if not lost:
                    raise
                where = self._destination.address.where
                raise SourceUnavailable(
                    f"PostgreSQL server at {where}: the connection was lost while loading"
                    f" {self._table}"
                ) from None
            if cut_short:  # never commit a COPY cut short (it cannot succeed: the server ended it)
                raise SourceUnavailable(f"the COPY into {self._table} ended early")
            if self._freeze:
                await target.execute("COMMIT")
            await reading
        except BaseException as exc:
            try:
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
            finally:
                source.terminate()  # mid-COPY: cut off; the servers roll back
                target.terminate()
            if isinstance(exc, Exception):
                raise map_error(exc, self._destination.address, str(self._table)) from exc
            raise
        rows = int(status.split()[-1])
        with self._lock:
            self._writing.discard(pid)
            self._written += rows
        await _close(target)
        return rows

    async def _copy_in(self, target: Any, relayed: AsyncIterator[bytes]) -> str:
        status: str = await target.copy_to_table(
            self._table.name,
            schema_name=self._table.schema,
            columns=self._columns,
            source=relayed,
            format="binary",
            freeze=self._freeze,
        )
        return status

    def _stop_reads(self) -> None:
        """Cancel the source's COPYs of an abandoned relay.

        Their connections are closed, but a server notices that only when it next sends
        (a slow query could run on for seconds): cancel them, as libpq's cancel would.
        """
        if not self._read_pids:
            return
        with contextlib.suppress(ConveyorError):
            self._source._query(
                "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
                " WHERE pid = ANY(%s) AND state = 'active' AND application_name = %s",
                [list(self._read_pids), self._source.options.application_name],
            )

    def _rows_so_far(self) -> int:
        """Rows the destination has taken so far (pg_stat_progress_copy, PostgreSQL 14+).

        A backend whose last statement is the COPY and which no longer runs it, while its
        part still feeds it, refused the rows (a NULL key, a full disk, a timeout):
        asyncpg would go on sending what the server discards until the source ends, so
        the part is told to stop feeding it and hears the server's error at once.
        """
        with self._lock:
            writing, written = list(self._writing), self._written
        copying = 0
        if self._progress_view and writing:
            try:
                found = self._destination._query(
                    "SELECT a.pid, coalesce(p.tuples_processed, 0),"
                    " a.state <> 'active' AND a.query LIKE 'COPY %%'"
                    " FROM pg_stat_activity a LEFT JOIN pg_stat_progress_copy p USING (pid)"
                    " WHERE a.pid = ANY(%s)",
                    [writing],
                )
            except ConveyorError:  # an older server: progress is reported at the end
                self._progress_view = False
                found = []
            copying = sum(int(rows) for _, rows, _ in found)
            for pid in (pid for pid, _, ended in found if ended):
                refuse = self._refusals.pop(pid, None)
                if refuse is not None and self._loop is not None:
                    with contextlib.suppress(RuntimeError):  # the loop has ended
                        self._loop.call_soon_threadsafe(refuse)
        self._reported = max(self._reported, written + copying)
        return self._reported


async def _close(conn: Any) -> None:
    """Close a connection whose work ended cleanly (cut off if the server does not answer)."""
    try:
        await asyncio.wait_for(conn.close(), timeout=5)
    except Exception:
        conn.terminate()
