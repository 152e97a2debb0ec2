"""Files: what export runs wrote, listed, described and downloaded.

for f in client.files.iter(run_id=run.id):
    client.files.download(f.id, f"/tmp/{f.filename}")
"""

from __future__ import annotations

from pathlib import Path

from conveyor.client.collection import AsyncReadable, Calls, Readable
from conveyor.schemas.files import FileOut


class FileCalls(Calls[FileOut]):
    """The requests of `/api/v1/files`."""

    path = "/api/v1/files"
    out = FileOut


class Files(FileCalls, Readable[FileOut]):
    """`client.files`: list (`run_id=…`, `job_id=…`), get, and download."""

    def download(self, key: str, target: str | Path) -> Path:
        """Stream the file's bytes into `target`; the path written."""
        return self._t.download(f"{self.path}/{key}/download", Path(target))


class AsyncFiles(FileCalls, AsyncReadable[FileOut]):
    """`AsyncClient.files`: `Files`' methods, awaited."""

    async def download(self, key: str, target: str | Path) -> Path:
        """Stream the file's bytes into `target`; the path written."""
        return await self._t.download(f"{self.path}/{key}/download", Path(target))
