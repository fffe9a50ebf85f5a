"""Where a file's ingest time goes, per format and per stage (issue 17's profile).

    python bench/ingest_profile.py             # 40 manual pages, 150 CISI files, 8 of each sample
    python bench/ingest_profile.py --quick     # 10 pages, 40 CISI files, 3 of each sample
    python bench/ingest_profile.py --cprofile 12   # also the top 12 functions of each format's
                                               # parse and of the parent's side of its ingest
    python bench/ingest_profile.py --quick --pool  # also each format's ingest with the parser
                                               # pool starting every worker at once, then lazily

Corpora: HTML is the PostgreSQL 15 manual (``make bench-data``), TXT-1K is CISI abstracts
as one small file each (``../shared/eval/cisi``); PDF, DOCX, XLSX, PPTX, EML, MD, CSV and
TXT are the files in ``sample_docs/``, each copied several times under other names.

Stages, each timed on its own, in this process, file by file (ms per file):

  round trip  ``Sandbox.parse`` in a warm, confined parser worker: request, parse, JSON
              reply, checks (the worker's start is reported apart);
  partition   ``rag.ingest.parse.parse`` in this process: the same code the worker runs,
              without the trip (round trip - partition = the trip's own cost);
  chunk       ``Chunker.chunk`` on those blocks, with the embedder's tokenizer;
  embed       the app's embedder on the format's chunks, in the indexer's batches;
  commit      the indexer's journalled write of each file (manifest + vector store);
  ingest      ``Assistant.ingest`` of the format's folder into an empty data directory,
              end to end (discovery, hashing, keyword index included), per file;
  other       ingest - (round trip + chunk + embed + commit): what no stage above covers,
              or overlap where it is negative (the indexer parses one file ahead).

``--pool`` times each format's end to end ingest twice more, each time from a fresh
parser pool with one warm worker, as a process that has parsed before has: with the
pool starting a worker whenever all are busy (``eager``, as first built) and starting
one only when the files left repay its start (``lazy``).

The machine's other load moves absolute times; compare ratios within one run.
``--cprofile`` runs cProfile over the in-process parse (what the worker spends) and over
the parent during ``Assistant.ingest`` (chunking, embedding, commits; the worker is another
process) and prints the functions with the most time of their own.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))
MANUAL = CACHE / "postgresql-doc-15" / "usr" / "share" / "doc" / "postgresql-doc-15" / "html"
CISI = ROOT.parent / "shared" / "eval" / "cisi" / "CISI.ALL"
SAMPLES = {
    "pdf": "incident_report_2026-03.pdf",
    "docx": "employee_handbook.docx",
    "xlsx": "price_list_2026.xlsx",
    "pptx": "q3_review.pptx",
    "eml": "board_update.eml",
    "md": "travel_expense_policy.md",
    "csv": "office_locations.csv",
    "txt": "it_security_notes.txt",
}
STAGES = ("round trip", "partition", "chunk", "embed", "commit", "ingest", "other")


def corpora(tmp: Path, pages: int, cisi: int, copies: int) -> dict[str, list[Path]]:
    """Each format's files, copied into a folder of their own under ``tmp``."""
    out: dict[str, list[Path]] = {}
    html = sorted(MANUAL.glob("*.html"))[:pages]
    if html:
        out["html"] = _copy(html, tmp / "html")
    else:
        print(f"no manual under {MANUAL} (make bench-data): HTML skipped", file=sys.stderr)
    for name, sample in SAMPLES.items():
        source = ROOT / "sample_docs" / sample
        folder = tmp / name
        folder.mkdir()
        files = []
        for i in range(copies):
            target = folder / f"{source.stem}-{i}{source.suffix}"
            shutil.copy(source, target)
            files.append(target)
        out[name] = files
    if CISI.is_file() and cisi:
        sys.path.insert(0, str(ROOT / "bench"))
        from hnsw_recall import parse_cisi

        folder = tmp / "txt-1k"
        folder.mkdir()
        files = []
        for doc_id, text in parse_cisi(CISI, ("T", "W"))[:cisi]:
            files.append(folder / f"cisi-{doc_id}.txt")
            files[-1].write_text(text, encoding="utf-8")
        out["txt-1k"] = files
    return out


