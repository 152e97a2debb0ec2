"""The artifact store: run files on disk under `<data dir>/files/<run id>/`, rows in `files`.

A file's row holds its path relative to its run's folder. Every way in — recording what
an engine reported, resolving a row to read it, naming a ZIP entry — goes through
`relative_path`, which only lets plain relative paths through (no `..`, no absolute
path, no backslash, no NUL, no hidden segment), and `resolve`, which also follows
symbolic links and refuses anything that lands outside the run's folder. Folders are
removed only after the transaction that forgot their run commits, so a rollback never
loses a file whose row survives.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import delete, event
from sqlalchemy.orm import Session

from conveyor.domain import utcnow
from conveyor.errors import InvalidInput, NotFound
from conveyor.store.models import File, Run

log = logging.getLogger(__name__)
DISCARD_KEY = "conveyor_discard_folders"


def relative_path(path: str) -> str:
    """`path` if it is a plain relative path inside a folder, else InvalidInput."""
    bad = (
        not path
        or "\\" in path
        or "\0" in path
        or path.startswith("/")
        or PurePosixPath(path).is_absolute()
        or any(part in ("", ".", "..") or part.startswith(".") for part in path.split("/"))
    )
    if bad:
        raise InvalidInput(f"{path!r} is not a file path inside a run's folder", field="path")
    return path


def run_folder(files_dir: Path | str, run_id: str) -> Path:
    """The folder of a run's files (the run id is one plain path segment)."""
    relative_path(run_id)
    if "/" in run_id:
        raise InvalidInput(f"{run_id!r} is not a run id", field="run_id")
    return Path(files_dir) / run_id


def resolve(files_dir: Path | str, run_id: str, path: str) -> Path:
    """The regular file at `path` in a run's folder, symbolic links resolved; 404 otherwise."""
    folder = run_folder(files_dir, run_id)
    candidate = folder / relative_path(path)
    real_folder, real = os.path.realpath(folder), os.path.realpath(candidate)
    if os.path.commonpath([real_folder, real]) != real_folder:
        raise NotFound(f"file {path!r} is outside its run's folder")
    try:
        info = os.stat(real)
    except FileNotFoundError:
        raise NotFound(
            f"file {path!r} of run {run_id} is no longer in the artifact store"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise NotFound(f"{path!r} of run {run_id} is not a file")
    return Path(real)


def record(session: Session, run: Run, files: Sequence[Mapping[str, Any]]) -> list[File]:
    """Replace the run's file rows with what its engine reported (paths checked)."""
    session.execute(delete(File).where(File.run_id == run.id))
    now = utcnow()  # one creation time for the files of one run
    rows = []
    for reported in files:
        try:
            path = relative_path(str(reported["path"]))
        except InvalidInput:
            log.warning("run %s reported a file outside its folder: %r", run.id, reported["path"])
            continue
        rows.append(
            File(
                workspace_id=run.workspace_id,
                run_id=run.id,
                job_id=run.job_id,
                path=path,
                filename=PurePosixPath(path).name,
                mime_type=str(reported.get("mime_type") or "application/octet-stream"),
                size=int(reported["size"]),
                sha256=str(reported["sha256"]),
                created_by=run.created_by,
                created_at=now,
            )
        )
    session.add_all(rows)
    return rows


def discard_after_commit(session: Session, files_dir: Path | str, run_ids: Iterable[str]) -> None:
    """Remove the runs' folders once the session's transaction commits (never before)."""
    folders = session.info.setdefault(DISCARD_KEY, [])
    for run_id in run_ids:
        folders.append(run_folder(files_dir, run_id))


def remove_folder(folder: Path) -> None:
    """Delete a run's folder and everything in it (gone already is fine)."""
    shutil.rmtree(folder, ignore_errors=True)


def remove_file(files_dir: Path | str, run_id: str, path: str) -> None:
    """Delete one file of a run's folder, and the folder when it is left empty."""
    folder = run_folder(files_dir, run_id)
    target = folder / relative_path(path)
    target.unlink(missing_ok=True)
    for parent in target.parents:
        if parent == folder.parent:
            break
        try:
            parent.rmdir()
        except OSError:
            break


@event.listens_for(Session, "after_commit")
def _discard_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the transaction goes on
        return
    for folder in session.info.pop(DISCARD_KEY, []):
        remove_folder(folder)


@event.listens_for(Session, "after_rollback")
def _keep_rolled_back(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(DISCARD_KEY, None)
