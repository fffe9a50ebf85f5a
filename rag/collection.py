"""One collection: its chunks and vectors, its keyword index and its manifest rows.

A :class:`Collection` owns everything that must stay in step: every write (ingest,
removal, an access change, re-embedding) goes through it under the data directory's
write lock and leaves the keyword index matching the store; every search repairs what
an interrupted ingest left, holds the commit lock, and returns passages of each
document's current version only. It enforces no one's rights: callers pass the
principals that may read (``readers``) and the :class:`~rag.trust.accounts.View` of
who writes, and :class:`rag.Assistant` decides those.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rag.config import RetrievalMode, Settings
from rag.errors import AccessDenied, InvalidInput, printable_path
from rag.index.indexer import Indexer, IngestReport, PageProgress, Progress, chunk_id
from rag.index.manifest import DocumentRecord, Manifest
from rag.index.uploads import Upload, discard_upload, save_upload
from rag.ingest.pipeline import OcrOptions, ParseLimits
from rag.retrieval.hybrid import Passage, Retriever
from rag.retrieval.keyword import KeywordIndex, TermCounts, Vocabulary
from rag.retrieval.store import Record
from rag.retrieval.stores import VectorStore, open_store
from rag.text import collection_name
from rag.trust.accounts import ALL, View, parse_principals
from rag.trust.locking import WriteLock

if TYPE_CHECKING:
    from collections.abc import Collection as Principals

    from rag.models.base import Embedder

__all__ = ["Collection", "absolute"]

log = logging.getLogger(__name__)


class Collection:
    """One collection of an index. Safe to share between threads."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        embedder: Embedder,
        manifest: Manifest,
        write_lock: WriteLock,
    ) -> None:
        self.name = collection_name(name)
        self.settings = settings
        self.embedder = embedder
        self.manifest = manifest
        self.write_lock = write_lock
        self._lock = threading.RLock()
        # Held by each document commit and each search: a search never sees half a commit.
        self._commit = threading.RLock()
        self._store: VectorStore | None = None
        self._space: str | None = None
        self._seen = -1
        """The manifest generation the open store has seen (its own writes included)."""
        self._keyword: KeywordIndex | None = None

    # -- the parts --------------------------------------------------------------------

    @property
    def store(self) -> VectorStore:
        """The vector store as it is now. Another process may have changed the collection
        since this one opened it (an ingest: the manifest's generation moved while this
        process wrote nothing), or moved it to another vector space (re-embedding with an
        embedder of another size): then the store is opened anew from disk, since an
        embedded Chroma does not see other processes' writes."""
        space = self.manifest.space(self.name)
        generation = self.manifest.generation(self.name)
        with self._lock:
            moved = generation != self._seen and not self.write_lock.held()
            if self._store is None or space != self._space or moved:
                self._store = self._open(space, fresh=self._seen >= 0)
                self._space, self._seen = space, generation
            return self._store

    @property
    def opened(self) -> bool:
        """Whether the vector store has been opened (an ingest with nothing to do never
        opens it, nor imports chromadb)."""
        return self._store is not None

    def _open(self, space: str, fresh: bool = False) -> VectorStore:
        stale = fresh and not self.settings.chroma_url  # a Chroma server is never stale
        return open_store(self.settings, self.name, space, fresh=stale)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the write lock for a change. First, if another process wrote since this
        one opened the store, open it anew: a stale in-memory index must not be written
        back over the newer one. After, note the generation this process's own writes
        made: they are in its open store, nothing to reopen for them."""
        with self.write_lock:
            with self._lock:
                if self._store is not None and self.manifest.generation(self.name) != self._seen:
                    self._store = None  # the next use opens it anew, fresh
            yield
            with self._lock:
                self._seen = self.manifest.generation(self.name)

    def keyword_index(self) -> KeywordIndex:
        """The BM25 index, loaded or rebuilt when the collection changed since it was built."""
        with self._lock:
            generation = self.manifest.generation(self.name)
            if self._keyword is not None and self._keyword.generation == generation:
                return self._keyword
            loaded = KeywordIndex.load(self._keyword_dir)
            if loaded is None or loaded.generation != generation:
                return self._rebuild_keyword()
            self._keyword = loaded
            return loaded

    @property
    def _keyword_dir(self) -> Path:
        return self.settings.keyword_dir / self.name

    def _keyword_stale(self) -> bool:
        saved = KeywordIndex.saved_generation(self._keyword_dir)
        return saved is None or saved != self.manifest.generation(self.name)

    def _rebuild_keyword(self) -> KeywordIndex:
        with self._lock:
            generation = self.manifest.generation(self.name)
            records = map(_keyword_entry, self.store.iter_records())
            return self._keep_keyword(KeywordIndex.build(records, generation))

    def _keep_keyword(self, index: KeywordIndex) -> KeywordIndex:
        """Save ``index`` as the collection's keyword index and use it from now on."""
        index.save(self._keyword_dir)
        self._keyword = index
        return index

    def _update_keyword(
        self, start: int, report: IngestReport, written: TermCounts
    ) -> KeywordIndex:
        """The keyword index after an ingest that began at manifest generation ``start``:
        the index of that generation, if there is one (none, for a collection that was
        empty), with the chunks of the documents the ingest added, changed, removed or
        gave another access list taken out and their current chunks put in: those it
        wrote from ``written`` (counted as it went), the others read from the store.
        Else (or should the result not hold every chunk the manifest lists) a rebuild."""
        with self._lock:
            before = self._keyword
            if before is None or before.generation != start:
                before = KeywordIndex.load(self._keyword_dir)
            if before is None and start == 0:  # no document had ever been committed
                before = KeywordIndex.build([], start)
            if before is None or before.generation != start:
                return self._rebuild_keyword()
            touched = {
                *report.added,
                *report.updated,
                *report.removed,
                *report.repaired,
                *report.access_changed,
            }
            generation = self.manifest.generation(self.name)
            docs = self.manifest.documents(self.name)
            counted = set(written.ids)
            ids = [
                chunk_id(d.source, d.content_hash, i)
                for d in docs
                if d.source in touched
                for i in range(d.chunks)
            ]
            unread = [i for i in ids if i not in counted]
            for start_at in range(0, len(unread), 1000):
                for record in self.store.get(unread[start_at : start_at + 1000]):
                    written.add(*_keyword_entry(record))
            keep = {d.source for d in docs} - touched
            index = before.updated(keep, written, generation)
            listed = {chunk_id(d.source, d.content_hash, i) for d in docs for i in range(d.chunks)}
            if len(index.ids) != len(listed) or not listed.issuperset(index.ids):
                log.warning("the keyword index's update disagrees with the manifest; rebuilt")
                return self._rebuild_keyword()
            return self._keep_keyword(index)

    def _indexer(
        self,
        writer: View = ALL,
        access: Sequence[str] | None = None,
        follow_symlinks: bool = False,
        keyword: TermCounts | None = None,
    ) -> Indexer:
        from rag.ingest.chunk import Chunker

        s = self.settings
        return Indexer(
            lambda: self.store,
            self.embedder,
            self.manifest,
            Chunker(
                self.embedder.tokenize,
                s.chunk_size,
                s.chunk_overlap,
                getattr(self.embedder, "token_starts", None),
            ),
            self.name,
            int(s.max_file_mb * 1e6),
            limits=ParseLimits(s.parse_timeout_s, s.parse_memory_mb),
            access=parse_principals(access) if access else None,
            default_access=parse_principals(s.default_access),
            writer=writer,
            commit_lock=self._commit,
            open_space=self._open,
            follow_symlinks=follow_symlinks,
            ocr=OcrOptions(s.ocr, s.ocr_languages, s.ocr_min_text_chars, s.ocr_dpi),
            workers=s.parse_workers,
            keyword=keyword,
        )

    # -- reading ----------------------------------------------------------------------

    def documents(
        self, prefix: str | None = None, readers: Principals[str] | None = None
    ) -> list[DocumentRecord]:
        """The documents ``readers`` may read (None: all), optionally under ``prefix``."""
        return self.manifest.documents(self.name, absolute(prefix), readers)

    def document(self, source: str | Path) -> DocumentRecord | None:
        return self.manifest.get(self.name, absolute(str(source)) or "")

    def access(self, source: str | Path) -> tuple[str, ...]:
        """Who may read an ingested document."""
        return self.manifest.access(self.name, absolute(str(source)) or "") or ()

    def owner(self, source: str | Path) -> str | None:
        """The account that added a document (None: added without accounts)."""
        return self.manifest.owner(self.name, absolute(str(source)) or "")

    def scope(
        self,
        prefix: str | None,
        sources: Sequence[str] | None,
        readers: Principals[str] | None,
    ) -> list[str] | None:
        """The sources a search may look at: None for the whole collection, else those
        under ``prefix`` and among ``sources`` that ``readers`` may read."""
        if not prefix and sources is None:
            return None
        scope = [d.source for d in self.documents(prefix, readers)]
        if sources is not None:
            wanted = set(sources)
            scope = [s for s in scope if s in wanted]
        return scope

    def search(
        self,
        query: str,
        k: int,
        mode: RetrievalMode,
        scope: Sequence[str] | None = None,
        readers: Principals[str] | None = None,
    ) -> list[Passage]:
        """The ``k`` best passages for ``query`` within ``scope`` that ``readers`` may read
        (both filters act inside the search), of each document's current version only."""
        self.repair()
        retriever = Retriever(
            self.store, self.embedder, self.keyword_index, rrf_k=self.settings.rrf_k
        )
        self.embedder.embed_query(query)  # remembered: the search below does not redo it
        with self._commit:
            passages = retriever.search(query, k, mode, scope, readers)
        return self._current(passages)

    def vocabulary(self, readers: Principals[str] | None) -> Vocabulary:
        """What the collection says, as far as ``readers`` may read it: the relevance
        gate's and the extractive answer's view of words, all from one version of the
        keyword index (it is looked up once, not at each use)."""
        index = self.keyword_index()
        return Vocabulary(
            coverage=lambda question, texts: index.coverage(question, texts, readers),
            unseen=lambda terms: index.unseen(terms, readers),
            weights=lambda terms, written: index.idf(
                index.joined(terms, readers, written), readers
            ),
            mentions=lambda source, word: index.mentions(source, word, readers),
            spread=lambda word: index.spread(word, readers),
        )

    def _current(self, passages: list[Passage]) -> list[Passage]:
        """Passages of each document's current version only. Another process's ingest
        can be half-way through replacing a document; this process never sees that."""
        hashes: dict[str, str | None] = {}
        for p in passages:
            if p.source not in hashes:
                doc = self.manifest.get(self.name, p.source)
                hashes[p.source] = doc.content_hash if doc else None
        return [p for p in passages if p.record.metadata.get("content_hash") == hashes[p.source]]

    def check(self) -> list[str]:
        """Where the store and the manifest disagree; empty when the collection is consistent."""
        return self._indexer().check()

    # -- writing (each under the write lock) -------------------------------------------

    def repair(self) -> None:
        """Finish the repair of an interrupted ingest now, if no other process is writing."""
        if not self.manifest.interrupted(self.name) or not self.write_lock.try_acquire():
            return
        try:
            with self._writing():  # taken already: the lock is re-entrant
                if self._indexer().recover():
                    self._rebuild_keyword()
        finally:
            self.write_lock.release()

    def ingest(
        self,
        paths: Iterable[str | Path],
        progress: Progress | None = None,
        *,
        writer: View = ALL,
        access: Sequence[str] | None = None,
        follow_symlinks: bool = False,
        page_progress: PageProgress | None = None,
    ) -> IngestReport:
        """Bring the collection in line with ``paths`` (see :class:`Indexer`)."""
        with self._writing():
            start = self.manifest.generation(self.name)
            written = TermCounts()
            indexer = self._indexer(writer, access, follow_symlinks, written)
            report = indexer.ingest(list(paths), progress, page_progress)
            if report.changed or self._keyword_stale():
                self._update_keyword(start, report, written)
            self._discard_failed_uploads(report)
        return report

    def _discard_failed_uploads(self, report: IngestReport) -> None:
        """Delete the uploaded files this ingest could not read and that are no document:
        no front end lists them, none could delete them, and what someone uploaded by
        mistake (or that is hostile) must not stay on the server. One whose earlier
        version is indexed stays: it is that document's source."""
        for failure in report.failed:
            indexed = self.manifest.get(self.name, failure.path) is not None
            if not indexed and discard_upload(self.uploads_dir, failure.path):
                log.info("deleted the upload %s: %s", failure.path, failure.reason)

    def remove(self, path: str | Path, *, writer: View = ALL) -> list[str]:
        """Remove a document, or every document under a folder, among those ``writer``
        may read; the sources removed."""
        target = absolute(str(path)) or ""
        with self._writing():
            docs = self.documents(target, writer.principals)
            exact = [d for d in docs if d.source == target]
            docs = exact or [d for d in docs if d.source.startswith(target.rstrip("/") + "/")]
            theirs = [d for d in docs if not writer.may_change(self.owner(d.source))]
            if theirs:
                raise AccessDenied(
                    f"only its owner or an admin may remove {printable_path(theirs[0].source)}"
                    + (f" (and {len(theirs) - 1} more)" if len(theirs) > 1 else "")
                )
            indexer = self._indexer(writer)
            for doc in docs:
                indexer.remove(doc.source)
                discard_upload(self.uploads_dir, doc.source)
            if docs:
                self._rebuild_keyword()
        return [d.source for d in docs]

    def set_access(self, source: str | Path, principals: Sequence[str]) -> tuple[str, ...]:
        """Give an ingested document a new access list (no re-embedding); the list."""
        target = absolute(str(source)) or ""
        if self.manifest.get(self.name, target) is None:
            raise InvalidInput(f"{source} is not an ingested document")
        checked = parse_principals(principals)
        if not checked:
            raise InvalidInput("an access list needs at least one entry")
        with self._writing():
            self._indexer().set_access(target, checked)
            self._rebuild_keyword()
        return checked

    # -- uploads ----------------------------------------------------------------------

    @property
    def uploads_dir(self) -> Path:
        """Where files handed over by a front end are kept (inside the data directory)."""
        return self.settings.data_dir / "uploads" / self.name

    def save_uploads(
        self, files: Iterable[tuple[str, bytes]], readers: Principals[str] | None
    ) -> list[Upload]:
        """Store uploaded (name, bytes) pairs safely under :attr:`uploads_dir`; files whose
        content is already ingested (among the documents ``readers`` may read), or earlier
        in the batch, come back as duplicates. Ingest the stored ones with :meth:`ingest`."""
        batch: dict[str, str] = {}
        results = []
        for filename, data in files:

            def known(digest: str) -> str | None:
                doc = self.manifest.with_hash(self.name, digest, readers)
                return doc.source if doc else batch.get(digest)

            upload = save_upload(self.uploads_dir, filename, data, known)
            if upload.path is not None:
                batch[upload.sha256] = str(upload.path)
            results.append(upload)
        return results


def _keyword_entry(record: Record) -> tuple[str, str, str, tuple[str, ...]]:
    """What the keyword index keeps of a stored chunk: id, source, text, access list."""
    access = record.metadata.get("access")
    readers = tuple(str(v) for v in access) if isinstance(access, list) else ()
    return record.id, str(record.metadata.get("source", "")), record.text, readers


def absolute(path: str | None) -> str | None:
    """``path`` as the absolute, normalised form documents are ingested under."""
    if path is None:
        return None
    return os.path.abspath(os.path.expanduser(path))
