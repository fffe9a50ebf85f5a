"""Files handed over by a front end (the web UI's uploader): stored safely, deduplicated.

An uploaded file's name comes from the user's browser and is not trusted: it is
reduced to a plain file name (no folders, no ``..``, no NUL or control
characters, no leading dot, bounded length) and always lands inside the
uploads folder, in a folder of its own. A file whose bytes equal a document the
uploader may read, or an earlier file of the same batch, is reported as a
duplicate and not stored again. Removing the document deletes the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InvalidInput
from rag.privacy import private_dir

__all__ = ["Upload", "discard_upload", "safe_filename", "save_upload"]

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

    ``known(sha256_hex)`` names a document with that content the uploader may read (or
    an earlier file of the same batch), or None: then it is a duplicate, not stored.
    Nothing else is compared: other people's uploads are not the uploader's business,
    and their names or contents must not show through. Each upload gets a folder of its
    own with a random name, so two files named alike (at the same moment too) never
    meet, and the file keeps the name the person gave it (what citations show).
    """
    digest = hashlib.sha256(data).hexdigest()
    existing = known(digest)
    if existing is not None:
        return Upload(name, None, existing, digest)
    private_dir(folder)
    while True:
        own = folder / secrets.token_hex(8)
        try:
            own.mkdir(mode=0o700)
            break
        except FileExistsError:  # 2^64 folder names: never, but not an error either
            continue
    target = own / safe_filename(name)
    # The resolved target must stay inside the folder, whatever the name said.
    if target.resolve().parent != own.resolve():
        raise InvalidInput(f"upload name {name!r} escapes the uploads folder")
    with tempfile.NamedTemporaryFile(dir=own, prefix=".", suffix=".part", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, target)
    return Upload(name, target, None, digest)


def discard_upload(folder: Path, source: str) -> bool:
    """Delete an uploaded file (``source``, a removed document) and its own folder, if it
    lies in ``folder``; whether it did."""
    path = Path(source)
    if not path.is_relative_to(folder) or path.parent == folder:
        return False
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something else lives there
        path.parent.rmdir()
    return True
