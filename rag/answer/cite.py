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

__all__ = ["CitationStream", "cited_numbers", "clean_citations", "overlap_attribution"]

_MARKER = re.compile(r"\[\s*(\d{1,3}(?:\s*,\s*\d{1,3})*)\s*\]")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*", re.IGNORECASE)
_STOP = frozenset(
    """a an and are as at be by for from has have in is it its of on or that the this to was
    were will with what which who when where how do does did you your i we our not no""".split()
)


def _numbers(marker_body: str) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", marker_body)]


def _rewrite(match: re.Match[str], n_passages: int) -> str:
    valid = [n for n in _numbers(match.group(1)) if 1 <= n <= n_passages]
    return "".join(f"[{n}]" for n in dict.fromkeys(valid))


def clean_citations(text: str, n_passages: int) -> str:
    """``text`` with each marker reduced to its valid numbers (dropped if none is valid)."""
    cleaned = _MARKER.sub(lambda m: _rewrite(m, n_passages), text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)


def cited_numbers(text: str, n_passages: int) -> list[int]:
    """Valid passage numbers cited in ``text``, in order of first citation."""
    seen: dict[int, None] = {}
    for match in _MARKER.finditer(text):
        for n in _numbers(match.group(1)):
            if 1 <= n <= n_passages:
                seen.setdefault(n, None)
    return list(seen)


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
        return _MARKER.sub(lambda m: _rewrite(m, self.n_passages), held)

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


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP}


def overlap_attribution(answer: str, passages: list[str]) -> int | None:
    """The 1-based passage sharing most content words with ``answer`` (None if none shares any).

    Used when a model answers without citing: the answer is still tied to the
    passage it most plausibly came from, never to nothing.
    """
    words = _content_words(answer)
    best, best_n = 0, None
    for n, passage in enumerate(passages, start=1):
        shared = len(words & _content_words(passage))
        if shared > best:
            best, best_n = shared, n
    return best_n
