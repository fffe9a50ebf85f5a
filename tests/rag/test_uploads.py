"""Uploaded file names are untrusted: they must never escape the uploads folder."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from rag.index.uploads import discard_upload, safe_filename, save_upload


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system32\\cmd.exe", "cmd.exe"),
        ("/etc/shadow", "shadow"),
        ("evil\x00.pdf", "evil.pdf"),
        ("tab\tand\nnewline.txt", "tabandnewline.txt"),
        (".bashrc", "bashrc"),
        ("..", "upload"),
        ("", "upload"),
        ("...pdf", "pdf"),
        ("Q3 results (final) [v2].xlsx", "Q3 results (final) [v2].xlsx"),
        ("contrat_été.docx", "contrat_été.docx"),
        ("a<b>c|d?.md", "a_b_c_d_.md"),
    ],
)
def test_safe_filename(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_safe_filename_bounds_length_and_keeps_suffix() -> None:
    name = safe_filename("x" * 1000 + ".pdf")
    assert name.endswith(".pdf") and len(name.encode()) <= 200


def test_hostile_names_stay_inside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    hostile = ["../../etc/passwd", "../escape.txt", "a/../../b.txt", "\x00\x01.txt", "/abs.txt"]
    for i, name in enumerate(hostile):
        upload = save_upload(folder, name, f"content {i}".encode(), lambda _: None)
        assert upload.path is not None
        assert upload.path.resolve().parent.parent == folder.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]


def test_duplicates_come_only_from_what_the_caller_knows(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    first = save_upload(folder, "notes.txt", b"one", lambda _: None)
    again = save_upload(folder, "notes.txt", b"one", lambda _: None)
    # Another file of that name, even with those bytes, is nobody's business: stored apart.
    assert first.path is not None and again.path is not None and first.path != again.path
    assert first.path.name == again.path.name == "notes.txt"
    known = save_upload(folder, "copy.txt", b"one", lambda _: "/docs/original.txt")
    assert known.path is None and known.duplicate_of == "/docs/original.txt"
    assert not list(folder.rglob(".*")), "no temporary files left behind"


def test_uploads_of_one_name_at_once_do_not_meet(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    contents = [f"version {n} ".encode() * 10_000 for n in range(8)]
    with ThreadPoolExecutor(8) as pool:
        uploads = list(
            pool.map(lambda data: save_upload(folder, "report.txt", data, lambda _: None), contents)
        )
    assert [u.path.read_bytes() for u in uploads if u.path] == contents


def test_a_removed_upload_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    upload = save_upload(folder, "notes.txt", b"one", lambda _: None)
    assert upload.path is not None and discard_upload(folder, str(upload.path))
    assert list(folder.iterdir()) == []
    assert not discard_upload(folder, str(tmp_path / "elsewhere" / "x.txt"))
