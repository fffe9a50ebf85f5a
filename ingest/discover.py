"""Which files an ingest covers, and their content hashes."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Found", "content_hash", "discover"]

# Editor and OS droppings that are never documents; skipped silently in folders.
_JUNK_NAMES = frozenset({"Thumbs.db", "desktop.ini", ".DS_Store"})


@dataclass(frozen=True, slots=True)
class Found:
    """A file to consider, or a path that could not be used (``error`` set)."""

    path: Path
    root: Path | None
    error: str | None = None


def _is_junk(name: str) -> bool:
    return name.startswith((".", "~$")) or name in _JUNK_NAMES or name.endswith("~")


def discover(paths: Iterable[str | Path]) -> Iterator[Found]:
    """Files named directly, and every file under folders named (recursively).

    Hidden files and folders (``.git``...) and editor droppings are skipped in
    folders. Symlinks to files are followed; symlinked folders are not (no loops).
    Paths are absolute and normalised; ``root`` is the folder a file was found
    under, or None for a file named directly.
    """
    for raw in paths:
        path = Path(os.path.abspath(os.path.expanduser(str(raw))))
        if path.is_dir():
            yield from _walk(path)
        elif path.is_file():
            yield Found(path, None)
        elif path.exists():
            yield Found(path, None, "not a regular file")
        else:
            yield Found(path, None, "no such file or directory")


def _walk(root: Path) -> Iterator[Found]:
    for folder, dirs, files in os.walk(root, followlinks=False, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if _is_junk(name):
                continue
            path = Path(folder) / name
            if path.is_file():
                yield Found(path, root)
            elif path.is_symlink():
                yield Found(path, root, "broken or looping symbolic link")


def content_hash(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(block):
            digest.update(data)
    return digest.hexdigest()
