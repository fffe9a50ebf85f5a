"""The relevance gate: whether the retrieved passages can answer the question at all.

Below ``Settings.min_relevance`` the answer is "Not found in your documents." and no
model is called: a small model given off-topic passages answers anyway, and an
extractive answer would quote something beside the point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rag.retrieval.hybrid import Passage

__all__ = ["relevance"]

#: The IDF-weighted share of a question's terms found in texts (``Collection.coverage``).
Coverage = Callable[[str, Sequence[str]], float]


def relevance(question: str, passages: Sequence[Passage], coverage: Coverage) -> float:
    """How well the passages match the question, 0..1: the mean of the best cosine
    similarity and the IDF-weighted share of question terms the top passages contain.

    Either signal alone lets unanswerable questions through (dense similarity is
    high for on-topic but unanswered questions; term overlap misses paraphrases).
    """
    if not passages:
        return 0.0
    similarity = max(p.similarity for p in passages)
    return (max(similarity, 0.0) + coverage(question, [p.text for p in passages[:3]])) / 2
