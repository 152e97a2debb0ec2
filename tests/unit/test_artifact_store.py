"""The artifact store's path rules, the engine's description of a folder, ZIP streaming,
and download names: nothing can place or read a file outside a run's folder."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path

import pytest

from conveyor.api.downloads import disposition
from conveyor.engine import artifacts
from conveyor.errors import InvalidInput, NotFound
from conveyor.files import archive, store

EVIL_PATHS = [
    "../outside.csv",
    "a/../../outside.csv",
    "/etc/passwd",
    "a\\..\\b.csv",
    "nul\0byte.csv",
    ".hidden.csv",
    "a//b.csv",
    "./a.csv",
    "",
    "..",
]


@pytest.mark.parametrize("path", EVIL_PATHS)
def test_relative_paths_stay_inside(path: str) -> None:
    with pytest.raises(InvalidInput):
        store.relative_path(path)


def test_plain_paths_and_encoded_separators_are_just_names() -> None:
    assert store.relative_path("orders.csv") == "orders.csv"
    assert store.relative_path("sales/orders.csv") == "sales/orders.csv"
    # Nothing decodes a stored path: %2F is three characters of one file name.
    assert store.relative_path("a%2F..%2Fb.csv") == "a%2F..%2Fb.csv"


@pytest.mark.parametrize("run_id", ["../x", "a/b", "/abs", "..", "a\\b", "x\0y", ""])
def test_run_ids_are_one_segment(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(InvalidInput):
        store.run_folder(tmp_path, run_id)


def test_resolve_refuses_links_out_of_the_folder(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("nope")
    folder = tmp_path / "files" / "run1"
    folder.mkdir(parents=True)
    (folder / "ok.csv").write_text("a\n")
    os.symlink(secret, folder / "link.csv")
    os.symlink(tmp_path, folder / "up")
    assert store.resolve(tmp_path / "files", "run1", "ok.csv") == (folder / "ok.csv").resolve()
    for path in ("link.csv", "up/secret.txt"):
        with pytest.raises(NotFound, match="outside"):
            store.resolve(tmp_path / "files", "run1", path)
    with pytest.raises(NotFound, match="no longer"):
        store.resolve(tmp_path / "files", "run1", "gone.csv")
    for path in ("../secret.txt", "%2E%2E/secret.txt"):
        with pytest.raises((InvalidInput, NotFound)):
            store.resolve(tmp_path / "files", "run1", path)


def test_remove_file_takes_emptied_folders_along(tmp_path: Path) -> None:
    folder = tmp_path / "run1" / "sub"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text("x")
    store.remove_file(tmp_path, "run1", "sub/a.csv")
    assert not (tmp_path / "run1").exists() and tmp_path.exists()


def test_describe_lists_visible_regular_files_only(tmp_path: Path) -> None:
    (tmp_path / "orders.xlsx").write_bytes(b"x" * 10)
    (tmp_path / "sales").mkdir()
    (tmp_path / "sales" / "items.csv").write_text("a,b\n")
    (tmp_path / ".orders.xlsx.1234.tmp").write_text("partial")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.csv").write_text("x")
    os.symlink("/etc/passwd", tmp_path / "passwd.csv")
    found = artifacts.describe(str(tmp_path))
    assert [f["path"] for f in found] == ["orders.xlsx", "sales/items.csv"]
    assert found[0]["size"] == 10
    assert found[0]["sha256"] == hashlib.sha256(b"x" * 10).hexdigest()
    assert found[0]["mime_type"].endswith("spreadsheetml.sheet")
    assert found[1]["mime_type"] == "text/csv"


def test_zip_streams_entries_with_their_folders(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"id,name\n" * 200_000)
    (tmp_path / "b.xlsx").write_bytes(os.urandom(3_000_000))
    entries = [
        archive.Entry("a.csv", tmp_path / "a.csv", 1_600_000, "text/csv"),
        archive.Entry(
            "sub/b.xlsx",
            tmp_path / "b.xlsx",
            3_000_000,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
    ]
    chunks = list(archive.stream(entries))
    assert len(chunks) > 2 and max(len(c) for c in chunks) < 4 * archive.CHUNK
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as result:
        assert result.testzip() is None
        infos = {i.filename: i for i in result.infolist()}
        assert set(infos) == {"a.csv", "sub/b.xlsx"}
        assert infos["a.csv"].compress_type == zipfile.ZIP_DEFLATED
        assert infos["sub/b.xlsx"].compress_type == zipfile.ZIP_STORED
        assert result.read("sub/b.xlsx") == (tmp_path / "b.xlsx").read_bytes()


def test_zip_entries_cannot_climb(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("x")
    with pytest.raises(InvalidInput):
        list(archive.stream([archive.Entry("../a.csv", tmp_path / "a.csv", 1, "text/csv")]))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orders.csv", 'attachment; filename="orders.csv"'),
        ("../../etc/passwd", 'attachment; filename="_.._etc_passwd"'),
        ('a"b\r\nc.csv', 'attachment; filename="a_b__c.csv"'),
        ("a%2F..%2Fb.csv", 'attachment; filename="a_2F.._2Fb.csv"'),
        ("C:\\evil.csv", "attachment; filename=\"C__evil.csv\"; filename*=UTF-8''C%3A_evil.csv"),
        (
            "Bestellungen ä.csv",
            'attachment; filename="Bestellungen _.csv"; '
            "filename*=UTF-8''Bestellungen%20%C3%A4.csv",
        ),
    ],
)
def test_download_names_name_plain_files(name: str, expected: str) -> None:
    assert disposition(name) == expected
