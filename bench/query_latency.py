"""Query latency: retrieval p50/p95 at 10k and 100k chunks; time to first token and
pieces/s of rag's model paths against raw llama.cpp and the path before, in one run.

    python bench/query_latency.py            # 10k and 100k chunks, 5 questions x 3 rounds
    python bench/query_latency.py --quick    # 2k chunks, 2 questions (CI)
    python bench/query_latency.py --retrieval-only [--quick]   # no model timings

Retrieval: chunks built from the CISI abstracts (each a blend of a real document's
embedding with a neighbour's, plus noise, as in bench/hnsw_recall.py; its text a mix of
the two documents' sentences, so BM25 sees real vocabulary), written through the store
and keyword index rag uses. The 112 CISI queries are timed through
``Retriever.search`` (BM25 + Chroma + fusion), hybrid and each part, with precomputed
query vectors; then hybrid again with each question embedded first by the app's embedder
(the whole retrieval of a new question, the figure the <= 50 ms target is about).
Keyword search is also timed as two ordinary users: BM25's statistics are counted over
what the reader may read (half the documents are everyone's, the rest belong to one of
ten groups), and ``x all`` is the ratio of their p50 to an admin's, in the same run.

Generation: the messages rag builds for five questions over sample_docs/ go to the
bundled model run each way (see ``generation``), first token p50/p95 against the 1 s
target, raw llama.cpp and the path before this change. The CPU flags and the probe's
decision (rag.models.llama_runtime) are printed with the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from hnsw_recall import cisi_dataset, cisi_synthetic  # noqa: E402

from rag import Assistant, Settings  # noqa: E402
from rag.answer.cite import CitationStream  # noqa: E402
from rag.answer.extract import condense  # noqa: E402
from rag.answer.prompt import build_messages  # noqa: E402
from rag.models.base import Message  # noqa: E402
from rag.retrieval.hybrid import Retriever  # noqa: E402
from rag.retrieval.keyword import KeywordIndex  # noqa: E402
from rag.retrieval.store import Record  # noqa: E402
from rag.retrieval.stores import open_store  # noqa: E402

QUESTIONS = [
    "How many users were affected by the March server room outage?",
    "How much notice do we have to give Acme Logistics to end the contract?",
    "What is the per diem for trips abroad?",
    "How many days of annual leave can I carry over?",
    "What is the maximum hotel rate in London?",
]


class _FixedEmbedder:
    """Query vectors looked up by text (the real CISI query embeddings), so the timing
    covers everything but the model call; the model call is timed separately."""

    name = "fixed"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_query(self, text: str) -> np.ndarray:
        return self.table[text]

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts])

    def tokenize(self, text: str) -> list[int]:
        return []


class _EmbeddingFirst(_FixedEmbedder):
    """Embeds each question with the app's embedder first, uncached as a new question is,
    so the timing is a whole retrieval; the search itself uses the fixed vector."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        from rag.models import open_embedder

        super().__init__(table)
        self.real = open_embedder(Settings())

    def embed_query(self, text: str) -> np.ndarray:
        self.real.embed([text])
        return self.table[text]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(q * len(ordered)) - 1)]


def _access(i: int) -> tuple[str, ...]:
    """Chunk ``i``'s access list: its document's (20 chunks a document), everyone's for
    even documents, else one of ten groups'."""
    doc = i // 20
    return ("everyone",) if doc % 2 == 0 else (f"group:g{doc % 10}",)


#: (label, principals) of the ordinary users keyword search is timed for.
READERS = (
    ("keyword, reader of 55%", frozenset({"everyone", "group:g1", "user:bench"})),
    ("keyword, reader of 5%", frozenset({"group:g3", "user:bench"})),
)


