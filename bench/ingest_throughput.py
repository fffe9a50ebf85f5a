"""Ingest throughput: rag ingest against the raw embedder and a plain LlamaIndex pipeline.

    python bench/ingest_throughput.py                 # 120 pages of the PostgreSQL 15 manual
                                                      # + 300 CISI documents as files
    python bench/ingest_throughput.py --pages 1169    # the whole manual
    python bench/ingest_throughput.py --quick         # 15 pages, 30 CISI docs (CI)

The manual is Debian's ``postgresql-doc-15``, unpacked by ``make bench-data`` (an install
step: ``apt-get download`` + ``dpkg -x``) into ``$RAG_BENCH_CACHE`` (default
``~/.cache/rag-bench``); this script itself never fetches anything. Each stage runs in its
own process, so its peak RSS is its own:

  (a) raw embedder: sentence-transformers ``encode`` on rag's own chunks, same batch size;
  (b) ``rag ingest`` end to end into an empty data directory;
  (c) plain LlamaIndex, as its tutorials show: ``SimpleDirectoryReader`` +
      ``VectorStoreIndex.from_documents`` on a ``ChromaVectorStore``, same embedder;
  (d) ``rag ingest`` again, nothing changed.

Reported: chunks/s, pages/min, peak RSS, and the ratios b/a (chunk throughput against the
embedder alone), b/c (pages per minute against the plain pipeline) and d/b.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))
CISI = ROOT.parent / "shared" / "eval" / "cisi" / "CISI.ALL"
MANUAL = CACHE / "postgresql-doc-15" / "usr" / "share" / "doc" / "postgresql-doc-15" / "html"

STAGE = r"""
import json, resource, sys, time
from pathlib import Path
stage, corpus, data = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
files = sorted(p for p in corpus.rglob("*") if p.is_file())
t = time.perf_counter()
chunks = 0
if stage in ("rag", "rag-again"):
    from rag import Assistant, Settings
    a = Assistant(Settings(data_dir=data))
    a.embedder.embed(["warm up"])  # the model loads lazily: time from the first file on
    t = time.perf_counter()
    report = a.ingest([corpus])
    chunks = report.chunks_written
    failed = len(report.failed)
elif stage == "raw":
    from ingest.chunk import Chunker
    from ingest.pipeline import prepare
    from rag import Settings
    from rag.embed import SentenceTransformerEmbedder
    from rag.models import bundled_embedder
    s = Settings()
    e = SentenceTransformerEmbedder(bundled_embedder(), s.embed_batch_size)
    chunker = Chunker(e.tokenize, s.chunk_size, s.chunk_overlap)
    texts = [c.text for f in files for c in prepare(f, chunker, 10**9).chunks]
    e.embed(["warm up"])
    t = time.perf_counter()  # only the embedding is timed
    e.embed(texts)
    chunks, failed = len(texts), 0
elif stage == "llamaindex":
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import Settings as LISettings, SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore
    from sentence_transformers import SentenceTransformer
    from rag.models import bundled_embedder
    model = SentenceTransformer(str(bundled_embedder()), device="cpu")

    class Embed(BaseEmbedding):
        def _get_text_embeddings(self, texts):
            return model.encode(texts, batch_size=32, normalize_embeddings=True).tolist()
        def _get_text_embedding(self, text):
            return self._get_text_embeddings([text])[0]
        def _get_query_embedding(self, query):
            return self._get_text_embedding(query)
        async def _aget_query_embedding(self, query):
            return self._get_query_embedding(query)

    LISettings.embed_model = Embed(embed_batch_size=32)
    LISettings.llm = None
    LISettings.chunk_size = 256
    t = time.perf_counter()
    client = chromadb.PersistentClient(path=str(data), settings=ChromaSettings(anonymized_telemetry=False))
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("plain"))
    docs = SimpleDirectoryReader(input_files=[str(f) for f in files]).load_data()
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    chunks, failed = store._collection.count(), 0
seconds = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "chunks": chunks, "files": len(files), "failed": failed, "rss_mb": rss}))
"""


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


def stage(name: str, corpus: Path, data: Path) -> dict[str, float]:
    env = os.environ | {"TOKENIZERS_PARALLELISM": "false", "ANONYMIZED_TELEMETRY": "False"}
    out = subprocess.run(
        [sys.executable, "-c", STAGE, name, str(corpus), str(data)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        sys.exit(f"stage {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=120, help="PostgreSQL manual pages")
    parser.add_argument("--cisi", type=int, default=300, help="CISI documents as files")
    parser.add_argument("--quick", action="store_true", help="15 pages, 30 CISI documents")
    args = parser.parse_args()
    pages, cisi_n = (15, 30) if args.quick else (args.pages, args.cisi)
    with tempfile.TemporaryDirectory(prefix="rag-bench-ingest-") as tmp:
        corpora = {"postgresql": Path(tmp) / "pg", "cisi": Path(tmp) / "cisi"}
        corpora["postgresql"].mkdir()
        for page in manual_pages(pages):
            shutil.copy(page, corpora["postgresql"] / page.name)
        corpora["cisi"].mkdir()
        cisi_files(cisi_n, corpora["cisi"])
        for name, corpus in corpora.items():
            if not any(corpus.iterdir()):
                print(f"\n{name}: no files, skipped")
                continue
            data = Path(tmp) / f"data-{name}"
            r = {
                "a raw embedder": stage("raw", corpus, Path(tmp) / f"raw-{name}"),
                "b rag ingest": stage("rag", corpus, data),
                "c plain LlamaIndex": stage("llamaindex", corpus, Path(tmp) / f"li-{name}"),
                "d rag ingest again": stage("rag-again", corpus, data),
            }
            files = r["b rag ingest"]["files"]
            print(f"\n{name}: {files} files")
            print(
                f"{'stage':20} {'seconds':>8} {'chunks':>7} {'chunks/s':>9} {'pages/min':>10} {'peak RSS':>9}"
            )
            for label, m in r.items():
                rate = m["chunks"] / m["seconds"] if m["seconds"] else 0.0
                ppm = 60 * m["files"] / m["seconds"] if m["seconds"] else 0.0
                print(
                    f"{label:20} {m['seconds']:8.1f} {m['chunks']:7d} {rate:9.1f} {ppm:10.1f} {m['rss_mb']:8.0f}M"
                )
            a, b, c, d = r.values()
            print(
                f"b/a chunk throughput {b['chunks'] / b['seconds'] / (a['chunks'] / a['seconds']):.2f} (target >= 0.95); "
                f"b/c pages/min {c['seconds'] / b['seconds']:.2f} (target >= 3); "
                f"d/b time {d['seconds'] / b['seconds']:.3f} (target <= 0.02)"
            )


if __name__ == "__main__":
    main()
