"""Uploaded file names are untrusted: they must never escape the uploads folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.index.uploads import safe_filename, save_upload


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
        assert upload.path.resolve().parent == folder.resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads"]


def test_duplicates_and_name_clashes(tmp_path: Path) -> None:
    folder = tmp_path / "uploads"
    first = save_upload(folder, "notes.txt", b"one", lambda _: None)
    same = save_upload(folder, "notes.txt", b"one", lambda _: None)
    other = save_upload(folder, "notes.txt", b"two", lambda _: None)
    assert first.path == folder / "notes.txt"
    assert same.path is None and same.duplicate_of == str(folder / "notes.txt")
    assert other.path == folder / "notes (2).txt"
    known = save_upload(folder, "copy.txt", b"one", lambda _: "/docs/original.txt")
    assert known.path is None and known.duplicate_of == "/docs/original.txt"
    assert not list(folder.glob(".*")), "no temporary files left behind"
