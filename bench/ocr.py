"""OCR: accuracy and speed on scans made from known text; retrieval on scans vs their twins.

    python bench/ocr.py               # 12 pages per condition; retrieval on the 45 PostgreSQL
                                      # questions' pages (~180 printed pages), ~15 min on 2 cores
    python bench/ocr.py --quick       # 1 page per condition, 2 questions (CI), ~2 min
    python bench/ocr.py --drivers     # also the other ways to drive Tesseract, same pages

The scanned test set is made here from text we know (``tests/scans.py``): pages of the
sample documents and of the PostgreSQL 15 manual (Debian's ``postgresql-doc-15``, which
``make bench-data`` unpacks into ``$RAG_BENCH_CACHE``; without it, sample documents only)
are set as born-digital PDFs (fpdf2, Helvetica and Times), rendered at 150, 200 and
300 dpi (pypdfium2) and kept either clean (lossless) or degraded: turned 0.5-2 degrees,
blurred by a third of a point, Gaussian noise (sigma 10), JPEG quality 60. Two more
conditions: 300 dpi pages turned a quarter (OSD) and phone photos (JPEG files: colour,
turned 4 degrees on a darker wall, lit unevenly, blurred, no resolution stated). The
born-digital PDF's text layer is each page's ground truth.

Each condition's pages go through rag's own parser worker (``Sandbox.parse``: confined,
within its limits, exactly as ``rag ingest`` reads them). Reported per condition: CER and
WER (edits over the whole set's characters / words, after collapsing whitespace; the worst
page's CER), mean OCR confidence, pages/min, and the worker's peak RSS (the worker and
Tesseract together, polled every 20 ms; ``+MB``: above the idle worker's; ``tess.``:
Tesseract's own peak). The machine's load average is printed before and after: pages/min
falls with it (other work shares the cores), the ratios within one run less so. Goals: CER <= 2 %
at 300 dpi clean, <= 5 % at 200 dpi degraded.

Retrieval: each question page of ``bench/pg_questions.jsonl`` as a born-digital PDF, and the
same pages scanned (200 dpi, degraded) as an image-only PDF; both folders ingested (two
collections, one data directory), each question searched (rag's default hybrid mode, k=5);
hit@5: the question's file among the top 5. Goal: scans within 0.05 of the twins.

``--drivers`` runs the 300 dpi clean and 200 dpi degraded PDFs through ocrmypdf as well (if
the ``ocrmypdf`` program is installed: ``apt-get install ocrmypdf``; ``--force-ocr
--rotate-pages --deskew --sidecar``, one job, one OpenMP thread as rag runs Tesseract) and says
why unstructured's OCR cannot run here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tests.scans import (  # noqa: E402
    cer,
    degrade,
    image_pdf,
    normalise,
    page_texts,
    photo,
    render,
    text_pdf,
    wer,
)

CACHE = Path(os.environ.get("RAG_BENCH_CACHE", Path.home() / ".cache" / "rag-bench"))
MANUAL = CACHE / "postgresql-doc-15" / "usr" / "share" / "doc" / "postgresql-doc-15" / "html"
QUESTIONS = ROOT / "bench" / "pg_questions.jsonl"
SAMPLES = ROOT / "sample_docs"
#: Sample documents of running text (tables and slides left out).
SAMPLE_FILES = (
    "it_security_notes.txt",
    "acme_services_agreement.docx",
    "travel_expense_policy.md",
    "employee_handbook.docx",
    "board_update.eml",
    "intranet_faq.html",
    "incident_report_2026-03.pdf",
)
#: Manual pages for the accuracy set (not the questions' pages).
MANUAL_FILES = (
    "tutorial-concepts.html",
    "tutorial-accessdb.html",
    "mvcc-intro.html",
    "backup-dump.html",
    "indexes-intro.html",
    "datatype-boolean.html",
)
K = 5
GOALS = {"300 dpi clean": 0.02, "200 dpi degraded": 0.05}


@dataclass
class Condition:
    name: str
    dpi: int
    kind: str  # clean | degraded | quarter | photo
    pages: int = 0
    edits: int = 0
    chars: int = 0
    word_edits: int = 0
    words: int = 0
    worst: float = 0.0
    seconds: float = 0.0
    confidences: list[float] = field(default_factory=list)
    peak_mb: float = 0.0
    tesseract_mb: float = 0.0

    @property
    def cer(self) -> float:
        return self.edits / max(self.chars, 1)

    @property
    def wer(self) -> float:
        return self.word_edits / max(self.words, 1)


CONDITIONS = [
    Condition("150 dpi clean", 150, "clean"),
    Condition("150 dpi degraded", 150, "degraded"),
    Condition("200 dpi clean", 200, "clean"),
    Condition("200 dpi degraded", 200, "degraded"),
    Condition("300 dpi clean", 300, "clean"),
    Condition("300 dpi degraded", 300, "degraded"),
    Condition("300 dpi turned 90°", 300, "quarter"),
    Condition("phone photo (JPEG)", 200, "photo"),
]


# -- the test set ----------------------------------------------------------------------------


_RULE = re.compile(r"[-=_*~#.]{4,}")


def document_text(path: Path) -> str:
    """A document's text as rag parses it, paragraphs apart; rules typed as runs of
    punctuation (``------``) left out: no reader transcribes those."""
    from rag.ingest.parse import parse

    texts = (" ".join(_RULE.sub(" ", b.text).split()) for b in parse(path))
    return "\n\n".join(t for t in texts if t)


def digital_pages(folder: Path, n: int) -> list[tuple[Path, int]]:
    """``n`` born-digital pages (a PDF each, and its page index): the first page of each
    sample document, then of manual pages, fonts alternating."""
    sources = [SAMPLES / name for name in SAMPLE_FILES]
    if MANUAL.is_dir():
        sources += [MANUAL / name for name in MANUAL_FILES]
    # Alternate samples and manual pages so a small set has both.
    samples, manual = sources[: len(SAMPLE_FILES)], sources[len(SAMPLE_FILES) :]
    mixed = [s for pair in zip(samples, manual, strict=False) for s in pair]
    mixed += samples[len(manual) :] + manual[len(samples) :]
    pages = []
    for i, source in enumerate(mixed[:n]):
        pdf = folder / f"{i:02d}-{source.stem}.pdf"
        text_pdf(pdf, [document_text(source)], font=("helvetica", "times")[i % 2])
        pages.append((pdf, 0))
    return pages


def scanned(condition: Condition, page: Any, rng: np.random.Generator) -> Any:
    """One page image as the condition scans it: an image (lossless) or JPEG bytes."""
    if condition.kind == "clean":
        return page
    if condition.kind == "degraded":
        return degrade(page, condition.dpi, rng)
    if condition.kind == "quarter":
        return page.rotate(90, expand=True)
    return photo(page, rng)


def make_condition(
    condition: Condition, pages: list[tuple[Path, int]], folder: Path, seed: int
) -> tuple[list[Path], list[str]]:
    """The files to OCR for ``condition`` (one image-only PDF, or JPEG photos) and the
    ground truth of each page, in order."""
    rng = np.random.default_rng(seed)
    truths, images = [], []
    for pdf, index in pages:
        truths.append(page_texts(pdf)[index])
        images.append(scanned(condition, render(pdf, condition.dpi)[index], rng))
    slug = condition.name.split(" (")[0].replace(" ", "-").replace("°", "")
    if condition.kind == "photo":
        files = []
        for i, data in enumerate(images):
            path = folder / f"{slug}-{i:02d}.jpg"
            path.write_bytes(data)
            files.append(path)
        return files, truths
    return [image_pdf(folder / f"{slug}.pdf", images, condition.dpi)], truths


# -- measuring -------------------------------------------------------------------------------


class TreeRss:
    """The peak RSS (MB) of this process's children and theirs (rag's parser worker and
    Tesseract), summed, and Tesseract's own peak, polled every 20 ms while active."""

    def __init__(self) -> None:
        self.peak = 0.0
        self.tesseract = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def sizes() -> tuple[float, float]:
        """All children's RSS summed, and Tesseract's (MB)."""
        import psutil

        total = ocr = 0
        for child in psutil.Process().children(recursive=True):
            try:
                rss = child.memory_info().rss
                name = child.name()
            except psutil.Error:
                continue
            total += rss
            ocr += rss if name == "tesseract" else 0
        return total / (1 << 20), ocr / (1 << 20)

    @classmethod
    def now(cls) -> float:
        return cls.sizes()[0]

    def __enter__(self) -> TreeRss:
        self.peak = self.now()
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(0.02):
            total, ocr = self.sizes()
            self.peak = max(self.peak, total)
            self.tesseract = max(self.tesseract, ocr)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()


