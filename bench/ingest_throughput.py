"""Ingest speed, memory and retrieval: rag ingest vs the raw embedder and plain LlamaIndex.

    python bench/ingest_throughput.py                 # 120 pages of the PostgreSQL 15 manual
                                                      # + 300 CISI documents as files
    python bench/ingest_throughput.py --pages 1169    # the whole manual
    python bench/ingest_throughput.py --quick         # 15 pages, 30 CISI docs (CI); b and c
                                                      # run 3 times each, the median shown

The manual is Debian's ``postgresql-doc-15``, unpacked by ``make bench-data`` (an install
step: ``apt-get download`` + ``dpkg -x``) into ``$RAG_BENCH_CACHE`` (default
``~/.cache/rag-bench``); this script itself never fetches anything. Each stage runs in its
own process (this script with ``--stage``), so its peak RSS is its own:

  (a)  raw embedder: sentence-transformers ``encode`` on rag's own chunks, same batch size;
  (a') rag's embedder raw: the embedder the app itself uses (``Assistant(...).embedder``,
       whichever backend it is: torch or ONNX), ``embed`` on the same chunks;
  (b)  ``rag ingest`` end to end into an empty data directory (its parser worker started
       first, as the command does, so that its start overlaps the loading); on the manual,
       also on the first half of the pages, into another empty directory, to see whether
       memory grows with the corpus;
  (c)  plain LlamaIndex, as its tutorials show: ``SimpleDirectoryReader`` +
       ``VectorStoreIndex.from_documents`` on a ``ChromaVectorStore``, same embedding model
       (sentence-transformers), rag's chunk size and overlap (in LlamaIndex's tokens);
  (d)  ``rag ingest`` again, nothing changed.

Times: ``seconds`` is the work alone, with the model loaded and warmed up and the
libraries imported (chromadb by (b) and (c) alike) (for (a)/(a') the embedding only, not
parsing and chunking). ``load s`` is from the stage's process launch to
the model being ready (interpreter, imports, model). ``+load s`` is the whole command's
wall time: launch to the end of the work, what a user waits for ((a)/(a'): load + embedding);
``+load`` the pages per minute it makes. ``cpu s``: CPU seconds (user + system) of the
stage's process and its children from launch to the end of the work ((a') includes parsing
and chunking), steadier than wall time on a shared machine. The machine's other load
changes absolute times; compare ratios within one run.

Retrieval (manual only): after (b) and (c), and outside their timings, the same process
asks each question of ``bench/pg_questions.jsonl`` whose page is in the corpus (written by
hand about the first 120 pages) of its fresh index: rag through ``Assistant.search`` (its
default mode, and dense alone for comparison), LlamaIndex through
``index.as_retriever(similarity_top_k=5)``. Each returns its top 5 passages; these are
mapped to their files (distinct, in rank order). hit@5: the question's page is among them;
MRR: 1 / its rank among those files (0 if absent).

Reported: chunks/s, pages/min, peak RSS (the stage's process, at the end of the work, before
any question; ``worker``: the largest peak of its child processes, i.e. rag's parser worker),
the ratios b/a and b/a' (chunk throughput against the embedder alone), b/c (pages per minute
against the plain pipeline, warm and with loading) and d/b; hit@5 and MRR, with the
questions one or both miss; rag's peak RSS at both corpus sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))
CISI = ROOT.parent / "shared" / "eval" / "cisi" / "CISI.ALL"
MANUAL = CACHE / "postgresql-doc-15" / "usr" / "share" / "doc" / "postgresql-doc-15" / "html"
QUESTIONS = ROOT / "bench" / "pg_questions.jsonl"
K = 5

STAGES = {
    "raw": "a  raw sentence-transformers",
    "app-raw": "a' rag's embedder raw",
    "rag": "b  rag ingest",
    "llamaindex": "c  plain LlamaIndex",
    "rag-again": "d  rag ingest again",
}


# -- stages: each runs in its own process ---------------------------------------------------


def run_stage(name: str, corpus: Path, data: Path, launched: float, questions: Path | None) -> None:
    """Run one stage and print its measurements as one JSON line (the last line of stdout)."""
    sys.path.insert(0, str(ROOT))
    files = sorted(p for p in corpus.rglob("*") if p.is_file())
    asked = [json.loads(line) for line in questions.open()] if questions else []
    stages = {
        "raw": stage_raw,
        "app-raw": stage_app_raw,
        "rag": stage_rag,
        "rag-again": stage_rag,
        "llamaindex": stage_llamaindex,
    }
    result = stages[name](files, corpus, data, launched, asked)
    print(json.dumps(result | {"files": len(files)}))


def usage() -> dict[str, float]:
    """Peak RSS in MB of this process and of its child processes (rag's parser worker), and
    the CPU seconds (user + system) all of them have used so far."""
    import psutil

    me = resource.getrusage(resource.RUSAGE_SELF)
    gone = resource.getrusage(resource.RUSAGE_CHILDREN)  # exited children
    worker, cpu = gone.ru_maxrss / 1024, me.ru_utime + me.ru_stime + gone.ru_utime + gone.ru_stime
    for child in psutil.Process().children(recursive=True):
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            times = child.cpu_times()
        except (OSError, psutil.Error):
            continue
        cpu += times.user + times.system
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                worker = max(worker, int(line.split()[1]) / 1024)
    return {"rss_mb": me.ru_maxrss / 1024, "worker_mb": worker, "cpu": cpu}


def stage_app_raw(files, corpus, data, launched, asked) -> dict[str, Any]:
    """(a'): the embedder object rag itself uses, whatever its backend, on rag's chunks
    (its parser and chunker, untimed); it leaves the chunks in ``data`` for (a)."""
    from rag import Assistant, Settings
    from rag.errors import ParseError
    from rag.ingest.chunk import Chunker
    from rag.ingest.pipeline import prepare

    settings = Settings(data_dir=data)
    embedder = Assistant(settings).embedder
    embedder.embed(["warm up"])
    load = time.time() - launched
    t = time.perf_counter()
    chunker = Chunker(embedder.tokenize, settings.chunk_size, settings.chunk_overlap)
    texts = []
    for f in files:  # files that cannot be parsed are skipped, as rag ingest skips them
        with contextlib.suppress(ParseError):
            texts += [c.text for c in prepare(f, chunker, 10**9).chunks]
    prep = time.perf_counter() - t
    data.mkdir(parents=True, exist_ok=True)
    (data / "chunks.json").write_text(json.dumps(texts))
    t = time.perf_counter()  # only the embedding is timed
    embedder.embed(texts)
    seconds = time.perf_counter() - t
    return {
        "load": load,
        "seconds": seconds,
        "wall": load + seconds,
        "prep": prep,
        "chunks": len(texts),
        "embedder": f"{type(embedder).__name__} {getattr(embedder, 'name', '')}".strip(),
    } | usage()


def stage_raw(files, corpus, data, launched, asked) -> dict[str, Any]:
    """(a): sentence-transformers on the bundled model folder, nothing of rag's in between,
    on the chunks (a') left."""
    from sentence_transformers import SentenceTransformer

    from rag import Settings
    from rag.models.bundled import bundled_embedder

    settings = Settings()
    path = Path(settings.embed_model) if settings.embed_model else bundled_embedder()
    model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
    model.encode(["warm up"], batch_size=settings.embed_batch_size, normalize_embeddings=True)
    load = time.time() - launched
    texts = json.loads((data / "chunks.json").read_text())
    t = time.perf_counter()
    model.encode(
        texts,
        batch_size=settings.embed_batch_size,
        normalize_embeddings=True,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - t
    return {
        "load": load,
        "seconds": seconds,
        "wall": load + seconds,
        "chunks": len(texts),
    } | usage()


def stage_rag(files, corpus, data, launched, asked) -> dict[str, Any]:
    """(b) and (d): ``rag ingest``; then, untimed, the questions."""
    from rag.ingest.sandbox import prestart

    prestart()  # as ``rag ingest`` does: the parser worker starts while the model loads
    from rag import Assistant, Settings

    assistant = Assistant(Settings(data_dir=data))
    assistant.embedder.embed(["warm up"])  # the model loads lazily: time from the first file on
    # (c) imports chromadb before its clock starts, and so does this stage: importing the
    # vector store's library (~0.4 s) is loading, for both; opening the store is timed.
    import chromadb  # noqa: F401

    load = time.time() - launched
    t = time.perf_counter()
    report = assistant.ingest([corpus])
    seconds = time.perf_counter() - t
    result = {
        "load": load,
        "seconds": seconds,
        "wall": time.time() - launched,
        "chunks": report.chunks_written,
        "failed": len(report.failed),
        "mode": assistant.settings.retrieval_mode,
    } | usage()
    if asked:
        modes = {"rag": assistant.settings.retrieval_mode, "rag dense": "dense"}
        result["retrieval"] = {
            system: ask(asked, lambda q, m=mode: assistant.search(q, k=K, mode=m))
            for system, mode in modes.items()
        }
    return result


def stage_llamaindex(files, corpus, data, launched, asked) -> dict[str, Any]:
    """(c): LlamaIndex as its tutorials show it, on the same embedding model."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Settings as LISettings
    from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from sentence_transformers import SentenceTransformer

    from rag import Settings
    from rag.models.bundled import bundled_embedder

    settings = Settings()
    model = SentenceTransformer(str(bundled_embedder()), device="cpu")

    class Embed(BaseEmbedding):
        def _get_text_embeddings(self, texts):
            return model.encode(
                texts, batch_size=settings.embed_batch_size, normalize_embeddings=True
            ).tolist()

        def _get_text_embedding(self, text):
            return self._get_text_embeddings([text])[0]

        def _get_query_embedding(self, query):
            return self._get_text_embedding(query)

        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    LISettings.embed_model = Embed(embed_batch_size=settings.embed_batch_size)
    LISettings.llm = None
    # rag's chunk size and overlap: setting the size alone leaves SentenceSplitter's default
    # overlap of 200 (of 256), which embeds about four times as many chunks
    LISettings.chunk_size = settings.chunk_size
    LISettings.chunk_overlap = settings.chunk_overlap
    model.encode(["warm up"])  # as (b): time from the first file on
    load = time.time() - launched
    t = time.perf_counter()
    client = chromadb.PersistentClient(
        path=str(data), settings=ChromaSettings(anonymized_telemetry=False)
    )
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("plain"))
    docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
    index = VectorStoreIndex.from_documents(
        docs, storage_context=StorageContext.from_defaults(vector_store=store)
    )
    seconds = time.perf_counter() - t
    result = {
        "load": load,
        "seconds": seconds,
        "wall": time.time() - launched,
        "chunks": store._collection.count(),
        "failed": 0,
    } | usage()
    if asked:
        retriever = index.as_retriever(similarity_top_k=K)
        result["retrieval"] = {"llamaindex": ask(asked, retriever.retrieve)}
    return result


def ask(asked: list[dict[str, str]], search: Any) -> dict[str, Any]:
    """Each question's distinct files among the top-K passages, in rank order."""
    ranked, t = [], time.perf_counter()
    for q in asked:
        files = []
        for hit in search(q["question"])[:K]:
            meta = hit.record.metadata if hasattr(hit, "record") else hit.node.metadata
            name = meta.get("file_name") or Path(str(meta.get("source", ""))).name
            if name not in files:
                files.append(name)
        ranked.append(files)
    return {"files": ranked, "ms": 1000 * (time.perf_counter() - t) / len(asked)}


# -- the driver -----------------------------------------------------------------------------


def manual_pages(n: int) -> list[Path]:
    """The first ``n`` pages of the manual, which ``make bench-data`` unpacks into the cache.

    Nothing is fetched here: the benchmark runs offline. Without the manual, that corpus
    is skipped, and the message says how to get it.
    """
    pages = sorted(MANUAL.glob("*.html"))[:n]
    if not pages:
        print(f"no PostgreSQL manual under {MANUAL}: run `make bench-data` first", file=sys.stderr)
    return pages


def cisi_files(n: int, folder: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from hnsw_recall import parse_cisi

    for doc_id, text in parse_cisi(CISI, ("T", "W"))[:n]:
        (folder / f"cisi-{doc_id}.txt").write_text(text, encoding="utf-8")


def stage(name: str, corpus: Path, data: Path, questions: Path | None = None) -> dict[str, Any]:
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False"}
    command = [sys.executable, __file__, "--stage", name, str(corpus), str(data)]
    command += [str(time.time()), str(questions or "")]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"stage {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def print_stages(r: dict[str, dict[str, Any]]) -> None:
    print(
        f"{'stage':30} {'load s':>6} {'seconds':>7} {'+load s':>7} {'chunks':>6} "
        f"{'chunks/s':>8} {'pages/min':>9} {'+load':>6} {'cpu s':>6} {'peak RSS':>8} {'worker':>7}"
    )
    for name in STAGES:
        m = r[name]
        rate = m["chunks"] / m["seconds"] if m["seconds"] else 0.0
        ppm = 60 * m["files"] / m["seconds"] if m["seconds"] else 0.0
        ppm_load = 60 * m["files"] / m["wall"]
        worker = f"{m['worker_mb']:6.0f}M" if m["worker_mb"] else f"{'-':>7}"
        print(
            f"{STAGES[name]:30} {m['load']:6.1f} {m['seconds']:7.1f} {m['wall']:7.1f} "
            f"{m['chunks']:6d} {rate:8.1f} {ppm:9.1f} {ppm_load:6.1f} {m['cpu']:6.1f} "
            f"{m['rss_mb']:7.0f}M {worker}"
        )
    failed = {STAGES[n].split()[0]: m["failed"] for n, m in r.items() if m.get("failed")}
    if failed:
        print(f"files that failed to ingest: {failed}")
    a, a2, b, c, d = (r[n] for n in ("raw", "app-raw", "rag", "llamaindex", "rag-again"))

    def speed(m: dict[str, Any]) -> float:
        return m["chunks"] / m["seconds"]

    print(
        f"b/a chunk throughput {speed(b) / speed(a):.2f}, b/a' {speed(b) / speed(a2):.2f} "
        f"(issue 17: >= 0.8 on the manual, >= 0.5 on small files); "
        f"a'/a {speed(a2) / speed(a):.2f}"
    )
    serial = a2["prep"] + a2["seconds"]
    print(
        f"b {b['seconds']:.1f} s against the same work done one step after the other in a': "
        f"rag's parsing and chunking {a2['prep']:.1f} s + embedding {a2['seconds']:.1f} s "
        f"= {serial:.1f} s (b/that {b['seconds'] / serial:.2f})"
    )
    print(
        f"b/c pages/min {c['seconds'] / b['seconds']:.2f} warm, "
        f"{c['wall'] / b['wall']:.2f} incl. load (target >= 3); "
        f"d/b time {d['seconds'] / b['seconds']:.3f} (target <= 0.02)"
    )


def score(ranked: list[list[str]], asked: list[dict[str, str]]) -> tuple[float, float]:
    """hit@K and MRR of the expected pages in each question's ranked distinct files."""
    ranks = [
        files.index(q["page"]) + 1 if q["page"] in files else 0
        for files, q in zip(ranked, asked, strict=True)
    ]
    return sum(r > 0 for r in ranks) / len(ranks), sum(1 / r for r in ranks if r) / len(ranks)


def print_retrieval(r: dict[str, dict[str, Any]], asked: list[dict[str, str]]) -> None:
    systems = r["rag"]["retrieval"] | r["llamaindex"]["retrieval"]
    labels = {
        "rag": f"b  rag ({r['rag'].get('mode', 'default')})",
        "rag dense": "b  rag, dense only",
        "llamaindex": "c  plain LlamaIndex",
    }
    print(f"\nretrieval: {len(asked)} questions ({QUESTIONS.name}), top {K} passages -> files")
    print(f"{'system':30} {'hit@5':>6} {'MRR':>6} {'ms/query':>8}")
    scores = {}
    for name, got in systems.items():
        scores[name] = score(got["files"], asked)
        print(f"{labels[name]:30} {scores[name][0]:6.3f} {scores[name][1]:6.3f} {got['ms']:8.0f}")
    print(
        f"rag - LlamaIndex: hit@5 {scores['rag'][0] - scores['llamaindex'][0]:+.3f} "
        f"(target >= 0), MRR {scores['rag'][1] - scores['llamaindex'][1]:+.3f}"
    )
    rag, li = systems["rag"]["files"], systems["llamaindex"]["files"]
    differ = [
        (q, x, y)
        for q, x, y in zip(asked, rag, li, strict=True)
        if (q["page"] in x) != (q["page"] in y)
    ]
    both = [
        (q, x, y)
        for q, x, y in zip(asked, rag, li, strict=True)
        if q["page"] not in x and q["page"] not in y
    ]
    for title, cases in (("only one of them finds", differ), ("neither finds", both)):
        if cases:
            print(f"questions {title} (each one's top files):")
        for q, x, y in cases:
            print(f"  {q['page']}: {q['question']}")
            print(f"    rag {'hit ' if q['page'] in x else 'miss'}: {', '.join(x)}")
            print(f"    LI  {'hit ' if q['page'] in y else 'miss'}: {', '.join(y)}")


def print_memory(half: dict[str, Any], full: dict[str, Any]) -> None:
    print("\nb  rag ingest by corpus size, each into an empty data directory")
    print(f"{'pages':>5} {'chunks':>6} {'seconds':>7} {'peak RSS':>8} {'worker':>7}")
    for m in (half, full):
        print(
            f"{m['files']:5d} {m['chunks']:6d} {m['seconds']:7.1f} "
            f"{m['rss_mb']:7.0f}M {m['worker_mb']:6.0f}M"
        )
    print(
        f"ratio {full['files'] / half['files']:.2f}x pages, "
        f"{full['chunks'] / max(half['chunks'], 1):.2f}x chunks: "
        f"peak RSS {full['rss_mb'] / half['rss_mb']:.2f}x, "
        f"worker {full['worker_mb'] / max(half['worker_mb'], 1):.2f}x"
    )


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose work took the median time (the lower of the two middle ones)."""
    return sorted(runs, key=lambda m: m["seconds"])[(len(runs) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=120, help="PostgreSQL manual pages")
    parser.add_argument("--cisi", type=int, default=300, help="CISI documents as files")
    parser.add_argument("--quick", action="store_true", help="15 pages, 30 CISI documents")
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of b and c each, the median shown (default 3 with --quick, else 1): "
        "a small corpus takes a second or two, and the machine's other load moves that",
    )
    parser.add_argument("--stage", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        name, corpus, data, launched, questions = args.stage
        run_stage(
            name, Path(corpus), Path(data), float(launched), Path(questions) if questions else None
        )
        return
    pages, cisi_n = (15, 30) if args.quick else (args.pages, args.cisi)
    repeat = args.repeat or (3 if args.quick else 1)
    with tempfile.TemporaryDirectory(prefix="rag-bench-ingest-") as tmp:
        corpora = {"postgresql": Path(tmp) / "pg", "cisi": Path(tmp) / "cisi"}
        half = Path(tmp) / "pg-half"
        for folder in (*corpora.values(), half):
            folder.mkdir()
        manual = manual_pages(pages)
        for i, page in enumerate(manual):
            shutil.copy(page, corpora["postgresql"] / page.name)
            if i < (len(manual) + 1) // 2:
                shutil.copy(page, half / page.name)
        cisi_files(cisi_n, corpora["cisi"])
        names = {p.name for p in manual}
        asked = [q for q in map(json.loads, QUESTIONS.open()) if q["page"] in names]
        questions = Path(tmp) / "questions.jsonl"
        questions.write_text("".join(json.dumps(q) + "\n" for q in asked))
        for name, corpus in corpora.items():
            if not any(corpus.iterdir()):
                print(f"\n{name}: no files, skipped")
                continue
            qs = questions if name == "postgresql" and asked else None
            chunks = Path(tmp) / f"chunks-{name}"  # (a') leaves rag's chunks there for (a)
            rags, plains = [], []
            for n in range(repeat):  # b and c in turn, each into an empty directory
                rags.append(stage("rag", corpus, Path(tmp) / f"data-{name}-{n}", qs))
                plains.append(stage("llamaindex", corpus, Path(tmp) / f"li-{name}-{n}", qs))
            r = {
                "app-raw": stage("app-raw", corpus, chunks),
                "raw": stage("raw", corpus, chunks),
                "rag": median(rags),
                "llamaindex": median(plains),
                "rag-again": stage("rag-again", corpus, Path(tmp) / f"data-{name}-0"),
            }
            if repeat > 1:
                b, c = (" ".join(f"{m['seconds']:.2f}" for m in ms) for ms in (rags, plains))
                print(
                    f"\n{name}: b and c each run {repeat} times, the median shown; b {b} s, c {c} s"
                )
            print(
                f"\n{name}: {r['rag']['files']} files; rag's embedder: {r['app-raw']['embedder']}"
            )
            print_stages(r)
            if qs:
                print_retrieval(r, asked)
            if name == "postgresql" and any(half.iterdir()):
                print_memory(stage("rag", half, Path(tmp) / "data-half"), r["rag"])


if __name__ == "__main__":
    main()
