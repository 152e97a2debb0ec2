"""DuckDB sessions that stay inside their own database (the rule is `conveyor.policy`'s).

Shared by everything that runs SQL in DuckDB — the DuckDB connector, the files connector
(which reads and writes files through an in-memory session), the engine's rewrites and
`conveyor.testing` — together with what a DuckDB failure means (`map_error`), how many
rows a statement changed (`affected_rows`) and how a query's rows stream out as Arrow
(`stream`).

`database_to_open` vets what a DuckDB connection opens: its file and the files DuckDB
keeps beside it, resolved and checked with the connection's `Reach` each time it opens;
names DuckDB resolves itself (`md:`, `s3://`) only with external access. Once it is open,
`check_engine_paths` vets what DuckDB itself says the session's SQL may use.

DuckDB's SQL can read and write any file the server can (`read_text`, `read_csv`, `glob`,
`COPY … TO`, `ATTACH`, `EXPORT DATABASE`), install and load extensions, and change its
own settings with `SET`. A session opened here for a connection without external access
has `enable_external_access` off and its configuration locked, so user SQL — a
REPLICATE SELECT, a transformation — reaches only:
- a database file's own files (DuckDB allows its database, WAL and temporary folder;
  the connector vets those paths before it opens the database);
- for an in-memory session, the exact files the caller vetted (`allowed_paths`: the
  files a query over a folder needs) and a private temporary folder for spilling, made
  for that session and removed with it. DuckDB's default for an in-memory database is
  `.tmp` under the working directory, which it would let SQL read and write.

Arrow data handed over with `register()` is not a file: it stays usable. Settings the
session must keep (UTC, the allowed files, the temporary folder) are set before the
lock, and `allowed_paths` only while external access is still on — DuckDB refuses to
change it afterwards — so the order of the statements below matters.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from conveyor import errors
from conveyor.policy import PathRefused, Reach, statement_refused

_OPEN_LOCK = threading.Lock()
_ROOT: tuple[int, str] | None = None
"""This process's private folder for in-memory sessions' temporary files (pid, path)."""
_NOT_A_FILE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|:memory:.)", re.IGNORECASE)
"""Database names DuckDB does not read as a file: `md:`, `s3://…`, named in-memory databases
(DuckDB loads an extension named by such a prefix)."""
SIDE_FILES = (".wal", ".wal.recovery", ".wal.checkpoint", ".tmp")
"""Files DuckDB keeps beside a database (its WAL and the WAL's recovery and checkpoint
copies, its spill folder), which it reads as it opens the database and lets its SQL use."""
_LOCKED_OUT = re.compile(r"disabled (?:by|through) configuration|the configuration has been locked")
"""What DuckDB says when external access is off or the configuration locked, whatever the
exception's class (an extension's automatic install fails as a plain `duckdb.Error`)."""


def database_to_open(path: str, reach: Reach) -> str:
    """What a connection to `path` opens: the database file's resolved path once the reach
    allows it and the files DuckDB keeps beside it, `:memory:`, or (with external access
    only) a name DuckDB resolves itself, such as MotherDuck's `md:`."""
    if path == ":memory:":
        return path
    if _NOT_A_FILE.match(path):
        if not reach.external_access:
            raise PathRefused(
                f"DuckDB database {path!r} is not a file; only a connection an admin"
                " set allow_external_access on may open one",
                path=path,
            )
        return path
    real = reach.check_path(path, "DuckDB database")
    for suffix in SIDE_FILES:
        reach.check_path(real + suffix, "DuckDB database file")
    return real


def check_engine_paths(con: duckdb.DuckDBPyConnection, reach: Reach) -> None:
    """Vet every file and folder DuckDB lets this locked session's SQL use, as DuckDB lists
    them: the files `database_to_open` vetted, and any a DuckDB version adds beside them."""
    paths, folders = con.execute(
        "SELECT current_setting('allowed_paths'), current_setting('allowed_directories')"
    ).fetchone() or ([], [])
    for path in [*paths, *folders]:
        reach.check_path(path, "DuckDB database file")


def connect_database(
    path: str, config: dict[str, Any], *, external_access: bool
) -> duckdb.DuckDBPyConnection:
    """A connection to a vetted database file (or `:memory:`), locked unless `external_access`.

    DuckDB shares one instance per file and process among connections opened with the
    same configuration, and refuses one with another: a locked and an unlocked session
    on the same file cannot be open at once (the second fails, it never gets the first's
    instance). Opening and locking happen under one lock, so no connection is handed
    out while the shared instance is still unlocked.
    """
    if external_access:
        return duckdb.connect(path, config=config)
    if path == ":memory:":
        return scratch(config=config)
    with _OPEN_LOCK:
        con = duckdb.connect(path, config={**config, "enable_external_access": False})
        try:
            if not is_locked(con):
                con.execute("SET GLOBAL TimeZone = 'UTC'")
                con.execute("SET lock_configuration = true")
        except BaseException:
            con.close()
            raise
    return con