def retrieval(n_chunks: int, tmp: Path) -> list[tuple[str, float, float]]:
    from parse_cisi_texts import cisi_texts

    base, queries = cisi_dataset(None, None)
    docs, qtexts = cisi_texts()
    syn = cisi_synthetic(base.docs, queries, n_chunks, len(queries))
    rng = np.random.default_rng(3)
    sentences = [s for d in docs for s in d.split(". ") if len(s) > 20]
    texts = [" ".join(rng.choice(sentences, 4)) for _ in range(n_chunks)]
    records = [
        Record(f"c{i:06d}", t, {"source": f"/bench/doc{i // 20:05d}.txt", "page": None})
        for i, t in enumerate(texts)
    ]
    settings = Settings(data_dir=tmp / f"d{n_chunks}")
    store = open_store(settings, "bench")
    started = time.perf_counter()
    for i in range(0, n_chunks, 5000):
        store.upsert(records[i : i + 5000], syn.docs[i : i + 5000])
    built = time.perf_counter()
    keyword = KeywordIndex.build(
        ((r.id, r.metadata["source"], r.text, _access(i)) for i, r in enumerate(records)), 1
    )
    print(
        f"  {n_chunks} chunks stored and indexed in {time.perf_counter() - started:.0f} s "
        f"(the keyword index: {time.perf_counter() - built:.1f} s)"
    )
    table = dict(zip(qtexts, queries, strict=True))
    fixed = Retriever(store, _FixedEmbedder(table), lambda: keyword)  # type: ignore[arg-type]
    whole = Retriever(store, _EmbeddingFirst(table), lambda: keyword)  # type: ignore[arg-type]
    out = []
    for label, retriever, mode, readers in (
        ("hybrid", fixed, "hybrid", None),
        ("dense", fixed, "dense", None),
        ("keyword", fixed, "keyword", None),
        *((label, fixed, "keyword", readers) for label, readers in READERS),
        ("hybrid + query embedding", whole, "hybrid", None),
    ):
        for q in qtexts[:5]:
            retriever.search(q, 5, mode, None, readers)  # warm
        times = []
        for q in qtexts:
            t = time.perf_counter()
            retriever.search(q, 5, mode, None, readers)
            times.append(time.perf_counter() - t)
        out.append((label, pct(times, 0.5) * 1000, pct(times, 0.95) * 1000))
    return out


def query_embedding() -> tuple[float, float]:
    """p50/p95 ms of embedding a question with the app's embedder (not in the table above)."""
    from parse_cisi_texts import cisi_texts

    from rag.config import Settings
    from rag.models import open_embedder

    embedder = open_embedder(Settings())
    _, queries = cisi_texts()
    embedder.embed_query("warm up")
    times = []
    for q in queries:
        t = time.perf_counter()
        embedder.embed_query(q)
        times.append(time.perf_counter() - t)
    return pct(times, 0.5) * 1000, pct(times, 0.95) * 1000


#: The first-token target of issue 11, on 2 cores with the bundled model.
TTFT_TARGET_S = 1.0


def _timed(pieces: Iterator[str]) -> tuple[float, float]:
    """(seconds to the first piece, pieces per second after it) of a stream."""
    started = time.perf_counter()
    first, n = None, 0
    for _ in pieces:
        n += 1
        first = first or time.perf_counter()
    end = time.perf_counter()
    first = first or end
    return first - started, (n - 1) / max(end - first, 1e-9)


def _messages(a: Assistant, questions: list[str], per_passage: int) -> list[list[Message]]:
    out = []
    for q in questions:
        passages = a.search(q)
        texts = condense(q, passages, a.embedder, per_passage)
        out.append(
            build_messages(q, [(p.source, p.page, t) for p, t in zip(passages, texts, strict=True)])
        )
    return out


