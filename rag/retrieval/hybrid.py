"""Hybrid retrieval: dense (vector store) and keyword (BM25), fused by reciprocal rank.

Each component can be used alone (``mode="dense"`` / ``"keyword"``) for
comparison. Every passage carries its cosine similarity to the question, which
the assistant uses to decide whether anything relevant was found at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

import numpy as np

from rag.config import RetrievalMode
from rag.models.base import Embedder
from rag.retrieval.keyword import KeywordIndex
from rag.retrieval.store import Record, VectorStore

__all__ = ["Passage", "Retriever", "reciprocal_rank_fusion"]


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk: its record, its rank score, and its cosine similarity to the query."""

    record: Record
    score: float
    similarity: float

    @property
    def text(self) -> str:
        return self.record.text

    @property
    def source(self) -> str:
        return str(self.record.metadata.get("source", ""))

    @property
    def page(self) -> int | None:
        page = self.record.metadata.get("page")
        return int(page) if page is not None else None

    @property
    def ocr_confidence(self) -> float | None:
        """For a passage read by OCR from a scan: its page's mean word confidence (0-100)."""
        value = self.record.metadata.get("ocr_confidence")
        if not self.record.metadata.get("ocr") or value is None:
            return None
        return float(value)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = 60
) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), rank from 1.
    Equal scores (common: first in one list, first in another) go by the ranks, list by
    list, not by the ids: ids hash the documents' paths, so the same corpus copied
    elsewhere would break its ties another way and answer differently."""
    scores: dict[str, float] = {}
    ranks: dict[str, list[float]] = {}
    for n, ranking in enumerate(rankings):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(item, [math.inf] * len(rankings))[n] = rank
    return sorted(scores.items(), key=lambda kv: (-kv[1], ranks[kv[0]], kv[0]))


class Retriever:
    """Searches one collection. ``keyword_index`` is called lazily (it may need a rebuild)."""

    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        keyword_index: Callable[[], KeywordIndex],
        *,
        rrf_k: int = 60,
        candidates: int = 30,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self._keyword_index = keyword_index
        self.rrf_k = rrf_k
        self.candidates = candidates

    def search(
        self,
        query: str,
        k: int,
        mode: RetrievalMode = "hybrid",
        sources: Sequence[str] | None = None,
        readers: Collection[str] | None = None,
    ) -> list[Passage]:
        """The ``k`` best passages for ``query``, restricted to ``sources`` when given and
        to what ``readers`` (principals) may see when given; both filters act inside
        each search, so what a reader may not see never takes a place in the ranking."""
        vector = self.embedder.embed_query(query)
        pool = max(self.candidates, k * 3)
        if mode == "dense":
            hits = self.store.query(vector, k, sources, readers)
            return [Passage(h.record, h.score, h.score) for h in hits]
        keyword_hits = self._keyword_index().search(query, pool, sources, readers)
        if mode == "keyword":
            ranked = [(h.id, h.score) for h in keyword_hits[:k]]
            return self._passages(ranked, vector, {})
        dense_hits = self.store.query(vector, pool, sources, readers)
        fused = reciprocal_rank_fusion(
            [[h.id for h in dense_hits], [h.id for h in keyword_hits]], self.rrf_k
        )[:k]
        known = {h.id: (h.record, h.score) for h in dense_hits}
        return self._passages(fused, vector, known)

    def best_similarity(
        self,
        query: str,
        sources: Sequence[str] | None = None,
        readers: Collection[str] | None = None,
    ) -> float:
        """Cosine similarity of the closest chunk in scope (-1 when the scope is empty)."""
        hits = self.store.query(self.embedder.embed_query(query), 1, sources, readers)
        return hits[0].score if hits else -1.0

    def _passages(
        self,
        ranked: list[tuple[str, float]],
        vector: np.ndarray,
        known: dict[str, tuple[Record, float]],
    ) -> list[Passage]:
        missing = [i for i, _ in ranked if i not in known]
        if missing:
            records = {r.id: r for r in self.store.get(missing)}
            vectors = self._vectors(missing)
            for i in missing:
                if i in records:
                    sim = float(vectors[i] @ vector) if i in vectors else 0.0
                    known[i] = (records[i], sim)
        return [Passage(known[i][0], score, known[i][1]) for i, score in ranked if i in known]

    def _vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        fetch = getattr(self.store, "embeddings", None)
        if fetch is None:
            return {}
        return dict(zip(ids, fetch(ids), strict=True))
