"""Parsed blocks -> token-sized chunks that keep their heading, page and tables.

Prose is grouped into sections (a heading and what follows it, on one page) and
packed greedily up to ``chunk_size`` tokens; a section too long for one chunk is
split between sentences (between words inside a sentence longer than a chunk), pieces
overlapping by up to ``chunk_overlap`` tokens of whole sentences, and the heading is
repeated at the top of every piece, so a chunk read alone still says what it is about.
(llama-index's ``SentenceSplitter`` did this before; importing llama-index took 1-2 s
of every ingest.) Tables are
split by rows, each row written as a statement of its own that names its columns
("Service: Structural survey; Unit: per day; Price GBP: 950"): a row is found, quoted,
shown to the model and checked on its own, where a pipe table's bare values meant
nothing without the header line. :data:`CHUNKER` names this recipe; documents chunked
by another are chunked again on the next ingest.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from rag.ingest.types import Block, Chunk
from rag.text import sentence_spans

__all__ = ["CHUNKER", "Chunker", "row_statement"]

#: The chunking recipe's name, recorded with every document (a change re-chunks them).
CHUNKER = "sections-rows-v3"

Tokenize = Callable[[str], list[int] | list[str]]
#: A chunk in the making: text, page, kind, heading, OCR confidence of its page.
_Piece = tuple[str, int | None, str, str | None, float | None]

_HEADING_KINDS = {"Title", "Header"}
_SKIP_KINDS = {"PageBreak", "PageNumber", "Footer", "Image"}


@dataclass
class _Section:
    heading: str | None
    page: int | None
    ocr_confidence: float | None = None
    lines: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def row_statement(header: Sequence[str], row: Sequence[str]) -> str:
    """A table row as one line that names its columns: ``Plan: Pro; Price GBP: 49``.
    Empty cells are left out; a row wider than the header keeps its extra cells bare."""
    parts = []
    for n, cell in enumerate(row):
        value = " ".join(cell.split())
        if not value:
            continue
        name = " ".join(header[n].split()) if n < len(header) else ""
        parts.append(f"{name}: {value}" if name and name != value else value)
    return "; ".join(parts)


class Chunker:
    """Split blocks into chunks of at most ``chunk_size`` tokens of ``tokenize``."""

    def __init__(
        self,
        tokenize: Tokenize,
        chunk_size: int = 256,
        chunk_overlap: int = 32,
        token_starts: Callable[[str], list[int]] | None = None,
    ) -> None:
        """``token_starts``, if given, says where each of a text's tokens starts (in
        characters): a long section's sentences are then measured from one call instead
        of one each (a book index has thousands of one-line "sentences")."""
        self._tokenize = tokenize
        self._token_starts = token_starts
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        # A text is measured while grouped, split and merged: once is enough (tokenizing
        # was 85 % of chunking the manual).
        self._sizes: dict[str, int] = {}

    def count(self, text: str) -> int:
        """``text``'s length in tokens."""
        size = self._sizes.get(text)
        if size is None:
            size = len(self._tokenize(text))
            self._note(text, size)
        return size

    def _note(self, text: str, size: int) -> None:
        if len(self._sizes) >= 8192:  # a memo, not a store: start again
            self._sizes.clear()
        self._sizes[text] = size

    def chunk(self, blocks: Iterable[Block]) -> list[Chunk]:
        """Chunks in document order, numbered from 0. A chunk never spans pages, nor
        text read by OCR and text that was not."""
        pieces: list[_Piece] = []
        for item in self._sections_and_tables(blocks):
            if isinstance(item, _Section):
                pieces.extend(self._pack_section(item))
            else:
                pieces.extend(self._split_table(item[0], item[1]))
        merged = self._merge_small(pieces)
        return [
            Chunk(text=text, index=i, page=page, kind=kind, heading=heading, ocr_confidence=conf)
            for i, (text, page, kind, heading, conf) in enumerate(merged)
        ]

    # -- grouping ---------------------------------------------------------------------

    def _sections_and_tables(
        self, blocks: Iterable[Block]
    ) -> Iterator[_Section | tuple[Block, str | None]]:
        heading: str | None = None
        section: _Section | None = None
        emitted = False
        for block in blocks:
            text = block.text.strip()
            if block.kind in _SKIP_KINDS or (not text and not block.rows):
                continue
            new_page = section is not None and (
                block.page != section.page or block.ocr_confidence != section.ocr_confidence
            )
            # Consecutive headings (a title slide, "Part 2" then "2.1 ...") stay together.
            starts_section = block.kind in _HEADING_KINDS and not (
                section is not None and _all_headings(section)
            )
            if starts_section or block.rows is not None or new_page:
                # A heading with nothing under it is dropped: what follows carries it.
                if section is not None and not _heading_only(section):
                    yield section
                    emitted = True
                section = None
            if block.rows is not None:
                yield (block, heading)
                emitted = True
                continue
            if block.kind in _HEADING_KINDS:
                heading = text
            if section is None:
                section = _Section(heading, block.page, block.ocr_confidence)
            section.lines.append(text)
            section.kinds.append(block.kind)
        if section is not None and (not emitted or not _heading_only(section)):
            yield section

    # -- prose ------------------------------------------------------------------------

    def _pack_section(self, section: _Section) -> Iterator[_Piece]:
        kind = _dominant(section.kinds)
        text = section.text
        conf = section.ocr_confidence
        starts = self._token_starts(text) if self._token_starts is not None else None
        if starts is not None:
            self._note(text, len(starts))
        if self.count(text) <= self.chunk_size:
            yield (text, section.page, kind, section.heading, conf)
            return
        prefix = section.heading if section.heading and text.startswith(section.heading) else None
        body = text[len(prefix) :].lstrip() if prefix else text
        if starts is not None:  # the body's tokens: those of the text, shifted
            skip = len(text) - len(body)
            starts = [start - skip for start in starts if start >= skip]
        budget = self.chunk_size - (self.count(prefix) + 2 if prefix else 0)
        for piece in self.split(body, max(budget, self.chunk_size // 2), starts):
            text = f"{prefix}\n{piece}" if prefix else piece
            yield (text, section.page, kind, section.heading, conf)

    def split(self, text: str, budget: int, starts: list[int] | None = None) -> Iterator[str]:
        """``text`` in pieces of at most ``budget`` tokens, cut between sentences; each
        piece after the first starts with the last sentences of the one before, up to
        ``chunk_overlap`` tokens (a quarter of the budget at most). ``starts``: where
        ``text``'s tokens start, if known."""
        overlap = min(self.chunk_overlap, budget // 4)
        sentences = [cut for a, b in sentence_spans(text, 1) for cut in _bullets(text, a, b)]
        if starts is None and self._token_starts is not None:
            starts = self._token_starts(text)
        if starts is not None:
            measured = [
                bisect.bisect_left(starts, b) - bisect.bisect_left(starts, a) for a, b in sentences
            ]
        else:
            measured = [self.count(text[a:b]) for a, b in sentences]
        spans: list[tuple[int, int]] = []
        sizes: list[int] = []
        for (a, b), size in zip(sentences, measured, strict=True):
            if size <= budget:
                spans.append((a, b))
                sizes.append(size)
            else:
                for c, d in self._fit(text, a, b, budget, size):
                    spans.append((c, d))
                    sizes.append(self.count(text[c:d]))
        first = used = 0  # the piece in the making: spans[first:n], ``used`` tokens
        for n, size in enumerate(sizes):
            if n > first and used + size > budget:
                yield text[spans[first][0] : spans[n - 1][1]]
                start, used = n, 0
                while (
                    start - 1 > first
                    and used + sizes[start - 1] <= overlap
                    and used + sizes[start - 1] + size <= budget
                ):
                    start -= 1
                    used += sizes[start]
                first = start
            used += size
        if spans:
            yield text[spans[first][0] : spans[-1][1]]

    def _fit(
        self, text: str, start: int, end: int, budget: int, size: int
    ) -> Iterator[tuple[int, int]]:
        """The sentence ``text[start:end]`` of ``size`` tokens, longer than ``budget``, in
        pieces cut between words (a table flattened to one line, minified text)."""
        per_token = (end - start) / size
        while start < end:
            stop = min(end, start + max(1, int(budget * per_token * 0.9)))
            while stop < end and self.count(text[start:stop]) > budget:
                stop = start + max(1, (stop - start) * 4 // 5)
            if stop < end:  # back to the last space, unless the piece has none
                space = text.rfind(" ", start + 1, stop)
                stop = space if space > start else stop
            yield (start, stop)
            start = stop
            while start < end and text[start].isspace():
                start += 1

    def _merge_small(self, pieces: list[_Piece]) -> list[_Piece]:
        """Pack consecutive small prose pieces of one page into one chunk.

        Fewer, fuller chunks embed faster and retrieve better than many one-line ones.
        Tables are never merged with prose.
        """
        out: list[_Piece] = []
        sizes: list[int] = []
        for text, page, kind, heading, conf in pieces:
            size = self.count(text)
            mergeable = (
                out
                and kind != "Table"
                and out[-1][2] != "Table"
                and out[-1][1] == page
                and out[-1][4] == conf
            )
            if mergeable and sizes[-1] + size + 1 <= self.chunk_size:
                prev = out[-1]
                out[-1] = (f"{prev[0]}\n\n{text}", page, prev[2], prev[3] or heading, conf)
                sizes[-1] += size + 1
                continue
            out.append((text, page, kind, heading, conf))
            sizes.append(size)
        return out

    # -- tables -----------------------------------------------------------------------

    def _split_table(self, block: Block, heading: str | None) -> Iterator[_Piece]:
        rows = list(block.rows or ())
        if not rows:
            return
        header, body = rows[0], rows[1:]
        lines = [row_statement(header, row) for row in body] or [row_statement((), header)]
        title = f"{heading}\n" if heading else ""
        whole = title + "\n".join(lines)
        if self.count(whole) <= self.chunk_size:  # most tables: one measure, not one a row
            yield (whole, block.page, "Table", heading, block.ocr_confidence)
            return
        budget = self.chunk_size - (self.count(title) if title else 0)
        batch: list[str] = []
        used = 0
        for line in lines:
            cost = self.count(line) + 1
            if batch and used + cost > budget:
                yield (title + "\n".join(batch), block.page, "Table", heading, block.ocr_confidence)
                batch, used = [], 0
            batch.append(line)
            used += cost
        yield (title + "\n".join(batch), block.page, "Table", heading, block.ocr_confidence)


#: A list run into one line ("... on Q2. - Debtor days: 58 ..."): each item is a sentence.
_INLINE_BULLET = re.compile(r"(?<=[.!?;:])\s+(?=[-\u2013\u2022*]\s)")


def _bullets(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The span ``text[start:end]`` cut before each bullet of a list run into one line."""
    for match in _INLINE_BULLET.finditer(text, start, end):
        yield (start, match.start())
        start = match.end()
    yield (start, end)


def _all_headings(section: _Section) -> bool:
    return all(k in _HEADING_KINDS for k in section.kinds)


def _heading_only(section: _Section) -> bool:
    """A lone heading line: everything after it repeats it, so it need not stand alone."""
    return len(section.lines) == 1 and section.kinds[0] in _HEADING_KINDS


def _dominant(kinds: list[str]) -> str:
    prose = [k for k in kinds if k not in _HEADING_KINDS] or kinds
    return Counter(prose).most_common(1)[0][0]
