"""The relevance gate's arithmetic, on a fixed vocabulary (the real collection's numbers
are measured in tests/integration/test_quality.py)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from rag.answer.gate import NEAR_MISS, relevance, specific_terms
from rag.retrieval.hybrid import Passage
from rag.retrieval.keyword import Vocabulary
from rag.retrieval.store import Record


def _vocabulary(known: set[str], coverage: float = 0.6) -> Vocabulary:
    def unseen(terms: Sequence[str]) -> list[str]:
        return [t for t in terms if t.lower() not in known]

    return Vocabulary(coverage=lambda q, t: coverage, unseen=unseen, weights=lambda t: {})


def _passage(similarity: float) -> Passage:
    record = Record("c1", "text", {"source": "a.txt"})
    return Passage(record, score=1.0, similarity=similarity)


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("What should innodb_buffer_pool_size be on 64 GB?", ["innodb_buffer_pool_size", "GB"]),
        ("How do I set up pgBackRest with an S3 repository?", ["pgBackRest", "S3"]),
        ("Can I stay in a hotel in Paris? And in Lyon?", ["Paris", "Lyon"]),
        ("What is the notice period? I am a senior engineer.", []),
        ("Who signs off a claim over five grand", []),
    ],
)
def test_specific_terms_are_names_and_identifiers(question: str, terms: list[str]) -> None:
    assert specific_terms(question) == terms


def test_a_name_no_readable_document_mentions_lowers_relevance() -> None:
    passages = [_passage(0.5)]
    question = "How do I configure Patroni for failover?"
    known = relevance(question, passages, _vocabulary({"patroni"}))
    assert known == pytest.approx((0.5 + 0.6) / 2)
    assert relevance(question, passages, _vocabulary(set())) == pytest.approx(known - NEAR_MISS)
    # A question naming nothing is scored on similarity and coverage alone.
    plain = "How do I configure failover?"
    assert relevance(plain, passages, _vocabulary(set())) == pytest.approx(known)
    assert relevance(question, [], _vocabulary(set())) == 0.0
