"""Keep a collection in sync with files: the incremental, crash-safe ingest.

For each file: unchanged size and mtime, or an unchanged content hash, means
nothing to do. Otherwise the file is parsed and chunked, its chunks are
embedded, and the change is committed: the manifest journals the operation, the
chunks are upserted under ids derived from (source, content hash, index), the
chunks of the previous version are deleted, and the manifest row is written,
ending the journal entry. A crash at any point leaves a journal entry; the next
ingest first wipes each such document (chunks and row, never its access list)
and then redoes it from its file. Re-upserting the same ids cannot duplicate.
Files gone from an ingested folder are removed the same journalled way.

Each commit holds ``commit_lock``, which the assistant's searches also take: a
question asked during an ingest sees a document's old version or its new one,
never both.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import InvalidInput, ParseError, StoreError
from rag.index.manifest import DocumentRecord, Manifest
from rag.ingest.chunk import CHUNKER, Chunker
from rag.ingest.discover import (
    LINK_OUTSIDE,
    Found,
    content_hash,
    discover,
    is_utf8,
    leads_outside,
    open_document,
)
from rag.ingest.parse import IMAGE_SUFFIXES, OCR_OFF, SUPPORTED_SUFFIXES
from rag.ingest.pipeline import OcrOptions, ParseLimits, Prepared, prepare
from rag.ingest.sandbox import default_workers, expect_files, set_workers
from rag.ingest.types import VANISHED
from rag.models.base import Embedder
from rag.retrieval.keyword import TermCounts, count_terms
from rag.retrieval.store import Record, VectorStore
from rag.trust.accounts import ALL, View

__all__ = [
    "UNSUPPORTED",
    "Indexer",
    "IngestReport",
    "PageProgress",
    "Progress",
    "Skipped",
    "chunk_id",
]

log = logging.getLogger(__name__)

#: Chunks in the first commit of an ingest (later ones hold ``batch_chunks``): small, so
#: that embedding starts while the next files are parsed.
_FIRST_BATCH = 16
#: Files are parsed ahead of the embedder up to this many bytes of them (and at least two
#: per parser worker): enough to keep the workers busy through a batch's embedding,
#: little enough that memory stays flat.
_AHEAD_BYTES = 8_000_000
_AHEAD_FILES = 256

#: Called after each file with (path, outcome, files done, files total).
Progress = Callable[[str, str, int, int], None]
#: Called as the pages of a PDF or TIFF are parsed, with (path, page, pages or None if
#: not known, whether the page was read by OCR); in the thread that called ``ingest``.
PageProgress = Callable[[str, int, int | None, bool], None]


@dataclass
class IngestReport:
    """What an ingest did, file by file."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[ParseError] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    """Files passed over on purpose: of unsupported types (named files of such types
    fail instead), or links leading out of the folder ingested."""
    access_changed: list[str] = field(default_factory=list)
    """Unchanged files whose access list was changed (no re-embedding)."""
    repaired: list[str] = field(default_factory=list)
    """Documents an interrupted ingest left half-written, wiped before this one redid them."""
    reembedded: int = 0
    """Chunks given new vectors because the collection's came from another embedder."""
    chunks_written: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(
            self.added
            or self.updated
            or self.removed
            or self.access_changed
            or self.repaired
            or self.reembedded
        )

    def summary(self) -> str:
        extra = f", access changed {len(self.access_changed)}" if self.access_changed else ""
        extra += f", repaired {len(self.repaired)}" if self.repaired else ""
        extra += f", {self.reembedded} chunks re-embedded" if self.reembedded else ""
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, "
            f"unchanged {len(self.unchanged)}, removed {len(self.removed)}, "
            f"failed {len(self.failed)}, skipped {len(self.skipped)}{extra}; "
            f"{self.chunks_written} chunks written "
            f"in {self.seconds:.1f} s"
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file an ingest passed over on purpose, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return self.path


#: Why a document someone else added is not changed (nor said whether they exist).
DENIED = "permission denied: only its owner or an admin may change it"