def measure(condition: Condition, files: list[Path], truths: list[str], sandbox: Any) -> None:
    """OCR ``files`` in rag's parser worker; fill in the condition's numbers."""
    from rag.ingest.ocr import OcrOptions
    from rag.ingest.sandbox import ParseLimits

    limits = ParseLimits(timeout_s=300, memory_mb=4096)
    pages: dict[int, list[str]] = {}
    confidence: dict[int, float] = {}
    offset = 0
    with TreeRss() as rss:
        for path in files:
            started = time.perf_counter()
            blocks = sandbox.parse(path, limits, OcrOptions(languages="eng"))
            condition.seconds += time.perf_counter() - started
            for b in blocks:
                page = offset + (b.page or 1) - 1
                pages.setdefault(page, []).append(b.text)
                if b.ocr_confidence is not None:
                    confidence[page] = b.ocr_confidence
            offset += max((b.page or 1 for b in blocks), default=1)
    condition.peak_mb = rss.peak
    condition.tesseract_mb = rss.tesseract
    for i, truth in enumerate(truths):
        got = " ".join(pages.get(i, []))
        ref = normalise(truth)
        condition.pages += 1
        condition.chars += len(ref)
        condition.edits += round(cer(ref, got) * len(ref))
        words = len(ref.split())
        condition.words += words
        condition.word_edits += round(wer(ref, got) * words)
        condition.worst = max(condition.worst, cer(ref, got))
        if i in confidence:
            condition.confidences.append(confidence[i])


