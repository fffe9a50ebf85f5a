"""The relevance gate: whether the retrieved passages can answer the question at all.

Below ``Settings.min_relevance`` the answer is "Not found in your documents." and no
model is called: a small model given off-topic passages answers anyway, and an
extractive answer would quote something beside the point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.retrieval.hybrid import Passage
from rag.retrieval.keyword import Vocabulary

__all__ = ["relevance", "specific_terms"]

#: What a question loses when it names something (a product, a place, an identifier)
#: that no passage the reader may read mentions: a near miss ("innodb_buffer_pool_size"
#: asked of the PostgreSQL manual) looks on-topic to every other signal. Chosen by the
#: curve in bench/verification.py: on the manual's 70 unanswerable questions refusal
#: recall 0.257 -> 0.457 with no answerable one refused; on sample_docs 0.500 -> 0.528,
#: false refusals 12 -> 13 of 128 (a question naming a city the policy does not).
NEAR_MISS = 0.15

_TOKEN = re.compile(r"[^\W\d_][\w.\-]*\w|[^\W\d_]")
_SENTENCE_START = re.compile(r"(^|[.?!:]\s*|[\"'(]\s*)$")


def specific_terms(question: str) -> list[str]:
    """The names and identifiers a question asks about: words capitalised inside a
    sentence, acronyms, CamelCase, and identifiers with ``_`` ("Citus", "RMAN",
    "pgBackRest", "shared_buffers")."""
    out = []
    for m in _TOKEN.finditer(question):
        word = m.group()
        at_start = bool(_SENTENCE_START.search(question[: m.start()]))
        if (
            "_" in word
            or re.search(r"[a-z][A-Z]|[A-Z]{2,}", word)
            or (word[0].isupper() and not at_start and word != "I")
        ):
            out.append(word)
    return out


def relevance(question: str, passages: Sequence[Passage], vocabulary: Vocabulary) -> float:
    """How well the passages match the question, 0..1: the mean of the best cosine
    similarity and the IDF-weighted share of question terms the top passages contain,
    less :data:`NEAR_MISS` when the question names something the reader's documents
    never mention.

    Either signal alone lets unanswerable questions through (dense similarity is
    high for on-topic but unanswered questions; term overlap misses paraphrases).
    """
    if not passages:
        return 0.0
    similarity = max(p.similarity for p in passages)
    score = (
        max(similarity, 0.0) + vocabulary.coverage(question, [p.text for p in passages[:3]])
    ) / 2
    if vocabulary.unseen(specific_terms(question)):
        score -= NEAR_MISS
    return max(score, 0.0)
