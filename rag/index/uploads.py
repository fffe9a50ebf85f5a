"""Files handed over by a front end (the web UI's uploader): stored safely, deduplicated.

An uploaded file's name comes from the user's browser and is not trusted: it is
reduced to a plain file name (no folders, no ``..``, no NUL or control
characters, no leading dot, bounded length) and always lands inside the
uploads folder. A file whose bytes equal an ingested document's, or an earlier
file of the same batch, is reported as a duplicate and not stored again.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InvalidInput
from rag.privacy import private_dir

__all__ = ["Upload", "safe_filename", "save_upload"]

_MAX_NAME_BYTES = 200
_UNSAFE = re.compile(r"[^\w.\- ()\[\]+,@&=]", re.UNICODE)


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file: where it was stored, or which document it duplicates."""

    name: str
    """The name as the user's browser sent it."""
    path: Path | None
    """Where it was stored (None for a duplicate)."""
    duplicate_of: str | None = None
    """The source of an ingested document (or earlier upload) with the same content."""
    sha256: str = ""
    """The content's SHA-256, hex (what duplicates are detected by)."""


def safe_filename(name: str) -> str:
    """A harmless file name for ``name``: its last path component, with control
    characters, NULs and path syntax removed. Never empty, never hidden."""
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    name = re.sub(r"\.{2,}", ".", name)
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    if not stem:
        stem = "upload"
    suffix = suffix[:16]
    ext = f".{suffix}" if suffix else ""
    while len((stem + ext).encode()) > _MAX_NAME_BYTES:
        stem = stem[:-1]
    return stem + ext


def save_upload(
    folder: Path,
    name: str,
    data: bytes,
    known: Callable[[str], str | None],
) -> Upload:
    """Store ``data`` under ``folder`` with a safe name derived from ``name``.

    ``known(sha256_hex)`` names an existing document with that content, or None.
    A name already taken by different content gets a numbered variant
    (``report (2).pdf``); an existing file with the same content is a duplicate.
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = known(digest)
    if existing is not None:
        return Upload(name, None, existing, digest)
    private_dir(folder)
    safe = safe_filename(name)
    stem, ext = os.path.splitext(safe)
    for n in range(1, 10_000):
        candidate = folder / (safe if n == 1 else f"{stem} ({n}){ext}")
        if candidate.exists():
            if hashlib.sha256(candidate.read_bytes()).hexdigest() == digest:
                return Upload(name, None, str(candidate), digest)
            continue
        # The resolved target must stay inside the folder, whatever the name said.
        if candidate.resolve().parent != folder.resolve():
            raise InvalidInput(f"upload name {name!r} escapes the uploads folder")
        tmp = candidate.with_name(f".{candidate.name}.part")
        tmp.write_bytes(data)
        os.replace(tmp, candidate)
        return Upload(name, candidate, None, digest)
    raise InvalidInput(f"too many uploads named {safe!r}")