def print_accuracy(conditions: list[Condition], idle_mb: float) -> None:
    print(
        f"\n{'condition':<22} {'pages':>5} {'CER':>7} {'WER':>7} {'worst':>7} "
        f"{'conf':>5} {'pages/min':>9} {'peak RSS':>9} {'+MB':>6} {'tess.':>6}  goal"
    )
    for c in conditions:
        goal = GOALS.get(c.name)
        verdict = (
            "" if goal is None else f"CER <= {goal:.0%}: {'met' if c.cer <= goal else 'NOT met'}"
        )
        conf = sum(c.confidences) / len(c.confidences) if c.confidences else float("nan")
        rate = 60 * c.pages / c.seconds if c.seconds else 0.0
        print(
            f"{c.name:<22} {c.pages:>5} {c.cer:>7.2%} {c.wer:>7.2%} {c.worst:>7.2%} "
            f"{conf:>5.1f} {rate:>9.1f} {c.peak_mb:>7.0f}MB {c.peak_mb - idle_mb:>6.0f} "
            f"{c.tesseract_mb:>4.0f}MB  {verdict}"
        )
    clean = next((c for c in conditions if c.name == "300 dpi clean"), None)
    if clean and clean.seconds:
        base = clean.pages / clean.seconds
        print("\npages/min relative to 300 dpi clean (same run):")
        for c in conditions:
            if c.seconds:
                print(f"  {c.name:<22} {c.pages / c.seconds / base:>5.2f}x")


# -- other drivers ---------------------------------------------------------------------------


def ocrmypdf_run(pdf: Path, folder: Path) -> tuple[list[str], float, float] | None:
    """Each page's text by ocrmypdf, its seconds, and its largest process's peak RSS (MB)."""
    program = shutil.which("ocrmypdf")
    if program is None:
        return None
    sidecar = folder / f"{pdf.stem}.txt"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [
            program,
            "--force-ocr",
            "--rotate-pages",
            "--deskew",
            "--jobs",
            "1",
            "--output-type",
            "pdf",
            "--optimize",
            "0",
            "--sidecar",
            str(sidecar),
            "-l",
            "eng",
            "--quiet",
            str(pdf),
            str(folder / f"{pdf.stem}-ocrmypdf.pdf"),
        ],
        check=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1", "TMPDIR": str(folder)},
    )
    seconds = time.perf_counter() - started
    peak = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    return sidecar.read_text().split("\f"), seconds, peak


def print_drivers(made: dict[str, tuple[list[Path], list[str]]], ours: list[Condition]) -> None:
    print("\nDrivers, same pages (rag's row: the table above):")
    print(
        f"  {'driver':<34} {'condition':<18} {'CER':>7} {'WER':>7} {'pages/min':>9} {'peak MB':>8}"
    )
    for c in ours:
        if c.name in made:
            rate = 60 * c.pages / c.seconds if c.seconds else 0.0
            print(
                f"  {'rag: pypdfium2 + tesseract (pipe)':<34} {c.name:<18} {c.cer:>7.2%} "
                f"{c.wer:>7.2%} {rate:>9.1f} {c.peak_mb:>8.0f}"
            )
    with tempfile.TemporaryDirectory(prefix="rag-bench-ocrmypdf-") as tmp:
        for name, (files, truths) in made.items():
            result = ocrmypdf_run(files[0], Path(tmp))
            if result is None:
                print("  ocrmypdf: not installed (apt-get install ocrmypdf to compare)")
                break
            texts, seconds, peak = result
            ref = " ".join(normalise(t) for t in truths)
            got = " ".join(texts[: len(truths)])
            print(
                f"  {'ocrmypdf (--rotate-pages --deskew)':<34} {name:<18} {cer(ref, got):>7.2%} "
                f"{wer(ref, got):>7.2%} {60 * len(truths) / seconds:>9.1f} {peak:>8.0f}"
            )
    try:
        import unstructured.partition.image  # noqa: F401
    except ImportError as exc:
        print(
            f"  unstructured (ocr_only / hi_res): cannot run: {exc}. Its OCR path needs "
            "unstructured[image], whose resolve pulls torch 2.14 with CUDA 13, torchvision, "
            "timm and opencv (pip install --dry-run); hi_res also downloads a layout model "
            "from the Hugging Face hub at run time."
        )


