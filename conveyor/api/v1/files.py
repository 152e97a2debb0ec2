"""Routes of /api/v1/files: the files runs wrote, and their bytes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from conveyor.api import downloads
from conveyor.api.deps import RT, Caller, UnitRoute
from conveyor.api.v1.collections import Collection, add_routes
from conveyor.schemas.common import Page
from conveyor.schemas.files import FileOut, FormatOut
from conveyor.services import exports, files

router = APIRouter(route_class=UnitRoute, prefix="/files", tags=["files"])
DOWNLOAD = downloads.responses("The file's bytes; 206 for a Range request, 416 past its end.")


@router.get("/formats", response_model=Page[FormatOut])
def export_formats(
    modalities: Annotated[
        list[str] | None,
        Query(
            description="Only the formats supporting every modality named (repeated, or "
            "comma-separated): tabular, nested, typed, spreadsheet."
        ),
    ] = None,
) -> Page[FormatOut]:
    """The formats an export job (or one run of it, `format`) can write."""
    asked = [part for raw in modalities or () for part in raw.split(",")]
    items = [
        FormatOut(
            name=f.name,
            extension=f.extension,
            mime_type=f.mime_type,
            modalities=sorted(f.modalities),
        )
        for f in exports.formats(asked)
    ]
    return Page(items=items, total=len(items), limit=len(items), offset=0)


add_routes(router, Collection.of("file", files, FileOut, delete=False, sort="-created_at"))


@router.get("/{file_id}/download", response_class=Response, responses=DOWNLOAD)
def download_file(rt: RT, caller: Caller, file_id: str) -> Response:
    # Its own short transaction: the bytes are sent after it ended, holding no lock.
    with rt.unit(caller, read_only=True) as ctx:
        download = files.download_file(ctx, file_id)
    return downloads.send(download)
