"""What the CLI prints about file names stays on its line and cannot drive the terminal."""

from __future__ import annotations

from rag.cli import _shown


def test_control_characters_in_names_are_escaped() -> None:
    assert _shown("/d/a\x1b[2Jb\tc\nd.txt") == "/d/a\\x1b[2Jb\\tc\\nd.txt"


def test_ordinary_names_are_unchanged() -> None:
    assert _shown("/d/résumé (final) ..txt") == "/d/résumé (final) ..txt"