# -- retrieval -------------------------------------------------------------------------------


def retrieval(folder: Path, quick: bool) -> None:
    """hit@5 of the manual questions: born-digital twins vs their scans."""
    from rag import Assistant, Settings

    if not MANUAL.is_dir():
        print(f"\nretrieval: skipped, no manual at {MANUAL} (make bench-data)")
        return
    asked = [json.loads(line) for line in QUESTIONS.open()]
    asked = [q for q in asked if (MANUAL / q["page"]).is_file()][: 2 if quick else None]
    digital, scans = folder / "digital", folder / "scans"
    digital.mkdir()
    scans.mkdir()
    rng = np.random.default_rng(7)
    printed = 0
    for q in asked:
        name = Path(q["page"]).stem + ".pdf"
        twin = text_pdf(digital / name, [document_text(MANUAL / q["page"])])
        pages = render(twin, 200)
        printed += len(pages)
        image_pdf(scans / name, [degrade(p, 200, rng) for p in pages], 200)
    assistant = Assistant(Settings(data_dir=folder / "data"))
    hits: dict[str, float] = {}
    for collection, source in (("digital", digital), ("scans", scans)):
        started = time.perf_counter()
        report = assistant.ingest([source], collection)
        seconds = time.perf_counter() - started
        found = 0
        missed = []
        for q in asked:
            passages = assistant.search(q["question"], k=K, collection=collection)
            files = [Path(p.source).stem for p in passages]
            if Path(q["page"]).stem in files:
                found += 1
            else:
                missed.append(q["page"])
        hits[collection] = found / len(asked)
        print(
            f"  {collection:<8} {printed} pages ingested in {seconds:.0f} s "
            f"({60 * printed / seconds:.1f} pages/min, {len(report.failed)} failed): "
            f"hit@5 {hits[collection]:.3f}" + (f"; missed {', '.join(missed)}" if missed else "")
        )
    gap = hits["scans"] - hits["digital"]
    verdict = "met" if abs(gap) <= 0.05 else "NOT met"
    print(
        f"  hit@5 scans - twins: {gap:+.3f} over {len(asked)} questions "
        f"(goal: within 0.05: {verdict}); load average now {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 page per condition, 2 questions")
    parser.add_argument("--pages", type=int, default=12, help="pages per condition (full run)")
    parser.add_argument("--drivers", action="store_true", help="compare ocrmypdf and unstructured")
    parser.add_argument("--no-retrieval", action="store_true", help="accuracy and speed only")
    args = parser.parse_args()
    n = 1 if args.quick else args.pages

    from rag.ingest.ocr import missing_languages
    from rag.ingest.sandbox import ParseLimits, Sandbox

    if missing_languages("eng"):
        sys.exit(
            "bench/ocr.py: Tesseract's English data is missing (apt-get install tesseract-ocr-eng)"
        )
    print(
        subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True
        ).stdout.splitlines()[0],
        f"| {n} page(s) per condition | rag's parser worker, one page at a time",
        f"| {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
    )
    sandbox = Sandbox()
    with tempfile.TemporaryDirectory(prefix="rag-bench-ocr-") as tmp:
        folder = Path(tmp)
        (folder / "digital-pages").mkdir()
        pages = digital_pages(folder / "digital-pages", n)
        # A warm worker: its start (imports) is no page's cost.
        warm = text_pdf(folder / "warm.pdf", ["Warm up."])
        sandbox.parse(warm, ParseLimits())
        idle = TreeRss.now()
        made: dict[str, tuple[list[Path], list[str]]] = {}
        for seed, condition in enumerate(CONDITIONS):
            files, truths = make_condition(condition, pages, folder, seed)
            measure(condition, files, truths, sandbox)
            if condition.name in GOALS:
                made[condition.name] = (files, truths)
        print_accuracy(CONDITIONS, idle)
        print(f"(idle worker {idle:.0f} MB; load average now {os.getloadavg()[0]:.1f})")
        sandbox.close()
        if args.drivers:
            print_drivers(made, CONDITIONS)
        if not args.no_retrieval:
            print("\nRetrieval, born-digital twins vs their scans (200 dpi, degraded):")
            retrieval(folder, args.quick)


if __name__ == "__main__":
    main()
