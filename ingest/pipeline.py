"""One file -> its chunks, ready to embed: parse, check, chunk."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.chunk import Chunker
from ingest.discover import content_hash
from ingest.errors import ParseError
from ingest.parse import file_type, parse
from ingest.types import Chunk

__all__ = ["ParseLimits", "Prepared", "prepare"]


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Per-file limits on parsing: wall-clock seconds and memory in MB."""

    timeout_s: float = 120.0
    memory_mb: int = 2048


@dataclass(frozen=True, slots=True)
class Prepared:
    """A parsed, chunked file and what identifies its version."""

    path: Path
    content_hash: str
    size: int
    mtime_ns: int
    file_type: str
    pages: int | None
    chunks: list[Chunk]


def prepare(
    path: Path,
    chunker: Chunker,
    max_bytes: int,
    known_hash: str | None = None,
    limits: ParseLimits | None = None,
) -> Prepared:
    """Parse and chunk ``path``; raise :class:`ParseError` naming the file and the reason."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ParseError(path, f"cannot read file: {exc.strerror or exc}") from exc
    if stat.st_size == 0:
        raise ParseError(path, "empty file (0 bytes)")
    if stat.st_size > max_bytes:
        raise ParseError(
            path, f"file is {stat.st_size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit"
        )
    kind = file_type(path)
    digest = known_hash or content_hash(path)
    blocks = parse(path)
    chunks = chunker.chunk(blocks)
    if not chunks:
        raise ParseError(
            path, "no text found (empty document, or only images without a text layer)"
        )
    pages = max((b.page for b in blocks if b.page is not None), default=None)
    return Prepared(path, digest, stat.st_size, stat.st_mtime_ns, kind, pages, chunks)
