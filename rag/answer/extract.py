"""Answers without a model, and what the model is shown.

:func:`extractive_answer` answers with the passages' own best sentences, each cited:
it cannot state anything the documents do not. :func:`condense` cuts each passage to
the sentences closest to the question for the prompt. Both rank the passage sentences
by the embeddings :mod:`rag.answer.verify` computes and caches.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from rag.answer.verify import (
    SentenceCheck,
    Span,
    Verification,
    embed_texts,
    key_terms,
    passage_sentences,
)
from rag.models.base import Embedder
from rag.retrieval.hybrid import Passage
from rag.text import words

__all__ = ["condense", "extractive_answer"]


def extractive_answer(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    max_sentences: int = 2,
    min_similarity: float = 0.35,
) -> Verification:
    """The passages' own best sentences for ``question``, in passage order, each cited.

    Sentences are ranked by cosine similarity to the question plus a bonus for the
    question's content words they contain; nothing is generated, so nothing can be
    invented. Returns the chosen sentences as verified (``supported``) checks.
    """
    started = time.perf_counter()
    singles = [c for c in passage_sentences(passages) if _is_statement(c.text)]
    if not singles:
        return Verification([], time.perf_counter() - started)
    vectors = embed_texts(embedder, [question] + [c.text for c in singles])
    sims = vectors[1:] @ vectors[0]
    asked = {w for w in words(question) if len(w) > 3}
    scores = []
    for k, c in enumerate(singles):
        overlap = len(asked & set(words(c.text))) / max(len(asked), 1)
        rank_bonus = 0.05 * (len(passages) - c.n)  # the retriever's order is a strong signal
        scores.append(float(sims[k]) + 0.3 * overlap + rank_bonus)
    order = np.argsort(scores)[::-1]
    chosen: list[Span] = []
    top = scores[int(order[0])]
    for k in order:
        if len(chosen) >= max_sentences:
            break
        if chosen and (
            sims[k] < min_similarity or _elsewhere(singles[int(k)], chosen, scores[k], top)
        ):
            continue
        chosen.append(singles[int(k)])
    chosen.sort(key=lambda c: (c.n, c.start))
    checks = [
        SentenceCheck(c.text, "supported", [c.n], c, float(sims[singles.index(c)])) for c in chosen
    ]
    return Verification(checks, time.perf_counter() - started)


def _elsewhere(c: Span, chosen: list[Span], score: float, top: float) -> bool:
    """A further sentence from another passage than the chosen ones, and clearly weaker:
    it would add a second source for little reason (and often the wrong one)."""
    return all(c.n != o.n for o in chosen) and score < top - 0.1


def _is_statement(text: str) -> bool:
    """A sentence worth quoting as an answer: not a heading, label or fragment."""
    return len(words(text)) >= 5 and not text.rstrip().endswith(":")


def condense(
    question: str, passages: Sequence[Passage], embedder: Embedder, per_passage: int = 3
) -> list[str]:
    """Each passage cut to its ``per_passage`` sentences closest to ``question`` (kept in
    their original order), for the prompt.

    On 2 CPU cores a small model reads a prompt at about 185 tokens/s, so five full
    256-token passages cost ~7 s before the first token; their best sentences cost a
    fraction of that. The answer is still checked against the full passages. The
    sentence embeddings are cached and reused by :func:`verify`.
    """
    if per_passage <= 0:
        return [p.text for p in passages]
    singles = passage_sentences(passages)
    if not singles:
        return [p.text for p in passages]
    vectors = embed_texts(embedder, [question] + [s.text for s in singles])
    sims = vectors[1:] @ vectors[0]
    asked = key_terms(question)
    out = []
    for n, p in enumerate(passages, start=1):
        mine = [(i, s) for i, s in enumerate(singles) if s.n == n]
        if len(mine) <= per_passage:
            out.append(p.text)
            continue

        def score(item: tuple[int, Span]) -> float:
            i, s = item
            return float(sims[i]) + 0.1 * len(asked & key_terms(s.text)) / max(len(asked), 1)

        best = sorted(sorted(mine, key=score, reverse=True)[:per_passage], key=lambda x: x[1].start)
        out.append("\n".join(s.text for _, s in best))
    return out