def _copy(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return [folder / f.name for f in files]


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def compare_pool(name: str, files: list[Path], tmp: Path, embedder: Any) -> dict[str, Any]:
    """Seconds and worker starts of an ingest of ``files``, from a fresh shared pool with
    one warm worker, eager then lazy."""
    from rag import Assistant, Settings
    from rag.ingest import sandbox
    from rag.ingest.sandbox import ParseLimits, SandboxPool

    out = {}
    for mode in ("eager", "lazy"):
        shared = sandbox._SHARED
        sandbox._SHARED = SandboxPool(1, lazy=mode == "lazy")
        try:
            sandbox._SHARED.parse(ROOT / "sample_docs" / SAMPLES["txt"], ParseLimits())
            warm = sandbox._SHARED.starts
            ingester = Assistant(Settings(data_dir=tmp / f"pool-{mode}-{name}"), embedder=embedder)
            report, seconds = timed(lambda i=ingester: i.ingest([files[0].parent]))
            out[mode] = (seconds, sandbox._SHARED.starts - warm, report.chunks_written)
        finally:
            sandbox._SHARED.close()
            sandbox._SHARED = shared
    return out


def profile_format(
    name: str, files: list[Path], tmp: Path, top: int, sandbox: Any, embedder: Any, pool: bool
) -> dict[str, Any]:
    from rag import Assistant, Settings
    from rag.errors import ParseError
    from rag.index.indexer import Indexer
    from rag.ingest.chunk import Chunker
    from rag.ingest.parse import parse
    from rag.ingest.pipeline import Prepared
    from rag.ingest.sandbox import ParseLimits

    settings = Settings(data_dir=tmp / f"data-{name}")
    chunker = Chunker(embedder.tokenize, settings.chunk_size, settings.chunk_overlap)
    limits = ParseLimits(settings.parse_timeout_s, settings.parse_memory_mb)
    s = dict.fromkeys(STAGES, 0.0)
    blocks_n = chunks_n = 0
    prepared = []
    failed = 0
    for f in files:
        try:
            _, s1 = timed(lambda f=f: sandbox.parse(f, limits))
            blocks, s2 = timed(lambda f=f: parse(f))
        except ParseError:
            failed += 1
            continue
        chunks, s3 = timed(lambda b=blocks: chunker.chunk(b))
        s["round trip"] += s1
        s["partition"] += s2
        s["chunk"] += s3
        blocks_n += len(blocks)
        chunks_n += len(chunks)
        info = f.stat()
        pages = max((b.page for b in blocks if b.page is not None), default=None)
        prepared.append(
            Prepared(f, f"{abs(hash(f)):032x}", info.st_size, info.st_mtime_ns, name, pages, chunks)
        )
    profiler = None
    if top:  # a second pass: cProfile's own overhead stays out of the times above
        profiler = cProfile.Profile()
        for f in files:
            profiler.enable()
            with contextlib.suppress(ParseError):
                parse(f)
            profiler.disable()
    # Embedding in the indexer's batches (64 chunks at least per call).
    batch: list[str] = []
    vectors = []
    for doc in prepared:
        batch += [c.text for c in doc.chunks]
        if len(batch) >= 64:
            v, t = timed(lambda b=batch: embedder.embed(b))
            vectors.append(v)
            s["embed"] += t
            batch = []
    if batch:
        v, t = timed(lambda b=batch: embedder.embed(b))
        vectors.append(v)
        s["embed"] += t
    # Commits, each file on its own as the indexer writes them, into an empty collection.
    assistant = Assistant(Settings(data_dir=tmp / f"commit-{name}"), embedder=embedder)
    collection = assistant.collection()
    indexer: Indexer = collection._indexer()
    import numpy as np

    every = np.concatenate(vectors) if vectors else np.zeros((0, 1))
    at = 0
    with collection._writing():
        for doc in prepared:
            n = len(doc.chunks)
            _, t = timed(
                lambda d=doc, v=every[at : at + n]: indexer._write_batch([(str(d.path), d)], v)
            )
            s["commit"] += t
            at += n
    # End to end, into another empty data directory, with the app's own embedder warm.
    ingester = Assistant(settings, embedder=embedder)  # the same warm model: no load timed
    parent = cProfile.Profile() if top else None
    if parent:
        parent.enable()
    report, s["ingest"] = timed(lambda: ingester.ingest([files[0].parent]))
    if parent:
        parent.disable()
    s["other"] = s["ingest"] - (s["round trip"] + s["chunk"] + s["embed"] + s["commit"])
    if pool:
        result_pool = compare_pool(name, files, tmp, embedder)
    result = {
        "pool": result_pool if pool else None,
        "files": len(files),
        "failed": failed,
        "kb": sum(f.stat().st_size for f in files) / 1024 / len(files),
        "blocks": blocks_n,
        "chunks": chunks_n,
        "ingest_chunks": report.chunks_written,
        "stages": s,
    }
    if top:
        result["profiles"] = {
            "parse, by own time": _top(profiler, top, "tottime"),
            "parse, by cumulative time": _top(profiler, top, "cumulative", _LIBRARIES),
            "ingest (parent), by cumulative time": _top(parent, top, "cumulative", _OURS),
        }
    return result


#: What the cumulative listings keep: the parsers' own steps, and rag's in the parent.
_LIBRARIES = r"unstructured/|pdfminer/high_level|docx/|pptx/|openpyxl/reader|langdetect/detector\.|spacy/language|lxml|rag/ingest"
_OURS = r"/rag/|onnxruntime|chromadb/api/models|tokenizers"


def _top(profiler: cProfile.Profile | None, n: int, key: str, where: str = "") -> str:
    if profiler is None:
        return ""
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(key)
    if where:
        stats.print_stats(where, n)
    else:
        stats.print_stats(n)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line[:150] for line in lines[start:] if line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 pages, 40 CISI, 3 copies")
    parser.add_argument("--pages", type=int, default=40, help="manual pages (HTML)")
    parser.add_argument("--cisi", type=int, default=150, help="CISI abstracts as .txt files")
    parser.add_argument("--copies", type=int, default=8, help="copies of each sample file")
    parser.add_argument("--formats", help="comma-separated subset, e.g. html,pdf,txt-1k")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N", help="top N functions")
    parser.add_argument(
        "--pool", action="store_true", help="also ingest with the pool eager, then lazy"
    )
    args = parser.parse_args()
    if args.quick:
        args.pages, args.cisi, args.copies = 10, 40, 3
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag import Assistant, Settings
    from rag.ingest.sandbox import ParseLimits, Sandbox

    with tempfile.TemporaryDirectory(prefix="rag-ingest-profile-") as name:
        tmp = Path(name)
        sets = corpora(tmp, args.pages, args.cisi, args.copies)
        if args.formats:
            wanted = set(args.formats.split(","))
            sets = {k: v for k, v in sets.items() if k in wanted}
        sandbox = Sandbox()
        sandbox.prestart()
        from rag.ingest.parse import warm_up

        warm_up()  # as the worker does: the partition times below are a warm process's
        embedder = Assistant(Settings(data_dir=tmp / "warm")).embedder
        embedder.embed(["warm up"])
        light, heavy = (ROOT / "sample_docs" / SAMPLES[k] for k in ("txt", "docx"))
        _, start = timed(lambda: sandbox.parse(light, ParseLimits()))
        # A worker loads unstructured and spaCy for its first Office file, CSV or mail:
        # that load is reported here, and each worker below has done it.
        _, load = timed(lambda: sandbox.parse(heavy, ParseLimits()))
        from rag.ingest import sandbox as shared

        shared._SHARED.parse(heavy, ParseLimits())
        print(
            f"embedder {type(embedder).__name__} {getattr(embedder, 'name', '')}; parser worker "
            f"ready + first text file {start:.2f} s, + first DOCX (unstructured, spaCy) "
            f"{load:.2f} s; confined {sandbox.protections}; "
            f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"
        )
        results = {}
        for fmt, files in sets.items():
            results[fmt] = profile_format(
                fmt, files, tmp, args.cprofile, sandbox, embedder, args.pool
            )
        sandbox.close()
    print_table(results)
    if args.cprofile:
        for fmt, r in results.items():
            for what, text in r["profiles"].items():
                print(f"\n== {fmt}: {what}, top {args.cprofile} by own time ==\n{text}")


def print_table(results: dict[str, dict[str, Any]]) -> None:
    print(
        f"\n{'format':7} {'files':>5} {'KB':>6} {'blocks':>6} {'chunks':>6}  "
        + " ".join(f"{s:>10}" for s in STAGES)
        + f" {'emb ch/s':>8} {'ing ch/s':>8} {'ratio':>5}"
    )
    print(f"{'':34}" + "ms per file".center(11 * len(STAGES)))
    for fmt, r in results.items():
        n = max(r["files"] - r["failed"], 1)
        s = r["stages"]
        emb = r["chunks"] / s["embed"] if s["embed"] else 0.0
        ing = r["ingest_chunks"] / s["ingest"] if s["ingest"] else 0.0
        print(
            f"{fmt:7} {r['files']:5d} {r['kb']:6.1f} {r['blocks']:6d} {r['chunks']:6d}  "
            + " ".join(f"{1000 * s[k] / n:10.1f}" for k in STAGES)
            + f" {emb:8.1f} {ing:8.1f} {ing / emb if emb else 0:5.2f}"
        )
    print(
        "ratio: ingest chunks/s over the embedder's alone (issue 17: >= 0.8 on the manual, "
        ">= 0.5 on small files)"
    )
    if not any(r["pool"] for r in results.values()):
        return
    print(
        f"\n{'format':7} {'files':>5}  {'eager ms/file':>13} {'starts':>6}"
        f"  {'lazy ms/file':>12} {'starts':>6}  {'lazy/eager':>10}"
    )
    for fmt, r in results.items():
        (e, e_starts, _), (lz, l_starts, _) = r["pool"]["eager"], r["pool"]["lazy"]
        n = max(r["files"], 1)
        print(
            f"{fmt:7} {r['files']:5d}  {1000 * e / n:13.1f} {e_starts:6d}"
            f"  {1000 * lz / n:12.1f} {l_starts:6d}  {lz / e:10.2f}"
        )
    print("each from a fresh pool with one warm worker; starts: workers started during the ingest")


if __name__ == "__main__":
    main()
