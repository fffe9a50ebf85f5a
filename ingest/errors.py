"""Per-file ingestion failures.

A :class:`ParseError` names the file and says why it could not be read. The
pipeline records it and moves on to the next file; it never stops a batch.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ParseError"]


class ParseError(Exception):
    """A file could not be turned into text (corrupt, encrypted, empty, unsupported...)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")
