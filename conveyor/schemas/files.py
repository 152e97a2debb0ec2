"""Response bodies of files (the artifacts runs write)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field, computed_field

from conveyor.schemas.common import OutModel


class FileOut(OutModel):
    """A file a run wrote: what it is, who made it, and where to download it."""

    id: str
    workspace_id: str
    run_id: str
    job_id: str | None
    path: str = Field(description="Relative to the run's folder; a sub-folder is a schema.")
    filename: str
    mime_type: str
    size: int = Field(description="Bytes.")
    sha256: str = Field(description="Hex SHA-256 of the content (also the download's ETag).")
    created_by: str | None = Field(description="The user who started the run.")
    created_at: dt.datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def download_url(self) -> str:
        """Where the file's bytes are (Range requests accepted)."""
        return f"/api/v1/files/{self.id}/download"


class FormatOut(OutModel):
    """A format an export can write, and the modalities it supports."""

    name: str = Field(description="What `format` and `export_format` take.")
    extension: str
    mime_type: str
    modalities: list[str] = Field(
        description="tabular (flat rows), nested (lists and structs kept), typed (exact "
        "types kept: decimals, zoned timestamps, binary), spreadsheet (opens in Excel)."
    )
