"""Recall@10 of Chroma's HNSW index against exact (brute-force) search.

    python bench/hnsw_recall.py            # full run (~25 min on 2 cores, +~1 min to embed once)
    python bench/hnsw_recall.py --quick    # small subset, < 60 s

Datasets (all unit-normalised, cosine space, dim 384 from the bundled all-MiniLM-L6-v2):

* ``cisi``       -- the 1,460 CISI documents (title + abstract), queried with the 112
                    CISI queries. Real embeddings.
* ``cisi-syn``   -- 20,000 vectors grown from the real document embeddings: each is a
                    blend of a document and one of its 20 nearest documents plus
                    Gaussian noise, renormalised (stands in for the chunks of a larger
                    library). Queried with the 112 real queries plus 88 noisy copies.
* ``gmm``        -- 20,000 vectors from a 50-cluster Gaussian mixture, renormalised
                    (queries drawn from the same mixture: in-distribution, the easy case;
                    real questions against documents are out-of-distribution and harder).

Every dataset is measured unfiltered and filtered: each item gets a ``source`` out of
10 (assigned at random, so the filter is unrelated to the query) and the filtered
query carries ``where={"source": ...}`` -- about 10% of the items.

The ``real-q`` column is the recall over the real CISI queries only (the other
queries of ``cisi-syn`` are noisy copies). ``--repeat R`` rebuilds every index R times
(Chroma builds the graph with several threads, so two builds differ); then ``recall``
is over all builds and ``worst`` is the mean recall of the worst build.

Recall@10 counts a returned id as correct when its exact similarity is at least the
10th best exact similarity (minus 1e-5), so ties at the boundary are not misses.
Embeddings are cached as .npy under ``$RAG_BENCH_CACHE`` (default ``~/.cache/rag-bench``),
keyed by a hash of the model folder and the texts; never inside the repository.
Each collection lives in its own temporary PersistentClient (telemetry off).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.retrieval.chroma import ChromaStore, chroma_client  # noqa: E402
from rag.retrieval.store import Record  # noqa: E402

CISI = ROOT.parent / "shared" / "eval" / "cisi"
K = 10
N_SOURCES = 10
TIE_EPS = 1e-5
CACHE = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))


# --------------------------------------------------------------------------- data


def parse_cisi(path: Path, fields: Sequence[str]) -> list[tuple[str, str]]:
    """(id, text) per ``.I`` record; text is the given fields joined (``.X`` ignored)."""
    out: list[tuple[str, str]] = []
    rec_id: str | None = None
    cur: dict[str, list[str]] = {}
    field: str | None = None

    def flush() -> None:
        if rec_id is not None:
            text = "\n".join(" ".join(" ".join(cur.get(f, [])).split()) for f in fields)
            out.append((rec_id, text.strip()))

    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = re.match(r"^\.([A-Z])\b\s*(.*)$", line)
        if m:
            tag, rest = m.groups()
            if tag == "I":
                flush()
                rec_id, cur, field = rest.strip(), {}, None
                continue
            field = tag
            if rest.strip():
                cur.setdefault(field, []).append(rest.strip())
            continue
        if field is not None:
            cur.setdefault(field, []).append(line.strip())
    flush()
    return out


def _cache_path(texts: Sequence[str]) -> Path:
    from rag.config import Settings
    from rag.models import open_embedder

    h = hashlib.sha256(open_embedder(Settings()).name.encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return CACHE / f"emb-{h.hexdigest()[:24]}.npy"


def _load(path: Path, n: int) -> np.ndarray | None:
    if path.is_file():
        arr = np.load(path)
        if arr.shape[0] == n:
            return arr.astype(np.float32)
    return None


def embed_cached(texts: list[str], superset: list[str] | None = None) -> np.ndarray:
    """Embeddings of ``texts``; sliced from the cached ``superset`` when that is a prefix."""
    from rag.config import Settings
    from rag.models import open_embedder

    if superset is not None and superset[: len(texts)] == texts:
        full = _load(_cache_path(superset), len(superset))
        if full is not None:
            return full[: len(texts)]
    path = _cache_path(texts)
    arr = _load(path, len(texts))
    if arr is not None:
        return arr
    t0 = time.perf_counter()
    print(f"  embedding {len(texts)} texts (cached afterwards in {CACHE}) ...", flush=True)
    arr = open_embedder(Settings()).embed(texts)
    print(f"  ... {time.perf_counter() - t0:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, arr)
    tmp.replace(path)
    return arr.astype(np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@dataclass
class Dataset:
    name: str
    docs: np.ndarray  # (N, d) unit rows
    queries: np.ndarray  # (Q, d) unit rows
    texts: list[str]
    sources: np.ndarray  # (N,) int in [0, N_SOURCES)
    note: str
    n_real: int = 0  # the first n_real queries are real CISI queries


def cisi_dataset(n_docs: int | None, n_queries: int | None) -> tuple[Dataset, np.ndarray]:
    all_docs = parse_cisi(CISI / "CISI.ALL", ("T", "W"))
    all_qrys = parse_cisi(CISI / "CISI.QRY", ("T", "W"))
    docs, qrys = all_docs[:n_docs], all_qrys[:n_queries]
    d = embed_cached([t for _, t in docs], [t for _, t in all_docs])
    q = embed_cached([t for _, t in qrys], [t for _, t in all_qrys])
    rng = np.random.default_rng(7)
    src = rng.integers(0, N_SOURCES, len(docs))
    ds = Dataset("cisi", d, q, [t for _, t in docs], src, "real CISI docs + queries", len(q))
    return ds, q


def cisi_synthetic(base: np.ndarray, real_q: np.ndarray, n: int, n_q: int) -> Dataset:
    """Blends of a real doc and one of its 20 nearest docs, plus noise, renormalised."""
    rng = np.random.default_rng(11)
    sims = base @ base.T
    np.fill_diagonal(sims, -np.inf)
    nn = np.argsort(-sims, axis=1)[:, : min(20, len(base) - 1)]
    a = rng.integers(0, len(base), n)
    b = nn[a, rng.integers(0, nn.shape[1], n)]
    w = rng.uniform(0.55, 1.0, n)[:, None]
    x = w * base[a] + (1 - w) * base[b] + 0.03 * rng.standard_normal((n, base.shape[1]))
    extra = max(0, n_q - len(real_q))
    noisy = real_q[rng.integers(0, len(real_q), extra)] + 0.03 * rng.standard_normal(
        (extra, base.shape[1])
    )
    q = np.vstack([real_q[:n_q], noisy]) if extra else real_q[:n_q]
    return Dataset(
        "cisi-syn",
        _unit(x),
        _unit(q),
        [""] * n,
        rng.integers(0, N_SOURCES, n),
        f"{len(base)} real doc embeddings blended+noised; {min(n_q, len(real_q))} real queries"
        f" + {extra} noisy copies",
        min(n_q, len(real_q)),
    )


def gmm_dataset(n: int, n_q: int, dim: int = 384, clusters: int = 50) -> Dataset:
    rng = np.random.default_rng(13)
    centers = _unit(rng.standard_normal((clusters, dim)))
    x = centers[rng.integers(0, clusters, n)] + 0.08 * rng.standard_normal((n, dim))
    q = centers[rng.integers(0, clusters, n_q)] + 0.08 * rng.standard_normal((n_q, dim))
    return Dataset(
        "gmm",
        _unit(x),
        _unit(q),
        [""] * n,
        rng.integers(0, N_SOURCES, n),
        f"{clusters}-cluster Gaussian mixture, sigma 0.08/dim",
    )


# --------------------------------------------------------------------------- measure


@dataclass(frozen=True)
class Config:
    label: str
    hnsw: dict[str, Any] | None  # None: Chroma's defaults ({"space": "cosine"} only)


def configs(quick: bool) -> list[Config]:
    s = Settings()
    ours = (s.hnsw_ef_construction, s.hnsw_ef_search, s.hnsw_max_neighbors)
    out = [Config("chroma-default", None)]
    grid = (
        [(100, 100, 16), (100, 128, 16), ours, (200, 256, 32), (10, 10, 4)]
        if quick
        else [(efc, efs, m) for efc in (100, 200) for m in (16, 32) for efs in (64, 128, 256)]
        + [(200, 512, 32), (400, 256, 48), (10, 10, 4)]
    )
    seen = set()
    for efc, efs, m in grid:
        if (efc, efs, m) in seen:
            continue
        seen.add((efc, efs, m))
        tag = " (ours)" if (efc, efs, m) == ours else ""
        tag = " (bad, sanity)" if m == 4 else tag
        out.append(
            Config(
                f"efc={efc} efs={efs} M={m}{tag}",
                {"ef_construction": efc, "ef_search": efs, "max_neighbors": m},
            )
        )
    return out


@dataclass
class Result:
    dataset: str
    config: str
    filtered: bool
    n: int
    recall_mean: float
    recall_min: float
    recall_real: float | None
    worst_build: float
    p50_ms: float
    build_s: float
    applied: str


def exact_topk_threshold(x: np.ndarray, q: np.ndarray, mask: np.ndarray | None) -> float:
    s = x @ q
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    kk = min(K, int(np.isfinite(s).sum()))
    return float(np.partition(-s, kk - 1)[kk - 1] * -1)


def recall_of(x: np.ndarray, q: np.ndarray, got: list[int], mask: np.ndarray | None) -> float:
    thr = exact_topk_threshold(x, q, mask)
    kk = K if mask is None else min(K, int(mask.sum()))
    sims = x[got] @ q if got else np.zeros(0)
    ok = sims >= thr - TIE_EPS
    if mask is not None and got:
        ok &= mask[got]
    return min(int(ok.sum()), kk) / kk


def build(client: Any, cfg: Config, ds: Dataset, idx: int) -> tuple[Any, float]:
    """Load ``ds`` into a fresh collection; returns the raw Chroma collection and build time."""
    name = f"b{idx}"
    records = [
        Record(str(i), ds.texts[i], {"source": f"s{int(ds.sources[i])}"})
        for i in range(len(ds.docs))
    ]
    t0 = time.perf_counter()
    if cfg.hnsw is None:
        col = client.create_collection(
            name=f"rag_{name}", configuration={"hnsw": {"space": "cosine"}}, embedding_function=None
        )
        for i in range(0, len(records), 2000):
            part = records[i : i + 2000]
            col.add(
                ids=[r.id for r in part],
                documents=[r.text for r in part],
                metadatas=[r.metadata for r in part],
                embeddings=ds.docs[i : i + 2000],
            )
    else:
        store = ChromaStore(client, name, **cfg.hnsw)  # our wrapper, as the app builds it
        for i in range(0, len(records), 2000):
            store.upsert(records[i : i + 2000], ds.docs[i : i + 2000])
        col = client.get_collection(f"rag_{name}")
    build_s = time.perf_counter() - t0
    assert col.count() == len(records), (col.count(), len(records))
    return col, build_s


def measure(col: Any, ds: Dataset, filtered: bool) -> tuple[list[float], list[float]]:
    recalls: list[float] = []
    times: list[float] = []
    col.query(query_embeddings=[ds.queries[0]], n_results=K, include=["distances"])  # warm
    for qi, q in enumerate(ds.queries):
        where = mask = None
        if filtered:
            g = qi % N_SOURCES
            where = {"source": f"s{g}"}
            mask = ds.sources == g
        t0 = time.perf_counter()
        res = col.query(query_embeddings=[q], n_results=K, where=where, include=["distances"])
        times.append(time.perf_counter() - t0)
        recalls.append(recall_of(ds.docs, q, [int(i) for i in res["ids"][0]], mask))
    return recalls, times


def run_dataset(ds: Dataset, cfgs: list[Config], repeat: int = 1) -> list[Result]:
    print(f"\n== {ds.name}: N={len(ds.docs)}, queries={len(ds.queries)} ({ds.note})", flush=True)
    results: list[Result] = []
    for idx, cfg in enumerate(cfgs):
        recs: dict[bool, list[list[float]]] = {False: [], True: []}
        tims: dict[bool, list[float]] = {False: [], True: []}
        builds: list[float] = []
        applied = ""
        for _ in range(repeat):
            with tempfile.TemporaryDirectory(prefix="rag-hnsw-") as tmp:
                client = chroma_client(path=tmp)
                col, build_s = build(client, cfg, ds, idx)
                builds.append(build_s)
                h = (col.configuration or {}).get("hnsw") or {}
                applied = (
                    f"efc={h.get('ef_construction')} efs={h.get('ef_search')}"
                    f" M={h.get('max_neighbors')}"
                )
                for filtered in (False, True):
                    rec, ts = measure(col, ds, filtered)
                    recs[filtered].append(rec)
                    tims[filtered] += ts
                del col, client
        for filtered in (False, True):
            flat = [r for rec in recs[filtered] for r in rec]
            real = [r for rec in recs[filtered] for r in rec[: ds.n_real]]
            r = Result(
                ds.name,
                cfg.label,
                filtered,
                len(ds.docs),
                statistics.fmean(flat),
                min(flat),
                statistics.fmean(real) if real else None,
                min(statistics.fmean(rec) for rec in recs[filtered]),
                1000 * statistics.median(tims[filtered]),
                statistics.fmean(builds),
                applied,
            )
            results.append(r)
            per_build = " ".join(f"{statistics.fmean(rec):.4f}" for rec in recs[filtered])
            print(
                f"  {cfg.label:<34} {'filtered' if filtered else 'all     '}"
                f" recall {r.recall_mean:.4f} (min {r.recall_min:.2f})"
                f" p50 {r.p50_ms:6.2f} ms  build {r.build_s:5.1f} s  [chroma: {applied}]"
                + (f"  builds: {per_build}" if repeat > 1 else ""),
                flush=True,
            )
    return results


def print_table(results: list[Result], target: float) -> None:
    print("\n" + "=" * 128)
    print(f"recall@{K} vs exact search (target >= {target}); ratios vs Chroma's default config")
    hdr = (
        f"{'dataset':<9} {'filter':<8} {'config':<34} {'N':>6} {'recall':>7} {'min':>5}"
        f" {'real-q':>7} {'worst':>7} {'p50 ms':>7} {'build s':>7} {'recall/def':>10} {'p50/def':>8}  ok"
    )
    print(hdr)
    print("-" * len(hdr))
    base = {(r.dataset, r.filtered): r for r in results if r.config == "chroma-default"}
    for r in results:
        b = base.get((r.dataset, r.filtered))
        rr = r.recall_mean / b.recall_mean if b and b.recall_mean else float("nan")
        lr = r.p50_ms / b.p50_ms if b and b.p50_ms else float("nan")
        print(
            f"{r.dataset:<9} {'where' if r.filtered else '-':<8} {r.config:<34} {r.n:>6}"
            f" {r.recall_mean:>7.4f} {r.recall_min:>5.2f}"
            f" {'-' if r.recall_real is None else f'{r.recall_real:.4f}':>7}"
            f" {r.worst_build:>7.4f} {r.p50_ms:>7.2f} {r.build_s:>7.1f}"
            f" {rr:>10.3f} {lr:>8.2f}  {'yes' if r.recall_mean >= target else 'NO'}"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small subset, < 60 s")
    ap.add_argument("--target", type=float, default=0.98)
    ap.add_argument("--synthetic-n", type=int, default=None, help="size of the synthetic sets")
    ap.add_argument("--no-gmm", action="store_true", help="skip the Gaussian-mixture set")
    ap.add_argument("--datasets", default=None, help="comma list of cisi,cisi-syn,gmm")
    ap.add_argument("--only", default=None, help="regex on config labels (default always kept)")
    ap.add_argument("--repeat", type=int, default=1, help="builds per config (build variance)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    if not (CISI / "CISI.ALL").is_file():
        print(f"missing {CISI}/CISI.ALL (see ../shared/eval/README.md)", file=sys.stderr)
        return 2
    if args.quick:
        cisi, real_q = cisi_dataset(120, 20)
        syn_n, syn_q = args.synthetic_n or 3000, 60
    else:
        cisi, real_q = cisi_dataset(None, None)
        syn_n, syn_q = args.synthetic_n or 20_000, 200
    sets = [cisi, cisi_synthetic(cisi.docs, real_q, syn_n, syn_q)]
    if not args.no_gmm and not args.quick:
        sets.append(gmm_dataset(syn_n, syn_q))
    if args.datasets:
        keep = set(args.datasets.split(","))
        sets = [d for d in sets if d.name in keep]
    cfgs = configs(args.quick)
    if args.only:
        cfgs = [c for c in cfgs if c.hnsw is None or re.search(args.only, c.label)]
    results: list[Result] = []
    for ds in sets:
        results += run_dataset(ds, cfgs, max(1, args.repeat))
    print_table(results, args.target)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
