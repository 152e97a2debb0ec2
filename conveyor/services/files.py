"""Files: what runs wrote, listed, looked up and handed out for download.

A download is decided here and sent by the HTTP layer: one file at the top of a run's
folder goes out as it is; several files, or files in sub-folders, go out as one ZIP
streamed while it is made. A run's result can be downloaded once the run completed —
before that, or after it failed or was canceled, the answer is 409, so a client never
mistakes a partial result for a whole one. Files themselves (by id) are always
downloadable while they exist: they are only recorded when their run ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from conveyor.domain import RunStatus
from conveyor.errors import Conflict, NotFound
from conveyor.files import store
from conveyor.files.archive import Entry
from conveyor.schemas.files import FileOut
from conveyor.services import listing, lookup, runs
from conveyor.services.context import Context
from conveyor.store.models import File, Run

FIELDS = {
    "id": File.id,
    "run_id": File.run_id,
    "job_id": File.job_id,
    "workspace_id": File.workspace_id,
    "path": File.path,
    "filename": File.filename,
    "mime_type": File.mime_type,
    "size": File.size,
    "sha256": File.sha256,
    "created_by": File.created_by,
    "created_at": File.created_at,
}
ZIP_TYPE = "application/zip"


@dataclass(frozen=True)
class Download:
    """What to send: one file as it is (`path`), or a ZIP of `entries`."""

    filename: str
    media_type: str
    path: Path | None = None
    size: int = 0
    sha256: str | None = None
    entries: tuple[Entry, ...] = ()

    @property
    def archive(self) -> bool:
        """Whether this is a ZIP made on the fly."""
        return self.path is None


def get(ctx: Context, file_id: str) -> File:
    """A visible file, or 404."""
    return lookup.get(ctx, File, file_id, "file")


def to_out(row: File) -> FileOut:
    """The file as shown, with where to download it."""
    return FileOut.model_validate(row)


def list_by(
    ctx: Context, params: listing.ListParams, run_id: str | None = None
) -> listing.Paged[File]:
    """Visible files, newest first by default (filters and sort by `FIELDS`)."""
    statement = lookup.visible(ctx, select(File), File.workspace_id)
    if run_id is not None:
        statement = statement.where(File.run_id == runs.get(ctx, run_id).id)
    return listing.page(ctx.session, listing.apply(statement, params, FIELDS), params)


def list_(ctx: Context, query: Mapping[str, str], run_id: str | None = None) -> listing.Paged[File]:
    """`list_by` with the native API's query parameters."""
    return list_by(ctx, listing.ListParams.parse(query), run_id)


def of_run(ctx: Context, run_id: str) -> list[FileOut]:
    """A visible run's files in path order."""
    run = runs.get(ctx, run_id)
    found = ctx.session.scalars(select(File).where(File.run_id == run.id).order_by(File.path))
    return [to_out(row) for row in found]


def ensure_done(run: Run) -> None:
    """409 unless the run completed: its result is whole only then."""
    status = RunStatus(run.status)
    if not status.is_final:
        raise Conflict(
            f"run {run.id} is {status.value}: its files can be downloaded once it has completed",
            run_status=status.value,
        )
    if status is not RunStatus.completed:
        reason = f": {run.error}" if run.error else ""
        raise Conflict(
            f"run {run.id} ended with status {status.value}{reason}; it has no result to download",
            run_status=status.value,
        )


def of_file(ctx: Context, row: FileOut) -> Download:
    """One file, as it is."""
    path = store.resolve(ctx.settings.files_dir, row.run_id, row.path)
    return Download(row.filename, row.mime_type, path, row.size, row.sha256)


def bundle(ctx: Context, run: Run, rows: Sequence[FileOut], archive: bool = False) -> Download:
    """A run's result: its single top-level file as it is, else a ZIP of all of them."""
    if not rows:
        raise NotFound(f"run {run.id} wrote no files")
    if len(rows) == 1 and "/" not in rows[0].path and not archive:
        return of_file(ctx, rows[0])
    entries = tuple(
        Entry(
            row.path,
            store.resolve(ctx.settings.files_dir, run.id, row.path),
            row.size,
            row.mime_type,
        )
        for row in rows
    )
    return Download(f"{run.job_name or 'export'}.zip", ZIP_TYPE, entries=entries)


def download_run(ctx: Context, run_id: str, archive: bool = False) -> Download:
    """A completed run's result (409 before, or when it failed; 404 when it wrote nothing)."""
    run = runs.get(ctx, run_id)
    ensure_done(run)
    return bundle(ctx, run, of_run(ctx, run.id), archive)


def download_file(ctx: Context, file_id: str) -> Download:
    """One file by id."""
    return of_file(ctx, to_out(get(ctx, file_id)))
