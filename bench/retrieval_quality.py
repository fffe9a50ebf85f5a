"""Retrieval quality on CISI and PubMedQA: keyword (BM25), dense, hybrid, and variants.

    python bench/retrieval_quality.py            # full: CISI (1,460 docs, 76 judged queries),
                                                  # PubMedQA dev (500 docs, 500 questions)
    python bench/retrieval_quality.py --quick    # 60 docs of each, their queries (CI)

Documents go through the real pipeline (files -> rag ingest -> Chroma + BM25) in a data
directory cached under ``$RAG_BENCH_CACHE`` (default ``~/.cache/rag-bench``), so a second
run re-embeds nothing. Passages are mapped back to documents (first occurrence) and
scored per query: nDCG@10, Recall@10, MRR@10 and, for PubMedQA, hit@1 / hit@5. Every
mode is measured in the same run; ``vs bm25`` is the ratio of nDCG@10 to BM25's. The
``(reader)`` rows search as an ordinary user (principals ``everyone`` and ``user:bench``)
rather than as an admin: every document here is readable by everyone, so they must equal
the rows above them (BM25's statistics are counted over what the reader may read).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from hnsw_recall import parse_cisi  # noqa: E402

from rag import Assistant, Settings  # noqa: E402
from rag.retrieval.hybrid import Retriever  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
CACHE = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))
K = 10
READER = frozenset({"everyone", "user:bench"})

Dataset = tuple[dict[str, str], list[tuple[str, str, set[str]]]]  # docs, (qid, query, relevant)


def cisi(limit: int | None) -> Dataset:
    docs = dict(parse_cisi(EVAL / "cisi" / "CISI.ALL", ["T", "W"]))
    queries = dict(parse_cisi(EVAL / "cisi" / "CISI.QRY", ["T", "W"]))
    rel: dict[str, set[str]] = {}
    for line in (EVAL / "cisi" / "CISI.REL").read_text().splitlines():
        q, d = line.split()[:2]
        rel.setdefault(q, set()).add(d)
    if limit:
        docs = dict(list(docs.items())[:limit])
    qs = [(q, queries[q], r & set(docs)) for q, r in rel.items() if q in queries and r & set(docs)]
    return docs, qs


def pubmedqa(limit: int | None) -> Dataset:
    items = json.loads((EVAL / "pubmedqa" / "pqal_dev.json").read_text())
    if limit:
        items = dict(list(items.items())[:limit])
    docs = {pid: "\n\n".join(it["CONTEXTS"]) for pid, it in items.items()}
    qs = [(pid, it["QUESTION"], {pid}) for pid, it in items.items()]
    return docs, qs


def index(name: str, docs: dict[str, str]) -> Assistant:
    folder = CACHE / f"retrieval-{name}-{len(docs)}"
    files = folder / "docs"
    files.mkdir(parents=True, exist_ok=True)
    for doc_id, text in docs.items():
        path = files / f"{doc_id}.txt"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    a = Assistant(Settings(data_dir=folder / "data"))
    report = a.ingest([files])
    print(f"[{name}] {report.summary()}", file=sys.stderr)
    return a


def scores(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    top = ranked[:K]
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(top) if d in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(relevant), K)))
    first = next((i for i, d in enumerate(top) if d in relevant), None)
    return {
        "ndcg@10": dcg / ideal if ideal else 0.0,
        "recall@10": len(set(top) & relevant) / len(relevant),
        "mrr@10": 1 / (first + 1) if first is not None else 0.0,
        "hit@1": float(bool(top) and top[0] in relevant),
        "hit@5": float(bool(set(top[:5]) & relevant)),
    }


def run(
    a: Assistant, queries: list[tuple[str, str, set[str]]], search: Callable[[str], list]
) -> dict[str, float]:
    totals: dict[str, float] = {}
    for _, query, relevant in queries:
        ranked: list[str] = []
        for p in search(query):
            doc = Path(p.source).stem
            if doc not in ranked:
                ranked.append(doc)
        for key, value in scores(ranked, relevant).items():
            totals[key] = totals.get(key, 0.0) + value
    return {k: v / len(queries) for k, v in totals.items()}


def search_modes(a: Assistant, pool: int) -> dict[str, Callable[[str], list]]:
    modes: dict[str, Callable[[str], list]] = {
        "bm25": lambda q: a.search(q, k=pool, mode="keyword"),
        "dense": lambda q: a.search(q, k=pool, mode="dense"),
        "hybrid (rrf k=60)": lambda q: a.search(q, k=pool, mode="hybrid"),
    }
    collection = a.collection()
    for mode in ("keyword", "hybrid"):
        name = "bm25 (reader)" if mode == "keyword" else "hybrid (reader)"
        modes[name] = lambda q, m=mode: collection.search(q, pool, m, None, READER)
    for rrf in (10, 200):
        r = Retriever(collection.store, a.embedder, collection.keyword_index, rrf_k=rrf)
        modes[f"hybrid (rrf k={rrf})"] = lambda q, r=r: r.search(q, pool, "hybrid")
    return modes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 documents of each set")
    args = parser.parse_args()
    limit = 60 if args.quick else None
    if not (EVAL / "cisi" / "CISI.ALL").exists():
        sys.exit(f"missing {EVAL} (see ../shared/eval/README.md)")
    for name, loader in (("cisi", cisi), ("pubmedqa", pubmedqa)):
        docs, queries = loader(limit)
        a = index(name, docs)
        modes = search_modes(a, pool=30)  # 30 passages: 10 distinct documents remain
        results = {mode: run(a, queries, fn) for mode, fn in modes.items()}
        base = results["bm25"]["ndcg@10"] or 1.0
        print(f"\n{name}: {len(docs)} documents, {len(queries)} queries")
        print(
            f"{'mode':20} {'nDCG@10':>8} {'R@10':>7} {'MRR@10':>7} {'hit@1':>6} {'hit@5':>6} {'vs bm25':>8}"
        )
        for mode, m in results.items():
            print(
                f"{mode:20} {m['ndcg@10']:8.3f} {m['recall@10']:7.3f} {m['mrr@10']:7.3f} "
                f"{m['hit@1']:6.3f} {m['hit@5']:6.3f} {m['ndcg@10'] / base:8.2f}"
            )


if __name__ == "__main__":
    main()
