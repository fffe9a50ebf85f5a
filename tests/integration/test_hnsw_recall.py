"""Recall@10 of the Chroma HNSW index, with the project's settings, against exact search.

5,000 unit vectors (dim 384) from a 50-cluster Gaussian mixture, renormalised, fixed seed;
100 queries from the same mixture. Every item has a ``source`` (50 sources of ~100 items,
assigned at random); the filtered queries ask for 5 sources (~10% of the items), which
goes through ``ChromaStore.query(sources=...)`` -- a ``$in`` filter inside the search.
A deliberately bad configuration is measured too, to show the measurement can fail.
Full sweep (real CISI embeddings, 20k items, Chroma's defaults): ``bench/hnsw_recall.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rag.config import Settings
from rag.retrieval.chroma import ChromaStore, chroma_client
from rag.retrieval.store import Record

pytestmark = pytest.mark.slow

N, DIM, CLUSTERS, N_QUERIES, N_SOURCES, K = 5_000, 384, 50, 100, 50, 10
SOURCES_PER_QUERY = 5  # 5 of 50 sources: ~10% of the items
TARGET = 0.98
TIE_EPS = 1e-5


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class Data:
    docs: np.ndarray
    queries: np.ndarray
    sources: np.ndarray  # source index per item
    query_sources: list[list[int]]  # the sources each filtered query asks for


@pytest.fixture(scope="module")
def data() -> Data:
    rng = np.random.default_rng(20240611)
    centers = _unit(rng.standard_normal((CLUSTERS, DIM)))
    docs = _unit(centers[rng.integers(0, CLUSTERS, N)] + 0.08 * rng.standard_normal((N, DIM)))
    queries = _unit(
        centers[rng.integers(0, CLUSTERS, N_QUERIES)] + 0.08 * rng.standard_normal((N_QUERIES, DIM))
    )
    sources = rng.integers(0, N_SOURCES, N)
    qsrc = [
        sorted(int(s) for s in rng.choice(N_SOURCES, SOURCES_PER_QUERY, replace=False))
        for _ in range(N_QUERIES)
    ]
    return Data(docs, queries, sources, qsrc)


def _name(s: int) -> str:
    return f"doc{s:02d}.pdf"


def _build(path: Path, data: Data, **hnsw: int) -> ChromaStore:
    store = ChromaStore(chroma_client(path=str(path)), "recall", **hnsw)
    records = [
        Record(str(i), f"chunk {i}", {"source": _name(int(s))}) for i, s in enumerate(data.sources)
    ]
    for i in range(0, N, 2_000):
        store.upsert(records[i : i + 2_000], data.docs[i : i + 2_000])
    assert store.count() == N
    return store


def _recall(store: ChromaStore, data: Data, filtered: bool) -> tuple[float, float]:
    """Mean and min recall@K; a hit counts if its exact similarity ties the K-th best."""
    recalls: list[float] = []
    for qi, q in enumerate(data.queries):
        sims = data.docs @ q
        wanted: Sequence[str] | None = None
        if filtered:
            allowed = np.isin(data.sources, data.query_sources[qi])
            sims = np.where(allowed, sims, -np.inf)
            wanted = [_name(s) for s in data.query_sources[qi]]
        kth = -np.partition(-sims, K - 1)[K - 1]
        hits = store.query(q, K, sources=wanted)
        assert len(hits) == K
        if wanted is not None:
            assert {h.record.metadata["source"] for h in hits} <= set(wanted)
        got = np.array([int(h.id) for h in hits])
        recalls.append(float(np.sum(sims[got] >= kth - TIE_EPS)) / K)
    return float(np.mean(recalls)), float(np.min(recalls))


@pytest.fixture(scope="module")
def recalls(data: Data, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[float, float]]:
    s = Settings()
    ours = _build(
        tmp_path_factory.mktemp("hnsw_ours"),
        data,
        ef_construction=s.hnsw_ef_construction,
        ef_search=s.hnsw_ef_search,
        max_neighbors=s.hnsw_max_neighbors,
    )
    bad = _build(
        tmp_path_factory.mktemp("hnsw_bad"), data, ef_construction=8, ef_search=10, max_neighbors=4
    )
    out = {
        "ours": _recall(ours, data, filtered=False),
        "ours_filtered": _recall(ours, data, filtered=True),
        "bad": _recall(bad, data, filtered=False),
        "bad_filtered": _recall(bad, data, filtered=True),
    }
    fmt = {k: f"{m:.4f} (min {lo:.2f})" for k, (m, lo) in out.items()}
    print(
        f"\nrecall@{K} efc={s.hnsw_ef_construction} efs={s.hnsw_ef_search}"
        f" M={s.hnsw_max_neighbors}: {fmt['ours']}, filtered {fmt['ours_filtered']};"
        f" bad efc=8 efs=10 M=4: {fmt['bad']}, filtered {fmt['bad_filtered']}"
    )
    return out


def test_default_settings_reach_target_recall(recalls: dict[str, tuple[float, float]]) -> None:
    mean, _ = recalls["ours"]
    assert mean >= TARGET, f"recall@{K} {mean:.4f} < {TARGET} with the project's HNSW settings"


def test_default_settings_reach_target_recall_filtered(
    recalls: dict[str, tuple[float, float]],
) -> None:
    mean, _ = recalls["ours_filtered"]
    assert mean >= TARGET, f"filtered recall@{K} {mean:.4f} < {TARGET} with the project's settings"


def test_bad_settings_are_detected(recalls: dict[str, tuple[float, float]]) -> None:
    """The measurement is sensitive: a starved graph loses recall visibly."""
    bad, _ = recalls["bad"]
    assert bad < 0.9, f"a bad HNSW config still gave recall@{K} {bad:.4f}: test cannot fail"
    assert bad <= recalls["ours"][0] - 0.05
