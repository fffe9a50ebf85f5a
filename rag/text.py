"""Text rules, written once: words, stop words, stems, sentences with their offsets,
citation markers, collection names and OCR language lists.

Retrieval (BM25), the relevance gate, the sentence check, citation attribution and
follow-up detection all read text through these, so a word, a stem or a sentence means
the same thing everywhere.
"""

from __future__ import annotations

import re
from typing import Any

from rag.errors import InvalidInput

__all__ = [
    "MARKER",
    "OCR_LANGUAGES",
    "STOP_WORDS",
    "cited_numbers",
    "collection_name",
    "content_words",
    "marker_numbers",
    "sentence_spans",
    "sentences",
    "stem",
    "stems",
    "strip_markers",
    "words",
]

#: A word: letters (any script) or a number, decimals and thousands kept together.
WORD = re.compile(r"[0-9]+(?:[.,][0-9]+)*|[^\W_]+", re.UNICODE)

#: English function words: they say nothing about what a text is about.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for
    from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves""".split()
)

#: A citation marker: ``[1]``, ``[2, 3]`` (the numbers are its group 1).
MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\]")
_MARKERS = re.compile(r"(?:\s*" + MARKER.pattern + r")+")

#: Where a sentence ends: after . ! or ? (and any citation markers), before a space and
#: something that can start a sentence; not inside 2.5 or after "e.g." mid-sentence.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])(?:\s*\[\d{1,3}(?:\s*,\s*\d{1,3})*\])*\s+(?=[\"'(£$€A-Z0-9])"
)

_stemmer: Any = None


def words(text: str) -> list[str]:
    """The text's words and numbers, lower-cased, in order."""
    return WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """The text's words that are not stop words."""
    return {w for w in words(text) if w not in STOP_WORDS}


def stems(text: str) -> list[str]:
    """English (Snowball) stems of the text's words that are not stop words, in order:
    what BM25 indexes, and what the sentence check compares."""
    return stem([w for w in words(text) if w not in STOP_WORDS])


def stem(given: list[str]) -> list[str]:
    """English (Snowball) stems of ``given`` words."""
    global _stemmer
    if _stemmer is None:
        import Stemmer

        _stemmer = Stemmer.Stemmer("english")
    return list(_stemmer.stemWords(given))


# -- citation markers -----------------------------------------------------------------


def marker_numbers(body: str) -> list[int]:
    """The numbers of one marker's body (``"2, 3"`` -> ``[2, 3]``)."""
    return [int(n) for n in re.findall(r"\d+", body)]


def cited_numbers(text: str, n_passages: int) -> list[int]:
    """Valid passage numbers (1..n_passages) cited in ``text``, in order of first citation."""
    seen: dict[int, None] = {}
    for match in MARKER.finditer(text):
        for n in marker_numbers(match.group(1)):
            if 1 <= n <= n_passages:
                seen.setdefault(n, None)
    return list(seen)


def strip_markers(text: str) -> str:
    """``text`` without its citation markers (and the spaces before them)."""
    return _MARKERS.sub("", text)


# -- sentences --------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    """The text's sentences, line by line, markers kept with the sentence they close."""
    pieces = []
    for line in text.splitlines():
        pieces += [p for p in _SENTENCE_END.split(line) if p.strip()]
    return pieces


def sentence_spans(text: str, min_chars: int = 12) -> list[tuple[int, int]]:
    """Character offsets of the text's sentences (lines and sentence ends split it),
    leading and trailing spaces excluded; sentences shorter than ``min_chars`` dropped."""
    spans = []
    pos = 0
    for line in text.splitlines(keepends=True):
        offset = 0
        for piece in _SENTENCE_END.split(line):
            at = line.find(piece, offset)
            offset = at + len(piece)
            stripped = piece.strip()
            if len(stripped) >= min_chars:
                start = pos + at + (len(piece) - len(piece.lstrip()))
                spans.append((start, start + len(stripped)))
        pos += len(line)
    return spans


# -- names ------------------------------------------------------------------------------

#: What ``ocr_languages`` may hold: Tesseract's language codes joined by ``+``. Here, not
#: in :mod:`rag.config`, so that the parser worker starts without pydantic (~0.2 s).
OCR_LANGUAGES = re.compile(r"[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*")

_COLLECTION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def collection_name(name: str) -> str:
    """``name`` if it can name a collection everywhere (a Chroma collection, a folder, a
    table row) as it is; :class:`InvalidInput` otherwise. Names are never rewritten, so
    two collections can never end up sharing a folder."""
    if not _COLLECTION.match(name):
        raise InvalidInput(
            f"invalid collection name {name!r}: use 1-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name