#: The reason for a file of a type rag does not read, found in a folder.
UNSUPPORTED = "not a supported document type"


def chunk_id(source: str, digest: str, index: int) -> str:
    """Stable id of a chunk: the same file version always yields the same ids."""
    return f"{hashlib.sha1(source.encode()).hexdigest()[:16]}-{digest[:16]}-{index:05d}"


def _each_path_once(found: Iterable[Found]) -> list[Found]:
    """Each path once, where it was first found: ``rag ingest docs docs/a.txt`` names
    ``a.txt`` twice, and two copies in one batch would be stored under the same chunk
    ids. A file named directly is taken over the same file passed over in a folder
    (a link leading out of it): naming it is the user's say-so, as with the link alone."""
    first: dict[Path, Found] = {}
    for item in found:
        kept = first.setdefault(item.path, item)
        if kept.skip and not (item.skip or item.error):
            first[item.path] = item
    return list(first.values())


class Indexer:
    """Ingests files into one collection."""

    def __init__(
        self,
        store: VectorStore | Callable[[], VectorStore],
        embedder: Embedder,
        manifest: Manifest,
        chunker: Chunker,
        collection: str,
        max_bytes: int,
        batch_chunks: int = 64,
        limits: ParseLimits | None = None,
        *,
        access: Sequence[str] | None = None,
        default_access: Sequence[str] = ("everyone",),
        writer: View = ALL,
        commit_lock: AbstractContextManager[object] | None = None,
        open_space: Callable[[str], VectorStore] | None = None,
        follow_symlinks: bool = False,
        ocr: OcrOptions | None = None,
        workers: int | None = None,
        keyword: TermCounts | None = None,
    ) -> None:
        """``store``: the store, or a function that opens it (called once, when a chunk is
        to be read or written: an ingest that changes nothing never opens it).
        ``access``: the access list for every file of this ingest (``--allow``); None
        keeps each known document's list and gives new ones ``default_access``.
        ``writer``: who ingests; a document they may not change (see
        :meth:`View.may_change`) is refused, not changed, and new ones become theirs.
        ``open_space``: opens the collection's store in another vector space (for
        re-embedding with an embedder whose vectors have another length).
        ``follow_symlinks``: follow links in folders that lead out of them (see
        :func:`rag.ingest.discover.discover`). ``ocr``: how scans and images are read
        (with OCR off, images in folders are skipped). ``workers``: how many files are
        parsed at once, each in a sandboxed worker (default: one per core, at most 8).
        ``keyword``: where each committed chunk's keyword terms go (the collection
        updates its keyword index from them), counted as files are parsed."""
        self._store = store
        self._opening = threading.Lock()  # held while the store opens
        self._starting = threading.Lock()  # held while the loading threads start
        self._ahead: list[threading.Thread] = []
        self._store_ahead = self._embedder_ahead = False
        self.embedder = embedder
        self.manifest = manifest
        self.chunker = chunker
        self.collection = collection
        self.max_bytes = max_bytes
        self.batch_chunks = batch_chunks
        self.limits = limits or ParseLimits()
        self.access = tuple(sorted(set(access))) if access is not None else None
        self.default_access = tuple(sorted(set(default_access)))
        self.writer = writer
        self.commit_lock = commit_lock or threading.RLock()
        self.open_space = open_space
        self.follow_symlinks = follow_symlinks
        self.ocr = ocr or OcrOptions()
        self.workers = workers or default_workers()
        self.keyword = keyword

    @property
    def store(self) -> VectorStore:
        with self._opening:
            if callable(self._store):
                self._store = self._store()
            return self._store

    def _load_ahead(self, store: bool = False) -> None:
        """Once each, in a thread of its own: load the embedder (if not yet) when the
        first file is to be parsed, and open the store (``store``) when the first batch
        is to be embedded. Their imports and loading (~0.3 s and ~0.1-0.5 s) then overlap
        the parsing and the embedding instead of delaying the first commit. The store
        waits for the first embedding: opening it holds the GIL for ~0.1 s, which stalled
        the first files' parsing and so the embedder's start (30 small files: first
        embedding at 70 ms instead of 230). :meth:`ingest` waits for both before
        returning."""
        # Not ``_opening``: the store's thread holds that while it opens, and every other
        # parse thread would wait on it here.
        with self._starting:
            steps = []
            if store and not self._store_ahead:
                self._store_ahead = True
                steps.append(("rag-open-store", lambda: self.store))
            if not self._embedder_ahead:
                self._embedder_ahead = True
                load = getattr(self.embedder, "load", None)
                if load is not None:
                    steps.append(("rag-load-embedder", load))
            for name, step in steps:
                thread = threading.Thread(target=_try, args=(step,), name=name, daemon=True)
                thread.start()
                self._ahead.append(thread)

    def ingest(
        self,
        paths: Iterable[str | Path],
        progress: Progress | None = None,
        page_progress: PageProgress | None = None,
    ) -> IngestReport:
        """Bring the collection in line with ``paths`` (files and folders).

        Files are parsed in parallel, one per sandboxed worker (``workers``), a few
        ahead; the chunks of several files are embedded together and stored in one
        journalled commit (see :meth:`_write_batch`), in the crash-safe order, while the
        next batch is embedded.

        ``progress`` is called after each file, ``page_progress`` after each page of a
        PDF or TIFF being parsed (a 300-page scan takes minutes), both in this thread.
        """
        started = time.perf_counter()
        report = IngestReport()
        report.repaired = self.recover()
        report.reembedded = self.match_embedder()
        found = _each_path_once(discover(paths, self.follow_symlinks))
        # A file passed over is not there for this ingest: an earlier version goes.
        seen = {str(f.path) for f in found if not f.skip}
        roots = {f.root for f in found if f.root is not None}
        # Named folders that hold no files still count: their vanished files go too.
        roots |= {Path(p).resolve() for p in paths if Path(p).is_dir()}
        # A folder whose name is not UTF-8 was reported by discover(); it cannot be stored.
        roots = {r for r in roots if is_utf8(str(r))}
        pending: list[tuple[Found, _Ready]] = []
        # The batch being embedded in the embedding thread while this one writes the one
        # before: a write (Chroma's upsert holds the GIL) no longer leaves the embedder idle.
        embedding: tuple[list[tuple[Found, _Ready]], Future[Any]] | None = None
        done = 0

        def finish(item: Found, outcome: str) -> None:
            nonlocal done
            done += 1
            if progress:
                progress(str(item.path), outcome, done, len(found))

        def write(batch: list[tuple[Found, _Ready]], vectors: Future[Any]) -> None:
            report.chunks_written += self._write_batch(
                [(str(item.path), ready.doc) for item, ready in batch],
                vectors.result(),
                [ready.terms for _, ready in batch],
                earlier={str(item.path) for item, ready in batch if ready.known},
            )
            for item, ready in batch:
                (report.updated if ready.known else report.added).append(str(item.path))
                finish(item, "updated" if ready.known else "added")

        def flush(embedder: ThreadPoolExecutor) -> None:
            """Start embedding the pending files, then write the batch embedded before."""
            nonlocal embedding
            begun = None
            if pending:
                texts = [c.text for _, ready in pending for c in ready.doc.chunks]
                self._load_ahead(store=True)
                begun = (list(pending), embedder.submit(self.embedder.embed, texts))
                pending.clear()
            if embedding is not None:
                write(*embedding)
            embedding = begun

        pages = _Pages(page_progress)
        set_workers(self.workers)
        with (
            ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="rag-parse") as pool,
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-embed-batch") as embedder,
        ):
            batches = 0
            for item, result in self._prepared(found, report, pool, pages):
                if isinstance(result, str):
                    finish(item, result)
                    continue
                pending.append((item, result))
                # The first batch is small, so the embedder starts while files are parsed.
                wanted = self.batch_chunks if batches else _FIRST_BATCH
                if sum(len(ready.doc.chunks) for _, ready in pending) >= wanted:
                    flush(embedder)
                    batches += 1
            flush(embedder)
            flush(embedder)
        for thread in self._ahead:
            thread.join()
        for root in sorted(roots):
            self._remove_vanished(root, seen, report)
        report.seconds = time.perf_counter() - started
        return report

    def _prepared(
        self, found: list[Found], report: IngestReport, pool: ThreadPoolExecutor, pages: _Pages
    ) -> Iterator[tuple[Found, str | _Ready]]:
        """Each file's outcome ("unchanged", "failed"...) or its prepared chunks, in order.
        Files are parsed ahead while the caller embeds and commits, up to
        :data:`_AHEAD_BYTES` of them (at least two per parser worker).
        The files are announced to the parser pool, which starts another worker only
        when those left are expected to repay its start.
        Each file notes what happened to it in a report of its own, merged into
        ``report`` here, in file order, whatever order the workers finish in."""
        least = 2 * self.workers
        futures: deque[tuple[Found, IngestReport, Future[str | _Ready]]]
        futures = deque()
        sizes: deque[int] = deque()

        def done() -> tuple[Found, str | _Ready]:
            head, own, future = futures.popleft()
            sizes.popleft()
            result = pages.wait(future)
            report.failed += own.failed
            report.skipped += own.skipped
            report.unchanged += own.unchanged
            report.access_changed += own.access_changed
            return head, result

        # Every file's record in one query per 500, not one per file in the parse threads
        # (the ingest holds the writer's lock: no other process changes them meanwhile).
        recorded = self.manifest.get_many(
            self.collection, [str(f.path) for f in found if not (f.error or f.skip)]
        )

        def prepare(item: Found, own: IngestReport) -> str | _Ready:
            expect_files(-1)  # started on: no longer to come
            return self._prepare(item, recorded.get(str(item.path)), own, pages)

        expect_files(len(found))  # so the parser pool starts as many workers as will pay
        submitted = 0
        try:
            for item in found:
                own = IngestReport()
                if self._looks_unchanged(item, recorded.get(str(item.path))):
                    # Nothing to parse: checked here, as a worker would, without the
                    # two thread switches (about half a millisecond a file).
                    future: Future[str | _Ready] = Future()
                    future.set_result(prepare(item, own))
                else:
                    future = pool.submit(prepare, item, own)
                futures.append((item, own, future))
                sizes.append(_size(item.path))
                submitted += 1
                while len(futures) > least and (
                    len(futures) > _AHEAD_FILES or sum(sizes) > _AHEAD_BYTES
                ):
                    yield done()
            while futures:
                yield done()
        finally:
            expect_files(submitted - len(found))  # those never submitted (an error)

    def remove(self, source: str) -> int:
        """Delete a document's chunks, manifest row and access list; the chunks removed."""
        with self.commit_lock:
            self.manifest.begin(self.collection, source, "remove")
            removed = self.store.delete_source(source)
            self.manifest.delete(self.collection, source)
        return removed

    def recover(self) -> list[str]:
        """Wipe every document an interrupted operation left half-done; their sources.

        The chunks and row go (an interrupted removal also takes the access list);
        the file, if it still exists, is ingested afresh with the access it had.
        """
        wiped = []
        for source, operation in self.manifest.interrupted(self.collection):
            # A file that is gone will not be redone: its access list goes with it, or a
            # new file at that path would inherit it.
            keep = operation != "remove" and Path(source).is_file()
            with self.commit_lock:
                self.store.delete_source(source)
                self.manifest.forget(self.collection, source, keep_access=keep)
            wiped.append(source)
        return wiped

    def match_embedder(self) -> int:
        """Re-embed every stored chunk if the collection's vectors came from another
        embedder than this one (or an unrecorded one); the chunks re-embedded.

        Texts come from the store, so nothing is parsed again. Vectors of the same length
        are replaced in place, and the new embedder is recorded once all are done. Vectors
        of another length cannot share a vector index: the chunks are copied, re-embedded,
        into a new vector space, which becomes the collection's in one manifest
        transaction before the old one is dropped. Either way an interrupted run is
        redone by the next ingest, and searches meanwhile use the old vectors."""
        recorded = self.manifest.embedder(self.collection)
        if recorded == self.embedder.name:
            return 0
        # A new collection has no documents: nothing to re-embed, and no store to open
        # (importing chromadb and opening it is most of a small ingest's fixed cost).
        if recorded is None and (
            not self.manifest.documents(self.collection) or not self.store.count()
        ):
            self.manifest.set_embedder(self.collection, self.embedder.name)
            return 0
        log.warning(
            "collection %r was embedded with %s; re-embedding it with %s",
            self.collection,
            recorded or "an unrecorded embedder",
            self.embedder.name,
        )
        size = len(self.embedder.embed_query("the length of this embedder's vectors"))
        if self.store.dimension() in (None, size):
            done = self._reembed(self.store)
            self.manifest.set_embedder(self.collection, self.embedder.name)
            return done
        if self.open_space is None:
            raise StoreError(
                f"collection {self.collection!r} holds vectors of {self.store.dimension()} "
                f"numbers; {self.embedder.name} makes {size}: use another collection"
            )
        space = self.manifest.pending_space(self.collection) or uuid.uuid4().hex[:8]
        self.manifest.begin_space(self.collection, space)
        target = self.open_space(space)
        done = self._reembed(target)
        old = self.store
        with self.commit_lock:
            self.manifest.switch_space(self.collection, space, self.embedder.name)
            self._store = target
        old.drop()
        return done

    def _reembed(self, target: VectorStore) -> int:
        """Every current chunk's text and metadata, with a new vector, into ``target``."""
        done = 0
        for doc in self.manifest.documents(self.collection):
            ids = [chunk_id(doc.source, doc.content_hash, i) for i in range(doc.chunks)]
            with self.commit_lock:
                records = self.store.get(ids)
                if records:
                    target.upsert(records, self.embedder.embed([r.text for r in records]))
            done += len(records)
        return done

    def check(self) -> list[str]:
        """Every way the store and the manifest disagree (empty when consistent): missing,
        extra or duplicated chunks, chunks of other versions, wrong access lists, and
        operations left unfinished."""
        problems = [
            f"unfinished {op} of {src}" for src, op in self.manifest.interrupted(self.collection)
        ]
        recorded = self.manifest.embedder(self.collection)
        if recorded not in (None, self.embedder.name):
            problems.append(
                f"vectors come from {recorded}, queries from {self.embedder.name}: "
                "the next ingest re-embeds them"
            )
        expected: dict[str, tuple[str, tuple[str, ...]]] = {}
        for doc in self.manifest.documents(self.collection):
            access = self.manifest.access(self.collection, doc.source) or ()
            if not access:
                problems.append(f"{doc.source}: no access list")
            for i in range(doc.chunks):
                expected[chunk_id(doc.source, doc.content_hash, i)] = (doc.source, access)
        seen: set[str] = set()
        for record in self.store.iter_records():
            if record.id in seen:
                problems.append(f"duplicate chunk {record.id}")
            seen.add(record.id)
            want = expected.get(record.id)
            source = record.metadata.get("source")
            if want is None:
                problems.append(f"orphan chunk {record.id} of {source}")
            elif source != want[0] or tuple(record.metadata.get("access") or ()) != want[1]:
                problems.append(f"chunk {record.id}: metadata disagrees with the manifest")
        problems += [f"missing chunk {i} of {expected[i][0]}" for i in expected.keys() - seen]
        return problems

    def set_access(self, source: str, principals: Sequence[str]) -> None:
        """Give an ingested document a new access list (no re-embedding)."""
        principals = tuple(sorted(set(principals)))
        if not principals:
            raise InvalidInput("an access list needs at least one entry")
        with self.commit_lock:
            self.manifest.begin(self.collection, source, "access")
            self.manifest.set_access(self.collection, source, principals)
            self.store.set_access(source, principals)
            self.manifest.done(self.collection, source)

    def _access_for(self, source: str) -> tuple[str, ...]:
        if self.access is not None:
            return self.access
        return self.manifest.access(self.collection, source) or self.default_access

    # -- one file ---------------------------------------------------------------------

    def _prepare(
        self,
        item: Found,
        known: DocumentRecord | None,
        report: IngestReport,
        pages: _Pages | None = None,
    ) -> str | _Ready:
        """Parse and chunk one file (in the worker thread), recorded as ``known`` (None: a
        new one); an outcome if nothing to write."""
        source = str(item.path)
        if item.error:
            report.failed.append(ParseError(source, item.error))
            return "failed"
        skip = item.skip
        if skip is None and item.root is not None and not self.follow_symlinks:
            # Again, just before parsing: the file may have been swapped for a link since.
            outside = leads_outside(item.path, item.root.resolve())
            skip = outside and LINK_OUTSIDE.format(target=outside)
        if skip:
            report.skipped.append(Skipped(source, skip))
            return "skipped"
        suffix = item.path.suffix.lower()
        if suffix not in SUPPORTED_SUFFIXES or (suffix in IMAGE_SUFFIXES and not self.ocr.enabled):
            why = UNSUPPORTED if suffix not in IMAGE_SUFFIXES else OCR_OFF
            if item.root is not None:  # a folder's other files (data, images...) are not errors
                report.skipped.append(Skipped(source, why))
                return "skipped"
            unsupported = f"unsupported file type {item.path.suffix or '(none)'!r}"
            report.failed.append(ParseError(source, OCR_OFF if why == OCR_OFF else unsupported))
            return "failed"
        current = self.manifest.access(self.collection, source)
        if current is not None and not self.writer.may_read(current):
            report.failed.append(ParseError(source, DENIED))
            return "failed"
        may_change = current is None or self.writer.may_change(
            self.manifest.owner(self.collection, source)
        )
        try:
            digest = self._changed_hash(item.path, known)
            if digest is None:
                if self.access is not None and self.access != current:
                    if not may_change:
                        report.failed.append(ParseError(source, DENIED))
                        return "failed"
                    self.set_access(source, self.access)
                    report.access_changed.append(source)
                    return "access changed"
                report.unchanged.append(source)
                return "unchanged"
            if not may_change:
                report.failed.append(ParseError(source, DENIED))
                return "failed"
            self._load_ahead()
            # What is parsed is the file opened here, checked once open: a file swapped
            # for a link out of the folder since the check above is not read instead.
            inside = item.root.resolve() if item.root and not self.follow_symlinks else None
            fd, outside = open_document(item.path, inside)
            try:
                if outside:
                    report.skipped.append(Skipped(source, LINK_OUTSIDE.format(target=outside)))
                    return "skipped"
                prepared = prepare(
                    item.path,
                    self.chunker,
                    self.max_bytes,
                    known_hash=digest,
                    limits=self.limits,
                    ocr=self.ocr,
                    progress=pages.reporter(source) if pages else None,
                    opened=fd,
                )
            finally:
                os.close(fd)
        except ParseError as exc:
            report.failed.append(exc)
            return "failed"
        except FileNotFoundError:  # deleted between discovery and now
            report.failed.append(ParseError(source, VANISHED))
            return "failed"
        except Exception as exc:  # a parser bug must not stop the batch
            report.failed.append(ParseError(source, f"{type(exc).__name__}: {exc}"))
            return "failed"
        # Counted here, in a parsing thread, while the embedder works: not at the commit.
        terms = [count_terms(c.text, source) for c in prepared.chunks] if self.keyword else None
        return _Ready(prepared, known is not None, terms)

    def _looks_unchanged(self, item: Found, known: DocumentRecord | None) -> bool:
        """Whether ``item`` is a file recorded (``known``) with the same size and time,
        read the way it would be read now: :meth:`_prepare` will find nothing to parse."""
        if known is None or item.error or item.skip:
            return False
        try:
            stat = item.path.stat()
        except (OSError, ValueError):
            return False
        return not self._stale(item.path, known.chunker) and _same_stat(known, stat)

    def _changed_hash(self, path: Path, known: DocumentRecord | None) -> str | None:
        """The new content hash, or None when the file is unchanged since its last ingest."""
        stat = path.stat()
        if known and self._stale(path, known.chunker):  # read or chunked another way: again
            return content_hash(path)
        if known and _same_stat(known, stat):
            return None
        digest = content_hash(path)
        if known and known.content_hash == digest:
            self.manifest.touch(self.collection, str(path), stat.st_mtime_ns)
            return None
        return digest

    def _recipe(self, path: Path, ocred: bool) -> str:
        """How a document was read, recorded with it: the chunking recipe, then for a PDF
        or an image read with OCR on ``+ocr``, and ``:LANGS`` when some of its text came
        from OCR (``sections-rows-v2+ocr:eng+deu``)."""
        if not self.ocr.enabled or not _may_hold_scans(path):
            return CHUNKER
        return f"{CHUNKER}+ocr:{self.ocr.languages}" if ocred else f"{CHUNKER}+ocr"

    def _stale(self, path: Path, recorded: str) -> bool:
        """Whether a document recorded with ``recorded`` must be read again though its
        content is the same: another chunking recipe; a PDF read before OCR was on (a
        scanned page in it was lost); scans read in other languages, or with OCR now off."""
        chunker, _, ocr = recorded.partition("+")
        if chunker != CHUNKER:
            return True
        if not _may_hold_scans(path):
            return False
        if not self.ocr.enabled:
            return ocr.startswith("ocr:")
        return ocr not in ("ocr", f"ocr:{self.ocr.languages}")

    def _write_batch(
        self,
        docs: Sequence[tuple[str, Prepared]],
        vectors: Any,
        terms: Sequence[Sequence[Mapping[str, int]] | None] = (),
        earlier: Collection[str] | None = None,
    ) -> int:
        """Store several files' chunks (``vectors``: all of theirs, in order) in one
        commit; how many chunks. One manifest transaction journals every file (and sets
        its access list and owner), one upsert stores all chunks, each file's previous
        version is deleted, and one manifest transaction records every new version,
        ending all the journal entries at once. A crash anywhere between leaves each file
        journalled: the next ingest wipes and redoes them all, as for a single file. Small
        files gain most: their commits cost more than their parse and embedding.

        ``earlier``: the sources that had a version before (None: any may have). Only
        theirs are looked for to delete: a file the manifest never recorded has no chunks
        in the store, since a write that crashed was journalled and wiped by
        :meth:`recover` before this ingest began."""
        batch = []
        for source, doc in docs:
            access = list(self._access_for(source))
            batch.append((source, doc, access, self._records(source, doc, access)))
        with self.commit_lock:
            self.manifest.begin_writes(
                self.collection,
                [(source, access) for source, _, access, _ in batch],
                self.writer.user,
            )
            self.store.upsert([r for *_, records in batch for r in records], vectors)
            self.store.delete_other_versions(
                {
                    source: doc.content_hash
                    for source, doc, *_ in batch
                    if earlier is None or source in earlier
                }
            )
            now = datetime.now(UTC).isoformat(timespec="seconds")
            self.manifest.put_all(
                [
                    DocumentRecord(
                        collection=self.collection,
                        source=source,
                        content_hash=doc.content_hash,
                        size=doc.size,
                        mtime_ns=doc.mtime_ns,
                        chunks=len(records),
                        pages=doc.pages,
                        file_type=doc.file_type,
                        ingested_at=now,
                        chunker=self._recipe(doc.path, any(c.ocr for c in doc.chunks)),
                    )
                    for source, doc, _, records in batch
                ]
            )
        if self.keyword is not None:  # what was committed, in commit order
            for (source, _, access, records), counted in zip(
                batch, terms or [None] * len(batch), strict=True
            ):
                texts: Sequence[str | Mapping[str, int]] = counted or [r.text for r in records]
                for record, text in zip(records, texts, strict=True):
                    self.keyword.add(record.id, source, text, access)
        return sum(len(records) for *_, records in batch)

    def _records(self, source: str, doc: Prepared, access: list[str]) -> list[Record]:
        return [
            Record(
                chunk_id(source, doc.content_hash, c.index),
                c.text,
                {
                    "source": source,
                    "file_name": doc.path.name,
                    "file_type": doc.file_type,
                    "content_hash": doc.content_hash,
                    "chunk_index": c.index,
                    "page": c.page,
                    "kind": c.kind,
                    "heading": c.heading,
                    "access": access,
                    # Text read from a scan: a citation says so, with the page's confidence.
                    "ocr": c.ocr,
                    "ocr_confidence": c.ocr_confidence,
                },
            )
            for c in doc.chunks
        ]

    def _remove_vanished(self, root: Path, seen: set[str], report: IngestReport) -> None:
        prefix = str(root).rstrip("/") + "/"
        for doc in self.manifest.documents(self.collection, prefix, self.writer.principals):
            owner = self.manifest.owner(self.collection, doc.source)
            if doc.source not in seen and self.writer.may_change(owner):
                self.remove(doc.source)
                report.removed.append(doc.source)
        # Access lists kept for a redo of a file that has since gone.
        for source in self.manifest.access_without_document(self.collection, prefix):
            if source not in seen:
                self.manifest.forget(self.collection, source, keep_access=False)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A file parsed and chunked, to be embedded and committed: whether an earlier
    version is indexed, and each chunk's keyword terms (when the ingest keeps them)."""

    doc: Prepared
    known: bool
    terms: list[dict[str, int]] | None


