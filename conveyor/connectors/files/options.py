"""Options of `file://` connections, declared cheaply for the registry."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

FileFormat = Literal["csv", "parquet", "json", "ndjson", "xlsx"]


class FileOptions(BaseModel):
    """Options of `file:///dir?format=…` connections (options override the URL query)."""

    model_config = ConfigDict(extra="forbid")

    format: FileFormat | None = Field(
        default=None, description="File format; default from ?format= or each file's extension."
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")
    header: bool = Field(default=True, description="Whether CSV files have a header row.")
    compression: Literal["none", "gzip", "zstd", "snappy"] | None = Field(
        default=None, description="Compression of written files (parquet: snappy by default)."
    )
