"""Sending a download: one file as it is (with Range requests), or a ZIP as it is made.

Shared by the native API and the facades, so that every surface answers a download the
same way: the file's media type, a `Content-Disposition` whose name cannot point
anywhere (separators, quotes and control characters replaced; non-ASCII names as
RFC 6266 `filename*`), the SHA-256 as `ETag` (so `If-Range` works) and as RFC 9530
`Repr-Digest`. Ranges, `206` and `416` are Starlette's `FileResponse`.
"""

from __future__ import annotations

import base64
import os
import re
from typing import Any
from urllib.parse import quote

from starlette.responses import FileResponse, Response, StreamingResponse

from conveyor.files import archive
from conveyor.services.files import Download

_NOT_ASCII_SAFE = re.compile(r"[^A-Za-z0-9._ ()+-]")
_NEVER = re.compile(r'[\x00-\x1f\x7f/\\"%;]')


def responses(what: str, more: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of a download route: `what` is sent in its own media type
    (a file's, or `application/zip`), in part for a Range request; `more` adds statuses
    (their bodies are the surface's errors, which `api.contract` adds)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        200: {"description": what, "content": {"*/*": binary}},
        206: {"description": "The part a Range request asked for.", "content": {"*/*": binary}},
        **{status: {"description": text} for status, text in (more or {}).items()},
    }


def disposition(filename: str, kind: str = "attachment") -> str:
    """A Content-Disposition header value that names a plain file."""
    plain = _NEVER.sub("_", filename).strip(" .") or "download"
    fallback = _NOT_ASCII_SAFE.sub("_", plain)
    value = f'{kind}; filename="{fallback}"'
    if fallback != plain:
        value += f"; filename*=UTF-8''{quote(plain, safe='')}"
    return value


def send(download: Download) -> Response:
    """The HTTP response of a download."""
    headers = {"Content-Disposition": disposition(download.filename)}
    if download.archive:
        return StreamingResponse(
            archive.stream(download.entries), media_type=download.media_type, headers=headers
        )
    assert download.path is not None
    if download.sha256:
        headers["ETag"] = f'"{download.sha256}"'
        digest = base64.b64encode(bytes.fromhex(download.sha256)).decode()
        headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return FileResponse(
        download.path,
        media_type=download.media_type,
        headers=headers,
        stat_result=os.stat(download.path),
    )