def _try(step: Callable[[], object]) -> None:
    """Run ``step``, ahead of need: whatever fails says why again when it is needed."""
    with contextlib.suppress(Exception):
        step()


def _may_hold_scans(path: Path) -> bool:
    """A PDF or an image: what OCR reads."""
    suffix = path.suffix.lower()
    return suffix == ".pdf" or suffix in IMAGE_SUFFIXES


class _Pages:
    """Carries page progress from the parsing thread to the thread that called ``ingest``
    (a UI may only draw from its own thread), which delivers it while it waits for a
    file's parse."""

    def __init__(self, callback: PageProgress | None) -> None:
        self.callback = callback
        self._queue: queue.SimpleQueue[tuple[str, int, int | None, bool]] = queue.SimpleQueue()

    def reporter(self, source: str) -> Callable[[int, int | None, bool], None] | None:
        """The parse's page callback for ``source`` (None when nobody listens)."""
        if self.callback is None:
            return None
        return lambda page, pages, ocr: self._queue.put((source, page, pages, ocr))

    def wait(self, future: Future[Any]) -> Any:
        """``future``'s result, delivering pages as they come meanwhile."""
        if self.callback is None:
            return future.result()
        while not future.done():
            try:
                event = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            self._deliver(event)
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self._deliver(event)
        return future.result()

    def _deliver(self, event: tuple[str, int, int | None, bool]) -> None:
        assert self.callback is not None
        try:
            self.callback(*event)
        except Exception:
            log.exception("page progress callback failed")


def _same_stat(known: DocumentRecord, stat: os.stat_result) -> bool:
    """Whether a file has the size and modification time it was recorded with."""
    return known.size == stat.st_size and known.mtime_ns == stat.st_mtime_ns


def _size(path: Path) -> int:
    """A file's size for the parse-ahead budget (0 when it cannot be read: it fails fast)."""
    try:
        return path.stat().st_size
    except (OSError, ValueError):  # ValueError: a NUL in the name
        return 0
