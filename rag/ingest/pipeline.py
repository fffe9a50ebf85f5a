"""One file -> its chunks, ready to embed: check, parse (in the sandbox), chunk."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ParseError
from rag.ingest.chunk import Chunker
from rag.ingest.discover import FILE_NOT_UTF8, content_hash, is_utf8, unreadable
from rag.ingest.ocr import OcrOptions
from rag.ingest.parse import file_type
from rag.ingest.sandbox import OnPage, ParseLimits, parse_in_sandbox
from rag.ingest.types import Chunk

__all__ = ["OcrOptions", "OnPage", "ParseLimits", "Prepared", "prepare"]


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
    ocr: OcrOptions | None = None,
    progress: OnPage | None = None,
    opened: int | None = None,
) -> Prepared:
    """Parse and chunk ``path``; raise :class:`ParseError` naming the file and the reason.

    Parsing runs in the sandbox's worker process within ``limits``, reading scans as
    ``ocr`` says and calling ``progress`` after each page of a PDF or TIFF; chunking
    runs here, with the embedder's tokenizer. The worker reads the file through
    ``opened`` (a descriptor the caller closes) when given, else through one opened
    here, never by its path.
    """
    info = _stat(path)
    if info.st_size == 0:
        raise ParseError(path, "empty file (0 bytes)")
    if info.st_size > max_bytes:
        raise ParseError(
            path, f"file is {info.st_size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit"
        )
    kind = file_type(path)
    try:
        digest = known_hash or content_hash(path)
    except OSError as exc:
        raise ParseError(path, unreadable(exc)) from exc
    ocr = ocr or OcrOptions()
    blocks = parse_in_sandbox(path, limits or ParseLimits(), ocr, progress, opened)
    chunks = chunker.chunk(blocks)
    if not chunks:
        raise ParseError(path, _no_text(kind, ocr))
    pages = max((b.page for b in blocks if b.page is not None), default=None)
    return Prepared(path, digest, info.st_size, info.st_mtime_ns, kind, pages, chunks)


def _no_text(kind: str, ocr: OcrOptions) -> str:
    if kind == "image":
        return "no text found: OCR read no words in the image"
    if kind == "pdf" and ocr.enabled:
        return "no text found (empty document, or scanned pages in which OCR read no words)"
    if kind == "pdf":
        return "no text found (empty document, or scanned pages, and OCR is off: RAG_OCR=false)"
    return "no text found (empty document, or only images without a text layer)"


def _stat(path: Path) -> os.stat_result:
    if not is_utf8(os.fspath(path)):
        raise ParseError(path, FILE_NOT_UTF8)
    try:
        info = path.stat()
    except OSError as exc:
        raise ParseError(path, unreadable(exc)) from exc
    if not stat.S_ISREG(info.st_mode):
        raise ParseError(path, "not a regular file")
    return info
