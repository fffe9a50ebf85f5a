"""Embedding backends on CISI: speed and dense retrieval quality against the app's embedder.

    python bench/embed_backends.py            # all 1,460 CISI documents (~1,600 chunks), the
                                              # 76 judged queries, and each backend's peak RSS
    python bench/embed_backends.py --quick    # 50 documents and their judged queries
                                              # (< 60 s once the ONNX files are cached)
    python bench/embed_backends.py --backends torch,onnx-int8

Backends, all on the bundled all-MiniLM-L6-v2, batch 32, at most 256 tokens, 2 threads:

* ``torch``          -- rag's ``SentenceTransformerEmbedder``: the baseline, what the app runs;
* ``torch-int8``     -- the same model with its ``nn.Linear`` layers through
                        ``torch.ao.quantization.quantize_dynamic`` (qint8; no new dependency);
* ``onnx``           -- the encoder exported with ``torch.onnx.export`` (TorchScript exporter,
                        opset 17, mean pooling and L2 normalisation inside the graph), run by
                        onnxruntime with the model's own fast tokenizer (``tokenizers``);
* ``onnx-opt``       -- that graph with onnxruntime's BERT fusions (``onnxruntime.transformers
                        .optimizer``: fused attention, skip layer norm, bias GELU);
* ``onnx-int8``      -- ``onnx`` through onnxruntime's ``quantize_dynamic``, QInt8 weights per
                        tensor (the textbook recipe);
* ``onnx-uint8``     -- the same with QUInt8 weights;
* ``onnx-opt-int8``  -- ``onnx-opt`` quantised, QInt8 weights per output channel;
* ``app``            -- what rag runs by default (``rag.models.open_embedder``): the
                        ``onnx-opt-int8`` graph, built by rag/embed_export.py, one text per
                        call (so a chunk's vector does not depend on its batch).

The ONNX files are built once, in a child process, under ``$RAG_BENCH_CACHE`` (default
``~/.cache/rag-bench``) keyed by a hash of the weights, never inside the repository; the
build times are kept beside them. Building needs torch, transformers and ``onnx``;
running needs only onnxruntime, tokenizers and numpy.

Every chunk (rag's Chunker, rag's default chunk size and overlap) is embedded by every
backend in blocks of 128 chunks, the backends taking turns block by block, so a neighbour's
load on a shared machine falls on all of them alike. ``chunks/s`` is over all blocks, ``vs
torch`` its ratio to the baseline in this run, ``blk med`` the median ratio per block.
Retrieval is dense only: exact cosine (numpy) of each judged query against every chunk, a
document scoring as its best chunk; nDCG@10 and Recall@10 as in retrieval_quality.py.
``cos min``/``cos mean`` compare each backend's vectors (chunks and queries) with torch's.
A backend meets the issue's rule when it is >= 1.5x faster and loses <= 0.01 nDCG@10.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import multiprocessing
import os
import statistics
import sys
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

K = 10
BLOCK = 128
THREADS = 2
MAX_TOKENS = 256
MIN_SPEEDUP, MAX_NDCG_LOSS = 1.5, 0.01
QUICK_DOCS, QUICK_QUERIES = 50, 10
TORCH_BACKENDS = ("torch", "torch-int8")
APP = "app"  # rag's default embedder, as the app opens it
QUANTISED = {  # name -> (source graph, weight type, per channel)
    "onnx-int8": ("onnx", "QInt8", False),
    "onnx-uint8": ("onnx", "QUInt8", False),
    "onnx-opt-int8": ("onnx-opt", "QInt8", True),
}
ONNX_BACKENDS = ("onnx", "onnx-opt", *QUANTISED)

Query = tuple[str, str, set[str]]  # id, text, relevant document ids


class Backend(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class OnnxEmbedder:
    """An exported sentence embedder run by onnxruntime, batched as sentence-transformers
    batches (texts sorted by length, each batch padded to its longest)."""

    def __init__(self, onnx_file: Path, model_dir: Path, batch_size: int) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.enable_truncation(MAX_TOKENS)
        tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        order = np.argsort([-len(t) for t in texts], kind="stable")
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = self.tokenizer.encode_batch(
                [texts[i] for i in order[start : start + self.batch_size]]
            )
            feed = {
                "input_ids": np.array([e.ids for e in batch], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in batch], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in batch], dtype=np.int64),
            }
            feed = {k: v for k, v in feed.items() if k in self.inputs}
            parts.append(self.session.run(None, feed)[0])
        vectors = np.concatenate(parts).astype(np.float32, copy=False)
        result = np.empty_like(vectors)
        result[order] = vectors
        return result


def make_backend(name: str, model_dir: Path, onnx_dir: Path, batch_size: int) -> Backend:
    if name == APP:
        from rag.config import Settings
        from rag.models import open_embedder

        return open_embedder(Settings())
    if name in ONNX_BACKENDS:
        return OnnxEmbedder(onnx_dir / f"{name}.onnx", model_dir, batch_size)
    from rag.models.embed import SentenceTransformerEmbedder

    embedder = SentenceTransformerEmbedder(model_dir, batch_size=batch_size)
    if name == "torch-int8":
        import torch

        # Swap the loaded model for its quantised copy: the app's batching stays as it is.
        with warnings.catch_warnings():  # torch.ao.quantization is deprecated (for torchao)
            warnings.simplefilter("ignore")
            embedder._model = torch.ao.quantization.quantize_dynamic(
                embedder.model, {torch.nn.Linear}, dtype=torch.qint8
            )
    return embedder


# --------------------------------------------------------------------------- ONNX files


def build_onnx(model_dir: Path, folder: Path) -> dict[str, float]:
    """Build into ``folder`` the ONNX files not there yet, with the app's own steps
    (rag/embed_export.py); seconds per file. Run it in a child
    process: after tracing, the traced torch module no longer gave the same vectors (seen with
    torch 2.13 / transformers 5.24), and the export's memory should not stay."""
    from rag.models.embed_export import export_graph, fuse_graph, quantise_graph

    warnings.simplefilter("ignore")  # the tracer's and the quantiser's advice, every build
    logging.getLogger().setLevel(logging.ERROR)
    folder.mkdir(parents=True, exist_ok=True)
    meta_file = folder / "build.json"
    meta: dict[str, float] = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    for name in ONNX_BACKENDS:  # in dependency order
        if (folder / f"{name}.onnx").exists():
            continue
        tmp, start = folder / f"{name}.tmp", time.perf_counter()
        if name == "onnx":
            export_graph(model_dir, tmp)
        elif name == "onnx-opt":
            fuse_graph(model_dir, folder / "onnx.onnx", tmp)
        else:
            source, weight_type, per_channel = QUANTISED[name]
            quantise_graph(folder / f"{source}.onnx", tmp, weight_type, per_channel)
        tmp.rename(folder / f"{name}.onnx")
        meta[name] = time.perf_counter() - start
    meta_file.write_text(json.dumps(meta, indent=1))
    return meta


