"""Assemble an answer: the model's text or the extracted sentences become an
:class:`~rag.answer.types.Answer` whose citations quote the words that support it."""

from __future__ import annotations

import re

from rag.answer.cite import clean_citations, overlap_attribution
from rag.answer.types import REFUSAL, Answer, Citation
from rag.answer.verify import Verification
from rag.retrieval.hybrid import Passage
from rag.text import cited_numbers, sentence_spans, sentences

__all__ = ["best_quote", "build_answer", "verified_answer"]

# The model's own way of saying it (the system prompt asks for this sentence).
_MODEL_REFUSAL = re.compile(
    r"could not find (this|that|the answer|it)? ?in (your|the) documents", re.I
)


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
            ocr_confidence=passages[n - 1].ocr_confidence,
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
            citations[n] = Citation(n, p.source, p.page, quote, p.similarity, p.ocr_confidence)
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
