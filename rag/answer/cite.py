"""Citations: find ``[n]`` markers in an answer, keep those that point at a passage.

The model is asked to cite numbered passages as ``[1]``, ``[2]``. Small models
also write ``[1, 3]``, ``[1][2]`` or numbers that point at nothing. A marker is
kept only when every number in it names a passage; the others are removed from
the text, in the stream as it is generated (:class:`CitationStream`) and in
the finished answer (:func:`clean_citations`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from rag.text import MARKER, content_words, marker_numbers

__all__ = ["CitationStream", "clean_citations", "overlap_attribution"]


def _rewrite(match: re.Match[str], n_passages: int) -> str:
    valid = [n for n in marker_numbers(match.group(1)) if 1 <= n <= n_passages]
    return "".join(f"[{n}]" for n in dict.fromkeys(valid))


def clean_citations(text: str, n_passages: int) -> str:
    """``text`` with each marker reduced to its valid numbers (dropped if none is valid)."""
    cleaned = MARKER.sub(lambda m: _rewrite(m, n_passages), text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)


class CitationStream:
    """Cleans markers in a token stream: text after ``[`` is held until the marker closes.

    ``feed`` returns what can be shown now; ``flush`` returns whatever is held at the end.
    """

    _MAX_HELD = 16

    def __init__(self, n_passages: int) -> None:
        self.n_passages = n_passages
        self._held = ""

    def feed(self, token: str) -> str:
        out = []
        for ch in token:
            if self._held:
                self._held += ch
                if (
                    ch == "]"
                    or len(self._held) > self._MAX_HELD
                    or not _could_be_marker(self._held)
                ):
                    out.append(self._release())
            elif ch == "[":
                self._held = ch
            else:
                out.append(ch)
        return "".join(out)

    def flush(self) -> str:
        return self._release()

    def _release(self) -> str:
        held, self._held = self._held, ""
        return MARKER.sub(lambda m: _rewrite(m, self.n_passages), held)

    def __call__(self, tokens: Iterable[str]) -> Iterator[str]:
        for token in tokens:
            text = self.feed(token)
            if text:
                yield text
        tail = self.flush()
        if tail:
            yield tail


def _could_be_marker(held: str) -> bool:
    return re.fullmatch(r"\[\s*(\d{1,3}(\s*,\s*\d{0,3})*)?\s*\]?", held) is not None


def overlap_attribution(answer: str, passages: list[str]) -> int | None:
    """The 1-based passage sharing most content words with ``answer`` (None if none shares any).

    Used when a model answers without citing: the answer is still tied to the
    passage it most plausibly came from, never to nothing.
    """
    words = content_words(answer)
    best, best_n = 0, None
    for n, passage in enumerate(passages, start=1):
        shared = len(words & content_words(passage))
        if shared > best:
            best, best_n = shared, n
    return best_n