def scratch(
    files: Sequence[str] = (),
    *,
    external_access: bool = False,
    config: dict[str, Any] | None = None,
) -> duckdb.DuckDBPyConnection:
    """An in-memory session in UTC whose SQL may read `files` (resolved paths) and nothing else.

    With `external_access` it is a plain session, as DuckDB opens one.
    """
    con = duckdb.connect(config=config or {})
    try:
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        if external_access:
            return con
        folder = os.path.join(_scratch_root(), uuid.uuid4().hex)
        con.execute("SET temp_directory = ?", [folder])
        con.execute("SET allowed_paths = ?", [list(files)])
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    # DuckDB removes its own spill files, not the folder nor what SQL wrote into it.
    weakref.finalize(con, shutil.rmtree, folder, True)
    return con


def is_locked(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the session's configuration is locked (its SQL cannot change settings)."""
    row = con.execute("SELECT current_setting('lock_configuration')").fetchone()
    return bool(row and row[0])


def map_error(exc: Exception, what: str = "") -> errors.ConveyorError:
    """The Conveyor error a DuckDB failure means; `what` names the table or query."""
    if isinstance(exc, errors.ConveyorError):
        return exc
    message = str(exc)
    prefix = f"{what}: " if what else ""
    if isinstance(exc, duckdb.PermissionException) or _LOCKED_OUT.search(message):
        return statement_refused(prefix + message.splitlines()[0])
    if isinstance(exc, duckdb.ConnectionException) and "different configuration" in message:
        return errors.SourceUnavailable(
            f"{prefix}the database is open in this process with other settings (another"
            " connection with other options or another access): try again when it is closed"
        )
    if isinstance(exc, duckdb.CatalogException) and "does not exist" in message:
        return errors.TableNotFound(prefix + message.splitlines()[0])
    if isinstance(exc, duckdb.IOException):
        return errors.SourceUnavailable(prefix + message)
    if isinstance(exc, (duckdb.ParserException, duckdb.BinderException, duckdb.CatalogException)):
        return errors.ConfigurationError(prefix + message)
    if isinstance(exc, (duckdb.ConversionException, duckdb.ConstraintException)):
        return errors.DataError(prefix + message)
    if isinstance(exc, duckdb.InvalidInputException):
        return errors.DataError(prefix + message)
    return errors.ConnectorError(prefix + message)


def affected_rows(result: duckdb.DuckDBPyConnection) -> int:
    """Rows a DuckDB statement changed, when it says (else -1)."""
    description = result.description or []
    if len(description) == 1 and description[0][0] == "Count":
        row = result.fetchone()
        return int(row[0]) if row else -1
    return -1


def query_reader(
    con: duckdb.DuckDBPyConnection, query: str, batch_size: int
) -> pa.RecordBatchReader:
    """A query's rows on `con` as Arrow batches of `batch_size` rows (DuckDB's exact types)."""
    relation = con.sql(query)
    if relation is None:
        raise errors.ConfigurationError("read needs a query that returns rows")
    return relation.to_arrow_reader(max(1, batch_size))


def closing_reader(
    reader: pa.RecordBatchReader,
    close: Callable[[], object],
    error: Callable[[duckdb.Error], errors.ConveyorError] = map_error,
) -> pa.RecordBatchReader:
    """`reader`, calling `close` once it is exhausted, fails or is dropped, and raising the
    Conveyor `error` of a DuckDB failure met on the way."""

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from reader
        except duckdb.Error as exc:
            raise error(exc) from exc
        finally:
            close()

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


def stream(con: duckdb.DuckDBPyConnection, query: str, batch_size: int) -> pa.RecordBatchReader:
    """Stream a query's rows as Arrow batches of `batch_size` rows on `con`, which the read
    then owns: it is closed when the rows are read, or at once when the query fails."""
    try:
        reader = query_reader(con, query, batch_size)
    except duckdb.Error as exc:
        con.close()
        raise map_error(exc) from exc
    except BaseException:
        con.close()
        raise
    return closing_reader(reader, con.close)


def _scratch_root() -> str:
    """A folder only this process may use (mode 0700), made on first need, removed at exit."""
    global _ROOT
    with _OPEN_LOCK:
        if _ROOT is None or _ROOT[0] != os.getpid():  # a forked child makes its own
            path = tempfile.mkdtemp(prefix="conveyor-duckdb-")
            atexit.register(shutil.rmtree, path, True)
            _ROOT = (os.getpid(), path)
        return _ROOT[1]
