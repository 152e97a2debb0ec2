"""The file connector: a folder of csv, parquet, json, ndjson or xlsx files, one table per file.

Queries run in an in-memory DuckDB where each file the query names is a view named after
the file's stem. Writes stream into a hidden temporary file that replaces the table's
file atomically on close; engine staging tables (`_conveyor_…`) are hidden dot-files too.
A read opens each file once and DuckDB reads it through that descriptor
(`/proc/self/fd/N`), never by its name again: DuckDB opens a file several times in one
query (its footer as it binds, its data as it scans), and a swap between two of those
opens would hand it one version's footer and the other's bytes. So a reader sees the old
file or the new one, whole. Parquet keeps every
Arrow type; CSV and JSON keep what their text can (DuckDB infers types on read).
xlsx is written only (export jobs): a workbook is written whole, never read back.

Every file is vetted by the connection's `Reach` where it is opened, read, written or
removed (after symlinks and `..` are resolved), so a symlink placed in the folder later
is caught too; discovery skips files the reach refuses. A query's DuckDB session may
read exactly the vetted files its tables are, unless the connection has external access
(`duckdb_access`): `read_text('/etc/passwd')` in a query is refused.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from conveyor.connectors import base, sql
from conveyor.connectors.arrow_types import (
    projected_columns,
    restore,
    restored_schema,
    to_duckdb,
)
from conveyor.connectors.configured import Configured
from conveyor.connectors.duckdb_access import closing_reader, map_error, query_reader, scratch
from conveyor.connectors.files.formats import (
    EXTENSIONS,
    FORMATS,
    MIME_TYPES,
    WRITE_ONLY,
    check_name,
    parse_url,
    scan_sql,
)
from conveyor.connectors.files.options import FileOptions
from conveyor.connectors.files.sinks import AtomicWriter
from conveyor.connectors.type_map import Declared
from conveyor.errors import (
    ConfigurationError,
    InvalidInput,
    SourceUnavailable,
    TableNotFound,
    Unsupported,
)
from conveyor.policy import PathRefused

__all__ = ["EXTENSIONS", "FORMATS", "MIME_TYPES", "FileConnector", "check_name", "parse_url"]

INTERNAL_PREFIX = "_conveyor_"
"""Tables whose name starts with this (the engine's staging tables) are hidden dot-files."""
PRIMARY_KEY_METADATA = b"conveyor.primary_key"
READ_THREADS = 1
"""DuckDB threads of a read session. A read feeds one writer, which one parsing thread
outpaces; every further thread holds CSV buffers and out-of-order chunks of its own, so
memory grew with the machine's cores (382 MB for a CSV → PostgreSQL load on 2 cores)."""
PINNED = "/proc/self/fd"
"""Where Linux shows a process's open files: opening `PINNED/N` opens the very file that
descriptor N holds, even once another file has replaced it under its name. Elsewhere a
read names the file itself (and a swap mid-query can still fail it)."""
SETUP_ATTEMPTS = 5
"""Times a read is set up again when a file it opened was replaced while DuckDB bound the
query (DuckDB vets a pinned file by where it is, so it refuses one that was replaced)."""
_STAGED = re.compile(r"^_conveyor_stage_(.+)_[0-9a-f]{8}$")
"""A staging table's name: its xlsx sheet is named after the table it stages."""


class FileConnector(Configured[FileOptions]):
    """A folder of files: one table per file, queried with DuckDB, written atomically."""

    dialect = "duckdb"
    options_model = FileOptions

    def _configure(self) -> None:
        self.root, url_format = parse_url(self.url)
        self.format = self.options.format or url_format
        if self.options.compression not in (None, "none") and self.format not in (None, "parquet"):
            raise InvalidInput(
                "compression applies to parquet files only", field="options.compression"
            )
        self._layouts: dict[base.TableRef, base.TableSchema] = {}
        self._empty: set[base.TableRef] = set()  # created here and not written since

    # --- paths -------------------------------------------------------------------------

    def _folder(self, schema: str | None) -> str:
        return os.path.join(self.root, check_name(schema, "schema")) if schema else self.root

    def _file(self, table: base.TableRef, ext: str) -> str:
        """The table's file with extension `ext` (staging tables as hidden dot-files)."""
        name = check_name(table.name)
        hidden = "." if name.startswith(INTERNAL_PREFIX) else ""
        return os.path.join(self._folder(table.schema), f"{hidden}{name}{ext}")

    def _readable(self, path: str) -> str:
        """The resolved path of a file to read, once the reach allows it."""
        return self.reach.check_path(path, "file")

    def _writable(self, path: str) -> str:
        """The resolved path of a file to write or remove, once the reach allows it."""
        return self.reach.check_path(path, "file")

    def _make_folder(self, folder: str) -> None:
        """Create a destination folder (and the folders above it) once the reach allows it:
        a folder outside the reach is refused, never created."""
        self.reach.make_folder(folder)

    def _find(self, table: base.TableRef) -> tuple[str, str] | None:
        """The table's file and format, if it exists."""
        known = {**EXTENSIONS, **WRITE_ONLY} if self.format == "xlsx" else EXTENSIONS
        for ext, fmt in known.items():
            if self.format in (None, fmt) and os.path.isfile(path := self._file(table, ext)):
                return path, fmt
        return None

    def _locate(self, table: base.TableRef) -> tuple[str, str]:
        found = self._find(table)
        if found is None:
            raise TableNotFound(
                f"table {str(table)!r} does not exist in {self.root}", table=str(table)
            )
        return found

    def _require(self, table: base.TableRef) -> tuple[str, str]:
        """The table's file, to be read."""
        found = self._locate(table)
        if found[1] in WRITE_ONLY.values():
            raise Unsupported(f"reading {found[1]} files is not supported (Conveyor writes them)")
        return found

    def _write_format(self) -> str:
        return self.format or "parquet"

    # --- Connector ---------------------------------------------------------------------

    def targets(self) -> base.Targets:
        """The folder."""
        return base.Targets(paths=(self.root,))

    def test(self) -> None:
        """Check the folder is within reach, exists and can be read."""
        root = self.reach.check_path(self.root, "folder")
        if not os.path.isdir(root) or not os.access(root, os.R_OK | os.X_OK):
            raise SourceUnavailable(f"folder {self.root!r} does not exist or cannot be read")

    def close(self) -> None:
        """Nothing stays open between calls."""

    # --- Discoverable / Estimable ----------------------------------------------------------

    def list_tables(self) -> list[base.TableInfo]:
        """Every data file of the folder and of its sub-folders (schemas), hidden files aside.

        A file or sub-folder the reach refuses (a symlink out of the allowed folders) is
        left out, as if it were not there.
        """
        self.test()
        found: dict[base.TableRef, base.TableInfo] = {}
        folders = [(None, self.root)] + [
            (e.name, e.path)
            for e in os.scandir(self.root)
            if e.is_dir() and not e.name.startswith(".") and self._within_reach(e.path)
        ]
        for schema, folder in folders:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                stem, ext = os.path.splitext(entry.name)
                fmt = EXTENSIONS.get(ext.lower())
                if entry.name.startswith(".") or not entry.is_file() or fmt is None:
                    continue
                if (self.format and fmt != self.format) or not self._within_reach(entry.path):
                    continue
                ref = base.TableRef(stem, schema)
                rows = _parquet_rows(self._readable(entry.path)) if fmt == "parquet" else None
                found.setdefault(ref, base.TableInfo(ref, "file", rows))
        return sorted(found.values(), key=lambda t: t.ref)

    def _within_reach(self, path: str) -> bool:
        try:
            self.reach.check_path(path)
        except PathRefused:
            return False
        return True

    def table_exists(self, table: base.TableRef) -> bool:
        """Whether the table's file exists."""
        return self._find(table) is not None

    def columns(self, table: base.TableRef) -> list[base.ColumnInfo]:
        """The file's columns as a read returns them; parquet files also keep the primary key."""
        path, fmt = self._require(table)
        schema = self.read(sql.select_sql(table, None, "duckdb", limit=0), 1).schema
        keys = set(self._primary_key(table, path, fmt))
        stored = pq.read_schema(self._readable(path)) if fmt == "parquet" else pa.schema([])
        columns = []
        for f in schema:
            kept = stored.field(f.name) if f.name in stored.names else f
            columns.append(
                base.ColumnInfo(
                    f.name,
                    f.type,
                    str(f.type),
                    kept.nullable and f.name not in keys,
                    f.name in keys,
                    Declared.from_metadata(kept.metadata),
                )
            )
        return columns

    def _primary_key(self, table: base.TableRef, path: str, fmt: str) -> Sequence[str]:
        if table in self._layouts:
            return self._layouts[table].primary_key
        if fmt == "parquet":
            metadata = pq.read_schema(self._readable(path)).metadata or {}
            if PRIMARY_KEY_METADATA in metadata:
                return list(json.loads(metadata[PRIMARY_KEY_METADATA]))
        return ()

    def estimate_rows(self, table: base.TableRef) -> int | None:
        """Parquet files know their row count; text files would have to be read (None)."""
        path, fmt = self._require(table)
        return _parquet_rows(self._readable(path)) if fmt == "parquet" else None

    # --- Readable ------------------------------------------------------------------------

    def _set_up(self, query: str, session: _Session) -> None:
        """Give `session` an in-memory DuckDB with a view for each file the query names,
        each file pinned.

        The session may read those files (resolved, vetted, opened once) and no other,
        unless the connection has external access. On failure the caller closes it.
        """
        try:
            named = {
                base.TableRef(t.name, t.db or None)
                for t in sqlglot.parse_one(query, dialect="duckdb").find_all(exp.Table)
            }
        except sqlglot.errors.ParseError:
            named = {info.ref for info in self.list_tables()}
        for ref in sorted(named):
            with contextlib.suppress(InvalidInput):
                found = self._find(ref)
                if found is None:
                    continue
                path, fmt = found
                if fmt in WRITE_ONLY.values():
                    raise Unsupported(f"reading {fmt} files is not supported")
                session.files[ref] = self._pin(path, session), fmt
        session.con = scratch(
            [file.name for file, _ in session.files.values()],
            external_access=self.reach.external_access,
            config={"threads": READ_THREADS},
        )
        con = session.connection
        for i, (ref, (file, fmt)) in enumerate(session.files.items()):
            if ref.schema:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {sql.quote(ref.schema, 'duckdb')}")
            if fmt in ("json", "ndjson") and ref in self._layouts and _is_empty(file.name):
                # An empty JSON file has no columns; the layout it was made with has.
                empty = self._layouts[ref].arrow_schema.empty_table()
                con.register(f"__conveyor_empty_{i}", to_duckdb(empty))
                scan = sql.select_sql(base.TableRef(f"__conveyor_empty_{i}"), None, "duckdb")
            else:
                scan = scan_sql(file.name, fmt, self.options).sql(dialect="duckdb")
            con.execute(f"CREATE VIEW {sql.table_sql(ref, 'duckdb')} AS {scan}")

    def _pin(self, path: str, session: _Session) -> _Pinned:
        """Open a table's file (once the reach allows it) for the session to read."""
        resolved = self._readable(path)
        try:
            fd = os.open(resolved, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise TableNotFound(f"table file {path!r} is gone", table=path) from exc
        session.pins.callback(os.close, fd)
        if not os.path.isdir(PINNED):
            return _Pinned(resolved, fd, resolved)
        name = os.path.join(PINNED, str(fd))
        opened = os.readlink(name).removesuffix(" (deleted)")
        if opened != resolved:  # a folder on the way was swapped for a link since it was vetted
            self._readable(opened)
        return _Pinned(resolved, fd, name)

    def read(self, sql_text: str, batch_size: int) -> pa.RecordBatchReader:
        """Run a DuckDB SELECT over the folder's files, streamed in batches of `batch_size`.

        Each file is read as it was when the read began, whichever version replaces it
        meanwhile.
        """
        for attempt in range(1, SETUP_ATTEMPTS + 1):
            session = _Session()
            try:
                self._set_up(sql_text, session)
                reader = query_reader(session.connection, sql_text, batch_size)
                break
            except duckdb.Error as exc:
                again = attempt < SETUP_ATTEMPTS and session.replaced()  # while still open
                error = session.unpinned(exc)
                session.close()
                if again:
                    continue
                raise map_error(error) from exc
            except BaseException:
                session.close()
                raise

        result = closing_reader(reader, session.close, lambda exc: map_error(session.unpinned(exc)))
        return restore(result, self._stored_types(sql_text, result.schema, session))

    def _stored_types(self, query: str, output: pa.Schema, session: _Session) -> pa.Schema | None:
        """Parquet's exact types for the columns a query only projects (see `arrow_types`),
        from the very file the query reads."""
        projected = projected_columns(query)
        if projected is None:
            return None
        file, fmt = session.files.get(projected[0], (None, None))
        if file is None or fmt != "parquet":
            return None
        return restored_schema(output, projected[1], pq.read_schema(file.name))

    # --- Writable ------------------------------------------------------------------------

    def ensure_schema(self, schema: str) -> None:
        """A schema is a sub-folder."""
        self._make_folder(self._folder(check_name(schema, "schema")))

    def create_table(self, table: base.TableRef, layout: base.TableSchema) -> None:
        """Write an empty file with the layout's columns (header or schema) and remember it."""
        if self._find(table) is not None:
            raise ConfigurationError(f"table {str(table)!r} already exists")
        self._layouts[table] = layout
        self._open(table, layout.arrow_schema, keep_rows=False).close()
        self._empty.add(table)

    def open_writer(self, table: base.TableRef, schema: pa.Schema) -> base.BatchWriter:
        """Rewrite the table's file with its rows plus the written ones, swapped in on close."""
        _, fmt = self._locate(table)
        if fmt in WRITE_ONLY.values() and table not in self._empty:
            raise Unsupported(f"{fmt} files are written whole: appending to one is not supported")
        if fmt in WRITE_ONLY.values():
            self._empty.discard(table)
            return self._open(table, schema, keep_rows=False)
        return self._open(table, schema, keep_rows=True)

    def _with_key(self, table: base.TableRef, schema: pa.Schema) -> pa.Schema:
        """The schema with the table's primary key in its metadata (kept by parquet)."""
        found = self._find(table)
        keys = self._layouts[table].primary_key if table in self._layouts else ()
        if found and not keys:
            keys = tuple(self._primary_key(table, *found))
        if not keys:
            return schema
        return schema.with_metadata({PRIMARY_KEY_METADATA: json.dumps(list(keys)).encode()})

    def _as_laid_out(self, table: base.TableRef, schema: pa.Schema) -> pa.Schema:
        """The rows' schema with the layout's NOT NULL and declared types, where the
        table was created here with a layout of the same types."""
        layout = self._layouts.get(table)
        if layout is None:
            return schema
        laid_out = {c.name: c.field for c in layout.columns}
        fields = [
            laid_out[f.name] if f.name in laid_out and laid_out[f.name].type == f.type else f
            for f in schema
        ]
        return pa.schema(fields, metadata=schema.metadata)

    def _open(self, table: base.TableRef, schema: pa.Schema, *, keep_rows: bool) -> AtomicWriter:
        fmt = self._write_format()
        found = self._find(table)
        path = found[0] if found else self._file(table, "." + fmt)
        fmt = found[1] if found else fmt
        title = _STAGED.sub(r"\1", table.name)
        self._writable(path)
        if not found:  # a destination folder is made when its first file is written
            self._make_folder(os.path.dirname(path))
        schema = self._as_laid_out(table, schema)
        writer = AtomicWriter(path, fmt, self._with_key(table, schema), self.options, title)
        if keep_rows and found and (fmt != "parquet" or _parquet_rows(self._readable(path)) != 0):
            try:
                for batch in base.iterate_batches(
                    self.read(sql.select_sql(table, None, "duckdb"), 65_536)
                ):
                    writer.write(batch)
            except BaseException:
                writer.abort()
                raise
        return writer

    def replace_table(self, staging: base.TableRef, target: base.TableRef) -> None:
        """Rename the staging file onto the target's (atomic).

        A folder read in any format (no `format`) drops the target's files in other formats,
        which would otherwise shadow or double it; a folder of one format leaves them be:
        they are not its tables (an export writes one table in several formats).
        """
        path, _ = self._locate(staging)
        extension = os.path.splitext(path)[1]
        destination = self._file(target, extension)
        self._writable(path)
        self._writable(destination)
        self._make_folder(os.path.dirname(destination))
        os.replace(path, destination)
        if staging in self._layouts:
            self._layouts[target] = self._layouts.pop(staging)
        if staging in self._empty:
            self._empty.discard(staging)
            self._empty.add(target)
        if self.format is None:  # the table's files in other formats are this table too
            for other in set(EXTENSIONS) - {extension}:
                stale = self._file(target, other)
                if os.path.lexists(stale):
                    self._writable(stale)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(stale)

    def drop_table(self, table: base.TableRef) -> None:
        """Remove the table's file if there is one."""
        self._layouts.pop(table, None)
        self._empty.discard(table)
        while (found := self._find(table)) is not None:
            self._writable(found[0])
            os.remove(found[0])


@dataclass(frozen=True)
class _Pinned:
    """A table's file, held open for a read: DuckDB reads `name`, which is that open file."""

    path: str
    fd: int
    name: str

    def replaced(self) -> bool:
        """Whether another file has taken this one's name since it was opened."""
        try:
            return os.stat(self.path).st_ino != os.fstat(self.fd).st_ino
        except FileNotFoundError:
            return True


@dataclass
class _Session:
    """A read's DuckDB session and the files it holds open; closing it closes both."""

    con: duckdb.DuckDBPyConnection | None = None
    files: dict[base.TableRef, tuple[_Pinned, str]] = field(default_factory=dict)
    pins: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        if self.con is None:
            raise RuntimeError("the session's connection is not open yet")
        return self.con

    def close(self) -> None:
        if self.con is not None:
            self.con.close()
        self.pins.close()

    def replaced(self) -> bool:
        """Whether any of the files was replaced since the session opened it."""
        return any(file.replaced() for file, _ in self.files.values())

    def unpinned(self, exc: duckdb.Error) -> duckdb.Error:
        """The error with each pinned file named by its path again."""
        text = str(exc)
        for file, _ in self.files.values():
            if file.name != file.path:
                pieces = re.split(re.escape(file.name) + r"(?!\d)", text)
                text = file.path.join(pieces)
        return exc if text == str(exc) else type(exc)(text)


def _parquet_rows(path: str) -> int | None:
    """The row count in a parquet file's footer (None when it cannot be read)."""
    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except (OSError, pa.ArrowException):
        return None


def _is_empty(path: str) -> bool:
    """Whether a JSON file holds no row (`[]` or nothing)."""
    return os.path.getsize(path) <= len(b"[\n]\n")
