"""What a question gets back: the answer, its sources, and the events on the way.

A question is a stream of events: ``Retrieved`` once the passages are found; in
``auto``, a ``Draft`` (the passages' own words, to show while the model writes); in
``generative``, a ``Token`` for each piece of the model's answer as it is written; and
``Done`` with the final ``Answer``. In ``auto`` no text the check may still reject is
ever an event. ``AnswerStream`` iterates them; front ends render each kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.answer.verify import SentenceCheck
from rag.retrieval.hybrid import Passage

__all__ = [
    "REFUSAL",
    "Answer",
    "AnswerStream",
    "Citation",
    "Done",
    "Draft",
    "Event",
    "Retrieved",
    "Token",
]

#: What the assistant says when the documents do not hold an answer.
REFUSAL = "Not found in your documents."


@dataclass(frozen=True, slots=True)
class Citation:
    """A numbered source of an answer: passage ``n`` of the prompt.

    ``ocr_confidence`` is set when the passage was read by OCR from a scanned page or an
    image (its page's mean word confidence, 0-100): its quote may hold OCR errors."""

    n: int
    source: str
    page: int | None
    quote: str
    score: float
    ocr_confidence: float | None = None

    @property
    def ocr(self) -> bool:
        return self.ocr_confidence is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "source": self.source,
            "page": self.page,
            "quote": self.quote,
            "score": round(self.score, 4),
            "ocr_confidence": self.ocr_confidence,
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
    sentences: list[SentenceCheck] = field(default_factory=list)
    """Each sentence of ``text`` with its support (empty for a refusal)."""
    mode: str = "generative"
    """How the text was made: ``generative`` (the model) or ``extractive`` (passages' sentences)."""
    note: str = ""
    """Why the mode differs from the one asked for (``auto`` falling back), if it does."""
    model_text: str | None = None
    """The model's own answer when ``text`` is something else (auto fallback, strict)."""
    model_error: str | None = None
    """Why the model could not answer (then ``text`` is the extractive answer)."""

    @property
    def unsupported(self) -> list[SentenceCheck]:
        return [s for s in self.sentences if s.support == "unsupported"]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "answer": self.text,
            "refused": self.refused,
            "citations": [c.to_json() for c in self.citations],
            "sentences": [s.to_json() for s in self.sentences],
            "mode": self.mode,
        }
        if self.note:
            out["note"] = self.note
        if self.model_error:
            out["model_error"] = self.model_error
        return out


@dataclass(frozen=True, slots=True)
class Retrieved:
    """Retrieval is done: the passages an answer may use, numbered from 1."""

    passages: list[Passage]


@dataclass(frozen=True, slots=True)
class Draft:
    """An answer to show now that a better one may replace (``auto``: the passages' own
    words while the model's answer is written and checked). It is checked already."""

    answer: Answer


@dataclass(frozen=True, slots=True)
class Token:
    """A piece of the model's answer as it is written (citation markers cleaned)."""

    text: str


@dataclass(frozen=True, slots=True)
class Done:
    """The final answer; nothing follows."""

    answer: Answer


Event = Retrieved | Draft | Token | Done


class AnswerStream:
    """The events of one question, in order: ``Retrieved``, maybe a ``Draft``, any
    ``Token`` events, then ``Done``. Iterate it once; :attr:`answer` runs it to the end
    if needed."""

    def __init__(self, question: str, events: Iterator[Event]) -> None:
        self.question = question
        self._events = events
        self._answer: Answer | None = None
        self.passages: list[Passage] = []

    def __iter__(self) -> Iterator[Event]:
        for event in self._events:
            if isinstance(event, Retrieved):
                self.passages = event.passages
            elif isinstance(event, Done):
                self._answer = event.answer
            yield event

    def tokens(self) -> Iterator[str]:
        """The text of the :class:`Token` events, as they come (for a terminal or a page
        that shows the model's answer while it is written)."""
        for event in self:
            if isinstance(event, Token):
                yield event.text

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None, "the stream ended without an answer"
        return self._answer
