"""CISI texts (documents and queries) in file order, for benchmarks that need words."""

from __future__ import annotations

from hnsw_recall import CISI, parse_cisi


def cisi_texts() -> tuple[list[str], list[str]]:
    docs = [t for _, t in parse_cisi(CISI / "CISI.ALL", ("T", "W"))]
    queries = [t for _, t in parse_cisi(CISI / "CISI.QRY", ("T", "W"))]
    return docs, queries