def generation(
    questions: list[str], rounds: int
) -> tuple[list[tuple[str, list[float], list[float]]], str]:
    """Time to first token and pieces/s of each way of running the bundled model, on the
    messages rag sends for ``questions``, asked round-robin ``rounds`` times (so no prompt
    but the system prompt repeats), all in this one run. The rows:

    * raw llama.cpp: the bundled GGUF in this process, KV cache reset before each call
      (no reuse of anything): the floor rag is compared with;
    * before: rag's path until this change (the GGUF in rag's own process, which
      reused the system prompt's cached prefix); on a CPU whose fast paths crash it
      needs the probe's decision to run at all;
    * the model in its own process (a segfault can no longer end rag's), Q4_1 weights;
    * + the probe's F16 copy of the weights (rag's default);
    * + 2 sentences a passage instead of 3 (a lever issue 13 weighs against quality).
    """
    from llama_cpp import Llama

    from rag.models.bundled import bundled_chat_model
    from rag.models.llama_cpp import LlamaCppGenerator
    from rag.models.llama_runtime import use_extra_buffers

    model = bundled_chat_model()
    rows: list[tuple[str, list[float], list[float]]] = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-gen-") as tmp:
        a = Assistant(Settings(data_dir=Path(tmp)))
        a.ingest([ROOT / "sample_docs"])
        threads = a.settings.threads or len(os.sched_getaffinity(0))
        default = LlamaCppGenerator(model, threads=threads, cache_dir=a.settings.model_cache)
        runtime = default.runtime
        by_sentences = {n: _messages(a, questions, n) for n in (3, 2)}

        def run(label: str, ask: Callable[[list[Message]], Iterator[str]], n: int = 3) -> None:
            # One untimed call first: a fresh llama.cpp context's first batch is slower.
            for _ in ask([{"role": "user", "content": "Say hello."}]):
                pass
            ttft, rate = [], []
            for _ in range(rounds):
                for messages in by_sentences[n]:
                    first, pace = _timed(ask(messages))
                    ttft.append(first)
                    rate.append(pace)
            rows.append((label, ttft, rate))

        use_extra_buffers(runtime.extra_buffers)  # else this process dies where they crash
        llm = Llama(
            model_path=str(model),
            n_ctx=4096,
            n_threads=threads,
            n_threads_batch=threads,
            seed=0,
            verbose=False,
        )

        def in_process(messages: list[Message], reset: bool) -> Iterator[str]:
            if reset:
                llm.reset()
            for chunk in llm.create_chat_completion(
                messages=messages, max_tokens=128, temperature=0.0, stream=True
            ):
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    yield text

        run("raw llama.cpp, no cache", lambda m: in_process(m, True))
        run("before: in rag's process", lambda m: CitationStream(5)(in_process(m, False)))
        llm.close()  # its memory, before the next model loads
        q4 = LlamaCppGenerator(model, threads=threads, cache_dir=a.settings.model_cache, f16=False)

        def served(generator: LlamaCppGenerator) -> Callable[[list[Message]], Iterator[str]]:
            generator.load()
            return lambda m: CitationStream(5)(generator.stream(m, max_tokens=128, temperature=0.0))

        run("own process, Q4_1", served(q4))
        q4.close()
        run("own process, probe's weights", served(default))
        run("  + 2 sentences a passage", served(default), n=2)
        default.close()
    return rows, runtime.describe()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--retrieval-only", action="store_true", help="no model timings")
    args = parser.parse_args()
    sizes = [2000] if args.quick else [10_000, 100_000]
    with tempfile.TemporaryDirectory(prefix="rag-bench-latency-") as tmp:
        for n in sizes:
            print(f"retrieval over {n} chunks (112 CISI queries, k=5; query vectors precomputed)")
            rows = retrieval(n, Path(tmp))
            print(f"  {'mode':24} {'p50 ms':>8} {'p95 ms':>8} {'x all':>6}")
            everything = next(p50 for mode, p50, _ in rows if mode == "keyword")
            for mode, p50, p95 in rows:
                ratio = f"{p50 / everything:6.2f}" if mode.startswith("keyword,") else ""
                print(f"  {mode:24} {p50:8.1f} {p95:8.1f} {ratio}")
    if args.retrieval_only:
        return
    p50, p95 = query_embedding()
    print(
        f"query embedding alone (app's embedder, CISI queries): p50 {p50:.1f} ms, p95 {p95:.1f} ms"
    )
    questions = QUESTIONS[:2] if args.quick else QUESTIONS
    rounds = 1 if args.quick else 3
    rows, runtime = generation(questions, rounds)
    print(
        f"\ngeneration: the bundled model, {len(questions)} questions x {rounds} rounds, 128 tokens max"
    )
    print(f"llama.cpp here: {runtime}")
    print(
        f"  {'path':30} {'TTFT p50':>9} {'p95':>7} {'vs raw':>7} {'vs before':>9} "
        f"{'<= 1 s':>7} {'pieces/s':>9} {'vs raw':>7}"
    )
    raw_ttft, raw_rate = statistics.median(rows[0][1]), statistics.median(rows[0][2])
    before = statistics.median(rows[1][1])
    for label, ttft, rate in rows:
        p50, p95, pace = statistics.median(ttft), pct(ttft, 0.95), statistics.median(rate)
        met = "met" if p50 <= TTFT_TARGET_S else "no"
        # Pieces, not tokens: rag's citation stream may merge a few pieces.
        print(
            f"  {label:30} {p50:8.2f}s {p95:6.2f}s {p50 / raw_ttft:7.2f} {p50 / before:9.2f} "
            f"{met:>7} {pace:9.1f} {pace / raw_rate:7.2f}"
        )


if __name__ == "__main__":
    main()
