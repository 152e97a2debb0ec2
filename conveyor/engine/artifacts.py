"""The files an export run leaves in its artifact folder, described for the store.

An export run writes each task's table as a file into its own folder. Before the first
task of an attempt the folder is emptied — unless the run resumes (its worker shut
down), when the files of the tasks it already completed are kept. When the run ends the
engine describes what is there — path, size, SHA-256, media type — and reports it with
the outcome, so that the worker records the files in the same transaction that makes
the run final: a client that sees the run done always finds its files.

Only regular files are described: hidden files (temporaries, staging tables) and
symbolic links are left out, so nothing outside the folder can be passed off as a result.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from conveyor.connectors.files.formats import EXTENSIONS, MIME_TYPES, WRITE_ONLY
from conveyor.engine.spec import RunSpec

CHUNK = 1 << 20
DEFAULT_MIME = "application/octet-stream"


def is_export(spec: RunSpec) -> bool:
    """Whether the run writes files into its artifact folder."""
    return spec.destination is None and bool(spec.export_format) and bool(spec.artifacts_dir)


def prepare(spec: RunSpec) -> None:
    """An empty artifact folder for a new attempt; the existing one for a resumed run."""
    if not is_export(spec):
        return
    folder = Path(str(spec.artifacts_dir))
    if not spec.resumed:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def mime_type(filename: str) -> str:
    """The media type of a file Conveyor writes, by its extension."""
    extension = os.path.splitext(filename)[1].lower()
    fmt = EXTENSIONS.get(extension) or WRITE_ONLY.get(extension)
    return MIME_TYPES.get(fmt or "", DEFAULT_MIME)


def sha256_of(path: str) -> str:
    """The file's SHA-256, read in chunks (memory stays flat for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def describe(folder: str) -> list[dict[str, Any]]:
    """Every visible regular file under `folder`: relative path, size, sha256, mime type."""
    found: list[dict[str, Any]] = []
    for current, directories, names in os.walk(folder, followlinks=False):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        for name in sorted(names):
            path = os.path.join(current, name)
            info = os.lstat(path)
            if name.startswith(".") or not stat.S_ISREG(info.st_mode):
                continue
            relative = Path(os.path.relpath(path, folder)).as_posix()
            found.append(
                {
                    "path": relative,
                    "size": info.st_size,
                    "sha256": sha256_of(path),
                    "mime_type": mime_type(name),
                }
            )
    return found
