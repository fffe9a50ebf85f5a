"""The data that flows through ingestion: parsed blocks, then chunks."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["VANISHED", "Block", "Chunk"]

#: The reason for a file deleted between being found and being read.
VANISHED = "file disappeared before it could be read"


@dataclass(frozen=True, slots=True)
class Block:
    """One element of a parsed document: a title, a paragraph, a list item, a table.

    ``rows`` is set for tables only: the cells, header row first, so a table can be
    chunked by rows and rendered as a table rather than as a run of words.
    ``ocr_confidence`` is set for text read by OCR from a scanned page or an image: the
    mean confidence (0-100) of the words on its page.
    """

    text: str
    kind: str
    page: int | None = None
    rows: tuple[tuple[str, ...], ...] | None = None
    ocr_confidence: float | None = None

    @property
    def ocr(self) -> bool:
        """Whether the text was read by OCR (and may hold its errors)."""
        return self.ocr_confidence is not None

    @classmethod
    def table(cls, rows: tuple[tuple[str, ...], ...], page: int | None = None) -> Block:
        """A table of ``rows`` (header first); its text is every cell's, in order."""
        return cls(" ".join(cell for row in rows for cell in row if cell), "Table", page, rows)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document small enough to embed, with where it came from."""

    text: str
    index: int
    page: int | None
    kind: str
    heading: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    ocr_confidence: float | None = None
    """Set when the chunk's page was read by OCR: the page's mean word confidence (0-100)."""

    @property
    def ocr(self) -> bool:
        return self.ocr_confidence is not None