def onnx_folder(cache: Path, model_dir: Path) -> Path:
    """Keyed by the weights and the versions of the exporter and the optimiser."""
    tools = [f"{p}={importlib.metadata.version(p)}" for p in ("torch", "onnxruntime")]
    from rag.models.embed_export import OPSET

    stamp = (model_dir / "model.safetensors").read_bytes() + f"{tools} opset{OPSET}".encode()
    key = hashlib.sha256(stamp).hexdigest()[:16]
    return cache / f"onnx-{model_dir.parent.name}-{key}"


def onnx_unavailable(folder: Path) -> str | None:
    """None when the ONNX backends can run (building what is missing), else why not."""
    if importlib.util.find_spec("onnxruntime") is None:
        return "onnxruntime is not installed: pip install onnxruntime onnx (onnx: export only)"
    built = all((folder / f"{n}.onnx").exists() for n in ONNX_BACKENDS)
    if not built and importlib.util.find_spec("onnx") is None:
        return "the export needs the onnx package: pip install onnx"
    return None


def in_child(fn: Any, *args: Any) -> Any:
    """``fn(*args)`` in a fresh interpreter (spawned, so nothing of this process is shared)."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(fn, *args).result()


# --------------------------------------------------------------------------- measurement


def cisi_chunks(quick: bool) -> tuple[list[tuple[str, str]], list[Query]]:
    """(document id, chunk text) in document order, as rag would chunk each document."""
    from retrieval_quality import cisi

    from rag.config import Settings
    from rag.ingest.chunk import Chunker
    from rag.ingest.types import Block
    from rag.models.bundled import bundled_embedder
    from rag.models.embed import SentenceTransformerEmbedder

    docs, queries = cisi(QUICK_DOCS if quick else None)
    settings = Settings()
    tokenize = SentenceTransformerEmbedder(bundled_embedder()).tokenize
    chunker = Chunker(tokenize, settings.chunk_size, settings.chunk_overlap)
    chunks = [
        (doc_id, c.text)
        for doc_id, text in docs.items()
        for c in chunker.chunk([Block(text=text, kind="NarrativeText")])
    ]
    return chunks, queries[:QUICK_QUERIES] if quick else queries


def embed_in_turns(
    backends: dict[str, Backend], texts: list[str]
) -> tuple[dict[str, np.ndarray], dict[str, list[float]]]:
    """Every backend embeds each block of texts, taking turns; vectors and seconds per block."""
    names = list(backends)
    parts: dict[str, list[np.ndarray]] = {n: [] for n in names}
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for i, start in enumerate(range(0, len(texts), BLOCK)):
        block = texts[start : start + BLOCK]
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            t = time.perf_counter()
            parts[name].append(backends[name].embed(block))
            seconds[name].append(time.perf_counter() - t)
    return {n: np.concatenate(p) for n, p in parts.items()}, seconds


def dense_quality(
    chunk_vectors: np.ndarray,
    query_vectors: np.ndarray,
    chunk_docs: list[str],
    queries: list[Query],
) -> dict[str, float]:
    """Mean nDCG@10 and Recall@10; a document scores as its best chunk (chunks in doc order)."""
    from retrieval_quality import scores

    starts = [i for i, d in enumerate(chunk_docs) if i == 0 or d != chunk_docs[i - 1]]
    doc_ids = [chunk_docs[i] for i in starts]
    per_doc = np.maximum.reduceat(query_vectors @ chunk_vectors.T, starts, axis=1)
    totals = {"ndcg@10": 0.0, "recall@10": 0.0}
    for row, (_, _, relevant) in zip(np.argsort(-per_doc, axis=1)[:, :K], queries, strict=True):
        s = scores([doc_ids[j] for j in row], relevant)
        for key in totals:
            totals[key] += s[key]
    return {k: v / len(queries) for k, v in totals.items()}


def peak_rss_mb(name: str, model_dir: Path, onnx_dir: Path, texts: list[str], batch: int) -> float:
    """Run in a fresh process: load one backend, embed ``texts``, report the peak RSS."""
    make_backend(name, model_dir, onnx_dir, batch).embed(texts)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork + exec.
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def measure(
    names: list[str], quick: bool, model_dir: Path, onnx_dir: Path, batch: int
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """One row per backend (speed, quality, agreement with torch), and the chunk texts."""
    chunks, queries = cisi_chunks(quick)
    texts, chunk_docs = [t for _, t in chunks], [d for d, _ in chunks]
    backends = {n: make_backend(n, model_dir, onnx_dir, batch) for n in names}
    for b in backends.values():
        b.embed(["warm up", texts[0]])  # load (models load lazily) outside the clock
    load = os.getloadavg()[0]
    vectors, seconds = embed_in_turns(backends, texts)
    print(
        f"{len(set(chunk_docs))} documents, {len(texts)} chunks, {len(queries)} judged queries; "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)"
    )
    rows: dict[str, dict[str, Any]] = {}
    query_vectors = {n: b.embed([q for _, q, _ in queries]) for n, b in backends.items()}
    for name in names:
        agree = np.concatenate(
            [
                (vectors[name] * vectors["torch"]).sum(1),
                (query_vectors[name] * query_vectors["torch"]).sum(1),
            ]
        )
        rows[name] = {
            "rate": len(texts) / sum(seconds[name]),
            "block_ratio": statistics.median(
                t / s for t, s in zip(seconds["torch"], seconds[name], strict=True)
            ),
            "cos_min": float(agree.min()),
            "cos_mean": float(agree.mean()),
        } | dense_quality(vectors[name], query_vectors[name], chunk_docs, queries)
    return rows, texts


# --------------------------------------------------------------------------- report


def _cell(value: float | None, width: int, decimals: int) -> str:
    return "-".rjust(width) if value is None else f"{value:{width}.{decimals}f}"


def report(rows: dict[str, dict[str, Any]], judge: bool) -> None:
    """The table; the rule column only when there are enough queries to judge by."""
    base = rows["torch"]
    print(
        f"{'backend':14} {'chunks/s':>8} {'vs torch':>8} {'blk med':>7} {'nDCG@10':>7} "
        f"{'ΔnDCG':>7} {'R@10':>6} {'cos min':>7} {'cos mean':>8} {'file MB':>7} "
        f"{'build s':>7} {'RSS MB':>6}  rule"
    )
    for name, r in rows.items():
        ratio, loss = r["rate"] / base["rate"], r["ndcg@10"] - base["ndcg@10"]
        meets = ratio >= MIN_SPEEDUP and -loss <= MAX_NDCG_LOSS
        print(
            f"{name:14} {r['rate']:8.1f} {ratio:8.2f} {r['block_ratio']:7.2f} "
            f"{r['ndcg@10']:7.4f} {loss:+7.4f} {r['recall@10']:6.3f} {r['cos_min']:7.4f} "
            f"{r['cos_mean']:8.5f} {_cell(r.get('mb'), 7, 1)} {_cell(r.get('build'), 7, 1)} "
            f"{_cell(r.get('rss'), 6, 0)}  {'' if name == 'torch' or not judge else 'meets' if meets else 'fails'}"
        )
    print(
        f"rule: >= {MIN_SPEEDUP}x torch's chunks/s and <= {MAX_NDCG_LOSS} nDCG@10 lost"
        + ("" if judge else " (not judged: --quick has too few queries)")
        + "; build s: this file's step only (onnx: export; onnx-opt: fusions; int8: quantise)"
    )


def add_costs(
    rows: dict[str, dict[str, Any]],
    build: dict[str, float],
    dirs: tuple[Path, Path],
    rss_texts: list[str] | None,
    batch: int,
) -> None:
    """File size, build seconds and, given ``rss_texts``, peak RSS (a fresh process each)."""
    model_dir, onnx_dir = dirs
    for name, r in rows.items():
        if name in ONNX_BACKENDS:
            r["mb"], r["build"] = (onnx_dir / f"{name}.onnx").stat().st_size / 1e6, build.get(name)
        elif name == "torch":
            r["mb"] = (model_dir / "model.safetensors").stat().st_size / 1e6
        if rss_texts is not None:
            r["rss"] = in_child(peak_rss_mb, name, model_dir, onnx_dir, rss_texts, batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="50 documents, no RSS probes")
    parser.add_argument("--backends", default=",".join((*TORCH_BACKENDS, *ONNX_BACKENDS, APP)))
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    from rag.privacy import lock_down

    lock_down()  # offline, and no onnxruntime telemetry; inherited by the child processes
    from rag.models.bundled import bundled_embedder

    model_dir = bundled_embedder()
    cache = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))
    onnx_dir = onnx_folder(cache, model_dir)
    names = ["torch", *(n for n in args.backends.split(",") if n and n != "torch")]
    build: dict[str, float] = {}
    if any(n in ONNX_BACKENDS for n in names):
        if why := onnx_unavailable(onnx_dir):
            print(f"skipping {', '.join(ONNX_BACKENDS)}: {why}")
            names = [n for n in names if n not in ONNX_BACKENDS]
        else:
            build = in_child(build_onnx, model_dir, onnx_dir)
    rows, texts = measure(names, args.quick, model_dir, onnx_dir, args.batch)
    longest = None if args.quick else sorted(texts, key=len)[-args.batch :]  # widest batch
    add_costs(rows, build, (model_dir, onnx_dir), longest, args.batch)
    print(f"ONNX files: {onnx_dir}")
    report(rows, judge=not args.quick)


if __name__ == "__main__":
    main()
