"""What a question gets back: the answer text, whether it was refused, and its sources."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.cite import CitationStream, cited_numbers, clean_citations, overlap_attribution
from rag.retrieve import Passage

__all__ = ["REFUSAL", "Answer", "AnswerStream", "Citation", "best_quote"]

#: What the assistant says when the documents do not hold an answer.
REFUSAL = "Not found in your documents."

# The model's own way of saying it (the system prompt asks for this sentence).
_MODEL_REFUSAL = re.compile(
    r"could not find (this|that|the answer|it)? ?in (your|the) documents", re.I
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source of an answer: passage ``n`` of the prompt."""

    n: int
    source: str
    page: int | None
    quote: str
    score: float

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "source": self.source,
            "page": self.page,
            "quote": self.quote,
            "score": round(self.score, 4),
        }


@dataclass
class Answer:
    """A finished answer. ``passages`` are all that were shown to the model, numbered from 1."""

    question: str
    text: str
    refused: bool
    passages: list[Passage]
    citations: list[Citation]
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_json() for c in self.citations],
        }


def best_quote(passage: str, claim: str, limit: int = 400) -> str:
    """The sentence of ``passage`` that shares most content words with ``claim``.

    Falls back to the start of the passage. Used as the citation's quote, so the
    reader sees the words that support the answer rather than the whole chunk.
    """
    sentences = [s.strip() for s in _SENTENCE.split(passage) if len(s.strip()) > 3]
    if not sentences:
        return passage[:limit]
    best = overlap_attribution(claim, sentences)
    quote = sentences[best - 1] if best else sentences[0]
    return quote if len(quote) <= limit else quote[: limit - 1].rstrip() + "…"


def build_answer(
    question: str, raw: str, passages: list[Passage], timings: dict[str, float]
) -> Answer:
    """Turn the model's text into an :class:`Answer` with verified citations."""
    text = clean_citations(raw, len(passages)).strip()
    if not text or (_MODEL_REFUSAL.search(text) and not cited_numbers(text, len(passages))):
        return Answer(question, REFUSAL, True, passages, [], timings)
    numbers = cited_numbers(text, len(passages))
    if not numbers:
        # Uncited answer: tie it to the passage it most plausibly came from.
        guess = overlap_attribution(text, [p.text for p in passages])
        numbers = [guess or 1]
    citations = [
        Citation(
            n=n,
            source=passages[n - 1].source,
            page=passages[n - 1].page,
            quote=best_quote(passages[n - 1].text, _claims_citing(text, n)),
            score=passages[n - 1].similarity,
        )
        for n in numbers
    ]
    return Answer(question, text, False, passages, citations, timings)


def _claims_citing(text: str, n: int) -> str:
    """The sentences of ``text`` that cite ``[n]`` (all of it if none does explicitly)."""
    marker = f"[{n}]"
    cited = [s for s in _SENTENCE.split(text) if marker in s]
    return " ".join(cited) or text


class AnswerStream:
    """Iterate for the answer's text as it is generated; then ``answer`` holds the result."""

    def __init__(
        self,
        question: str,
        passages: list[Passage],
        tokens: Iterator[str] | None,
        timings: dict[str, float],
        clock: Callable[[], float],
    ) -> None:
        self.question = question
        self.passages = passages
        self._tokens = tokens
        self._timings = timings
        self._clock = clock
        self._answer: Answer | None = None
        if tokens is None:
            self._answer = Answer(question, REFUSAL, True, passages, [], timings)

    @property
    def refused_early(self) -> bool:
        """True when nothing relevant was retrieved and the model was not called."""
        return self._tokens is None

    def __iter__(self) -> Iterator[str]:
        if self._tokens is None:
            yield REFUSAL
            return
        raw: list[str] = []
        started = self._clock()
        for piece in CitationStream(len(self.passages))(self._tokens):
            if not raw:
                self._timings["first_token_s"] = (
                    self._clock() - started + self._timings.get("retrieval_s", 0.0)
                )
            raw.append(piece)
            yield piece
        self._timings["generation_s"] = self._clock() - started
        self._answer = build_answer(self.question, "".join(raw), self.passages, self._timings)

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer
