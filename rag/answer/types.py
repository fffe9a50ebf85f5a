"""What a question gets back: the answer text, whether it was refused, and its sources."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rag.answer.cite import CitationStream, clean_citations, overlap_attribution
from rag.answer.verify import SentenceCheck, Verification
from rag.errors import ModelError
from rag.retrieval.hybrid import Passage
from rag.text import cited_numbers, sentence_spans, sentences

__all__ = [
    "REFUSAL",
    "Answer",
    "AnswerStream",
    "Citation",
    "best_quote",
    "build_answer",
    "verified_answer",
]

#: What the assistant says when the documents do not hold an answer.
REFUSAL = "Not found in your documents."

# The model's own way of saying it (the system prompt asks for this sentence).
_MODEL_REFUSAL = re.compile(
    r"could not find (this|that|the answer|it)? ?in (your|the) documents", re.I
)


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


def best_quote(passage: str, claim: str, limit: int = 400) -> str:
    """The sentence of ``passage`` that shares most content words with ``claim``.

    Falls back to the start of the passage. Used as the citation's quote, so the
    reader sees the words that support the answer rather than the whole chunk.
    """
    candidates = [passage[a:b] for a, b in sentence_spans(passage, min_chars=4)]
    if not candidates:
        return passage[:limit]
    best = overlap_attribution(claim, candidates)
    quote = candidates[best - 1] if best else candidates[0]
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


def verified_answer(
    base: Answer, verification: Verification, mode: str, strict: bool, note: str = ""
) -> Answer:
    """``base`` with its sentences checked: citations come from the checks (corrected
    where a sentence was supported by another passage) and quote the exact span."""
    if not verification.sentences:
        return base
    changed = strict and bool([s for s in verification.sentences if s.support == "unsupported"])
    changed |= any(s.corrected for s in verification.sentences)
    text = verification.text(strict) if (changed or mode == "extractive") else base.text
    kept = [s for s in verification.sentences if not (strict and s.support == "unsupported")]
    if not text.strip() or not kept:
        return Answer(base.question, REFUSAL, True, base.passages, [], base.timings, mode=mode)
    citations: dict[int, Citation] = {}
    for s in kept:
        for n in s.citations:
            if n in citations or not 1 <= n <= len(base.passages):
                continue
            p = base.passages[n - 1]
            quote = (
                s.span.text if s.span is not None and s.span.n == n else best_quote(p.text, s.text)
            )
            citations[n] = Citation(n, p.source, p.page, quote, p.similarity)
    if not citations:
        citations = {c.n: c for c in base.citations}
    return Answer(
        base.question,
        text,
        False,
        base.passages,
        [citations[n] for n in sorted(citations)],
        base.timings,
        kept if strict else verification.sentences,
        mode,
        note,
        base.text if text != base.text else None,
    )


def _claims_citing(text: str, n: int) -> str:
    """The sentences of ``text`` that cite ``[n]`` (all of it if none does explicitly)."""
    marker = f"[{n}]"
    cited = [s for s in sentences(text) if marker in s]
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
        finish: Callable[[Answer], Answer] | None = None,
        ready: Answer | None = None,
        on_done: Callable[[Answer], None] | None = None,
        failed: Callable[[ModelError], Answer] | None = None,
    ) -> None:
        """``tokens`` None and ``ready`` None: refused without calling the model.
        ``ready``: an answer made without the model (extractive), yielded at once.
        ``finish``: applied to the model's answer once streaming ends (verification).
        ``on_done``: called once with the final answer (the audit log).
        ``failed``: the answer to give when the model fails (before or mid-answer)."""
        self.question = question
        self.passages = passages
        self._tokens = tokens
        self._timings = timings
        self._clock = clock
        self._finish = finish
        self._failed = failed
        self._answer: Answer | None = ready
        self._on_done = on_done
        if tokens is None and ready is None:
            self._answer = Answer(question, REFUSAL, True, passages, [], timings)
        if self._answer is not None and on_done is not None:
            on_done(self._answer)

    @property
    def refused_early(self) -> bool:
        """True when nothing relevant was retrieved and the model was not called."""
        return self._tokens is None and self._answer is not None and self._answer.refused

    @property
    def from_model(self) -> bool:
        """True when iterating streams the model's tokens (not a ready-made answer)."""
        return self._tokens is not None

    def __iter__(self) -> Iterator[str]:
        if self._tokens is None:
            assert self._answer is not None
            yield self._answer.text
            return
        raw: list[str] = []
        started = self._clock()
        try:
            for piece in CitationStream(len(self.passages))(self._tokens):
                if not raw:
                    self._timings["first_token_s"] = (
                        self._clock() - started + self._timings.get("retrieval_s", 0.0)
                    )
                raw.append(piece)
                yield piece
        except ModelError as exc:
            if self._failed is None:
                raise
            self._answer = self._failed(exc)
        else:
            self._timings["generation_s"] = self._clock() - started
            answer = build_answer(self.question, "".join(raw), self.passages, self._timings)
            self._answer = self._finish(answer) if self._finish and not answer.refused else answer
        if self._on_done is not None:
            self._on_done(self._answer)

    @property
    def answer(self) -> Answer:
        if self._answer is None:
            for _ in self:
                pass
        assert self._answer is not None
        return self._answer
