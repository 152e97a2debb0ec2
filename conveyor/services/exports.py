"""Exports: runs of export jobs started by key, and the formats they can write.

An export job has no destination connection: each of its tasks writes one file, in the
job's `export_format`, into the run's folder. A run may be asked for another format
than the job's (`format`), which it keeps in `runs.export_format`.

Formats are offered per *modality* — what the exported data or its reader needs from a
format:

- `tabular`: flat rows and columns (every format);
- `nested`: lists and structs kept as structures rather than JSON text (parquet, json,
  ndjson);
- `typed`: exact types kept — decimals, zoned timestamps, binary (parquet);
- `spreadsheet`: opens directly in Excel or LibreOffice (xlsx, csv).

A format is offered for a set of modalities when it supports all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from conveyor.connectors.files.formats import FORMATS, MIME_TYPES
from conveyor.domain import RunLoad, TriggerMethod
from conveyor.errors import InvalidInput, NotFound
from conveyor.services import audit, lookup, runs
from conveyor.services.context import Context
from conveyor.store.models import Job, Run

MODALITIES: dict[str, str] = {
    "tabular": "flat rows and columns",
    "nested": "lists and structs kept as structures, not as JSON text",
    "typed": "exact types kept: decimals, timestamps with their zone, binary",
    "spreadsheet": "opens directly in Excel or LibreOffice",
}


@dataclass(frozen=True)
class Format:
    """A file format an export can be written in."""

    name: str
    extension: str
    mime_type: str
    modalities: frozenset[str]


FORMAT_MODALITIES = {
    "csv": {"tabular", "spreadsheet"},
    "xlsx": {"tabular", "spreadsheet"},
    "parquet": {"tabular", "nested", "typed"},
    "json": {"tabular", "nested"},
    "ndjson": {"tabular", "nested"},
}
ALL_FORMATS = tuple(
    Format(name, f".{name}", MIME_TYPES[name], frozenset(FORMAT_MODALITIES[name]))
    for name in FORMATS
)


def formats(modalities: Iterable[str] = ()) -> list[Format]:
    """The formats that support every one of `modalities` (all of them when none is
    named; 422 for an unknown one)."""
    wanted = {m.strip() for m in modalities if m.strip()}
    unknown = sorted(wanted - set(MODALITIES))
    if unknown:
        raise InvalidInput(
            f"unknown modalities {', '.join(unknown)}; known: {', '.join(MODALITIES)}",
            field="modalities",
        )
    return [f for f in ALL_FORMATS if wanted <= f.modalities]


def job_by_key(ctx: Context, key: str) -> Job:
    """A visible job by id or by external key, or 404."""
    return lookup.find(ctx, Job, key, "job", by=Job.external_key)


def run_of_job(ctx: Context, job_id: str, run_id: str) -> Run:
    """A run of that job, or 404 (a run of another job is not found here)."""
    try:
        run = runs.get(ctx, run_id)
    except NotFound:
        raise NotFound(f"process {run_id} of job {job_id} not found") from None
    if run.job_id != job_id:
        raise NotFound(f"process {run_id} of job {job_id} not found")
    return run


def start(
    ctx: Context,
    key: str,
    fmt: str | None = None,
    trigger: TriggerMethod = TriggerMethod.on_demand,
    *,
    exports_only: bool = False,
    key_field: str = "job_id",
) -> Run:
    """Queue a run of the job `key` (id or external key), optionally in another format.

    With `exports_only`, the job must be an export job: a job that copies into a
    connection writes no file to download (so does a format asked of it, `runs.execute`).
    """
    ctx.principal.require_write()
    job = job_by_key(ctx, key)
    if exports_only and job.destination_connection_id is not None:
        raise InvalidInput(
            f"job {job.name!r} copies into a connection; only export jobs (no "
            "destination_connection_id) write files",
            field=key_field,
        )
    fmt = runs.export_format(job, fmt, key_field)
    run = runs.enqueue(ctx, job, None, RunLoad.incremental, None, trigger, fmt)
    audit.note(job.id, job.workspace_id)
    return run
