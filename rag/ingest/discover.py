"""Which files an ingest covers, and their content hashes."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ParseError, printable_path
from rag.ingest.parse import SUPPORTED_SUFFIXES
from rag.ingest.types import VANISHED

__all__ = [
    "FILE_NOT_UTF8",
    "LINK_OUTSIDE",
    "Found",
    "content_hash",
    "discover",
    "is_utf8",
    "leads_outside",
    "open_document",
    "unreadable",
]

# Editor and OS droppings that are never documents; skipped silently in folders.
_JUNK_NAMES = frozenset({"Thumbs.db", "desktop.ini", ".DS_Store"})

FILE_NOT_UTF8 = "file name is not valid UTF-8 (rename the file to ingest it)"
_FOLDER_NOT_UTF8 = "folder name is not valid UTF-8 (rename the folder to ingest its files)"


#: Why a link in an ingested folder that leads out of it is passed over.
LINK_OUTSIDE = (
    "a symbolic link to {target}, outside the folder being ingested: not followed "
    "(rag ingest --follow-symlinks follows it)"
)


@dataclass(frozen=True, slots=True)
class Found:
    """A file to consider, or a path that could not be used (``error`` set), or one
    passed over on purpose (``skip`` set: a link out of the folder)."""

    path: Path
    root: Path | None
    error: str | None = None
    skip: str | None = None


def _is_junk(name: str) -> bool:
    return name.startswith((".", "~$")) or name in _JUNK_NAMES or name.endswith("~")


def is_utf8(name: str) -> bool:
    """False for names holding bytes that are not UTF-8 (kept by Python as surrogates):
    SQLite and Chroma refuse such text, so they are reported instead of ingested."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def discover(paths: Iterable[str | Path], follow_symlinks: bool = False) -> Iterator[Found]:
    """Files named directly, and every file under folders named (recursively).

    Hidden files and folders (``.git``...) and editor droppings are skipped in
    folders. Symlinked folders are never followed (no loops). A symlink to a file is
    followed when it stays inside the folder being ingested, or ``follow_symlinks``
    says so; otherwise it is passed over with ``skip`` set: anyone who may write into a
    shared folder could otherwise pull any file the ingest can read (``notes.txt ->
    /etc/shadow``) into the index. A file named directly is taken as named.
    Paths are absolute and normalised; ``root`` is the folder a file was found
    under, or None for a file named directly. Names that cannot be used (a NUL
    byte, bytes that are not UTF-8, a broken or looping link) come back with
    ``error`` set, never as an exception.
    """
    for raw in paths:
        text = os.fspath(raw)
        if "\x00" in text:
            # No file name can hold a NUL; os.stat would raise ValueError.
            yield Found(Path(text), None, "path contains a NUL byte, so no such file can exist")
            continue
        path = Path(os.path.abspath(os.path.expanduser(text)))
        if not is_utf8(text):
            yield Found(path, None, _FOLDER_NOT_UTF8 if path.is_dir() else FILE_NOT_UTF8)
        elif path.is_dir():
            yield from _walk(path, follow_symlinks)
        elif path.is_file():
            yield Found(path, None)
        else:
            yield Found(path, None, _unusable(path))


def _walk(root: Path, follow_symlinks: bool) -> Iterator[Found]:
    inside = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False, onerror=None):
        visible = sorted(d for d in dirs if not d.startswith("."))
        dirs[:] = [d for d in visible if is_utf8(d)]
        for name in visible:
            if not is_utf8(name):
                yield Found(Path(folder) / name, root, _FOLDER_NOT_UTF8)
        for name in sorted(files):
            if _is_junk(name):
                continue
            path = Path(folder) / name
            if not is_utf8(name):
                yield Found(path, root, FILE_NOT_UTF8)
            elif path.is_file():
                outside = None if follow_symlinks else leads_outside(path, inside)
                yield Found(path, root, skip=outside and LINK_OUTSIDE.format(target=outside))
            elif path.is_symlink() or path.suffix.lower() in SUPPORTED_SUFFIXES:
                # A pipe named notes.txt would block a reader forever; other special
                # files (sockets...) in a folder are no documents and are passed over.
                yield Found(path, root, _unusable(path))


def leads_outside(path: Path, root: Path) -> str | None:
    """Where ``path`` leads if it is a symlink (or sits under one) whose target lies
    outside ``root`` (resolved); None if it stays inside."""
    target = path.resolve()
    return None if target.is_relative_to(root) else printable_path(target)


def open_document(path: Path, root: Path | None = None) -> tuple[int, str | None]:
    """``path`` opened for reading (a file descriptor; close it), and, when ``root`` (a
    resolved folder) is given, where the file actually opened lies if that is outside it
    (else None). The parser reads this descriptor, never the path again: a file swapped
    for a link to ``/home/svc/.ssh/id_rsa`` after :func:`leads_outside` looked at it
    cannot be read in its place. OSError if it cannot be opened; ParseError if it is
    not a regular file (a pipe swapped in would block a reader)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise ParseError(path, "not a regular file")
        if root is None:
            return fd, None
        try:  # the path the kernel opened (Linux), whatever links led there
            real = Path(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # no /proc: the path resolved now, if it is that very file
            real = path.resolve()
            now = real.stat()
            if (now.st_dev, now.st_ino) != (opened.st_dev, opened.st_ino):
                raise ParseError(path, "the file changed while it was opened") from None
        return fd, None if real.is_relative_to(root) else printable_path(real)
    except BaseException:
        os.close(fd)
        raise


def unreadable(exc: OSError) -> str:
    """Why a file could not be read, as a file's failure says it."""
    if isinstance(exc, FileNotFoundError):
        return VANISHED
    return f"cannot read file: {exc.strerror or exc}"


def _unusable(path: Path) -> str:
    """Why ``path``, which is not a regular file (or a link to one), cannot be read."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (following it leads back to itself)"
        if path.is_symlink():
            return "broken symbolic link (what it points to does not exist)"
        return "no such file or directory"
    if stat.S_ISFIFO(mode):
        return "not a regular file (a named pipe)"
    if stat.S_ISSOCK(mode):
        return "not a regular file (a socket)"
    return "not a regular file (a device)"


def content_hash(path: Path, block: int = 1 << 20) -> str:
    """SHA-256 of the file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while data := fh.read(block):
            digest.update(data)
    return digest.hexdigest()
