"""Per-file ingestion failures.

A :class:`ParseError` names the file and says why it could not be read. The
pipeline records it and moves on to the next file; it never stops a batch.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["VANISHED", "ParseError", "printable_path"]

#: The reason for a file deleted between being found and being read.
VANISHED = "file disappeared before it could be read"


class ParseError(Exception):
    """A file could not be turned into text (corrupt, encrypted, empty, unsupported...).

    ``path`` is the file's name as text that can always be printed and stored:
    see :func:`printable_path`.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = printable_path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def printable_path(path: str | Path) -> str:
    """``path`` as valid text: bytes of a name that are not UTF-8 become ``\\xNN``.

    Linux allows any bytes in a file name; Python keeps those that are not UTF-8
    as lone surrogates, which SQLite, Chroma and a strict stdout all refuse. A
    NUL (which no real name can hold) is shown as ``\\x00``.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return text.replace("\x00", "\\x00")
