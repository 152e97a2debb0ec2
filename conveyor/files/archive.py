"""A ZIP of a run's files, produced while it is sent: no temporary file, flat memory.

`zipfile` writes to a sink that is not seekable, so it uses data descriptors (sizes and
CRC after each entry's data) and never goes back; each file is read a megabyte at a
time and whatever the archive has produced so far is handed to the response. Text
formats are deflated (fast level: the network is rarely slower than level 1), formats
that are compressed already (xlsx, parquet) are stored. ZIP64 is used where a file
needs it, so exports beyond 4 GiB work too.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from conveyor.files.store import relative_path

CHUNK = 1 << 20
STORED_TYPES = frozenset(
    {
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.apache.parquet",
        "application/zip",
        "application/gzip",
    }
)


@dataclass(frozen=True)
class Entry:
    """One file of an archive: its name inside it, where it is, what it is."""

    name: str
    path: Path
    size: int
    mime_type: str


class _Sink(io.RawIOBase):
    """Collects what `zipfile` writes until the response takes it."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def _info(entry: Entry) -> zipfile.ZipInfo:
    stamp = time.localtime(max(os.stat(entry.path).st_mtime, 315_532_800 + 86_400))  # ≥ 1980
    info = zipfile.ZipInfo(relative_path(entry.name), date_time=stamp[:6])
    info.file_size = entry.size
    info.external_attr = 0o644 << 16
    if entry.mime_type in STORED_TYPES:
        info.compress_type = zipfile.ZIP_STORED
    else:
        info.compress_type = zipfile.ZIP_DEFLATED
        for name in ("compress_level", "_compresslevel"):  # 3.13 renamed it
            if hasattr(info, name):
                setattr(info, name, 1)
                break
    return info


def stream(entries: Sequence[Entry]) -> Iterator[bytes]:
    """The ZIP archive of `entries`, in chunks of about a megabyte."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        for entry in entries:
            with (
                open(entry.path, "rb") as source,
                archive.open(_info(entry), "w", force_zip64=entry.size >= 0x7FFF_FFFF) as target,
            ):
                while chunk := source.read(CHUNK):
                    target.write(chunk)
                    if data := sink.take():
                        yield data
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data
