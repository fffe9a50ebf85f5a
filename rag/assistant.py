"""The library API every front end uses: ingest, list, remove, search, ask.

Construction is cheap; models, the store and the keyword index load on first
use and are then kept (one :class:`Assistant` per process is the intended use).
It is safe to use from several threads.

Once user accounts exist (:mod:`rag.trust.accounts`), every method that reads or changes
documents takes ``user=`` (a :class:`~rag.trust.accounts.User` from :meth:`authenticate`)
and sees only what that user may read; each question, search and change is
written to the audit log (:mod:`rag.trust.audit`). Changes take the data directory's
write lock (:mod:`rag.trust.locking`).
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

from rag.answer.conversation import standalone_query
from rag.answer.prompt import build_messages
from rag.answer.types import REFUSAL, Answer, AnswerStream, verified_answer
from rag.answer.verify import Thresholds, Verification, condense, extractive_answer, verify
from rag.config import AnswerMode, RetrievalMode, Settings
from rag.errors import InvalidInput, ModelError, RagError
from rag.index.indexer import Indexer, IngestReport, Progress
from rag.index.manifest import DocumentRecord, Manifest
from rag.index.uploads import Upload, save_upload
from rag.ingest.pipeline import ParseLimits
from rag.models import Embedder, Generator, open_embedder, open_generator
from rag.privacy import lock_down
from rag.retrieval.hybrid import Passage, Retriever
from rag.retrieval.keyword import KeywordIndex
from rag.retrieval.stores import VectorStore, open_store
from rag.text import collection_name
from rag.trust.accounts import ALL, AccessDenied, AuthError, User, Users, View, parse_principals
from rag.trust.audit import AuditLog
from rag.trust.locking import WriteLock

__all__ = ["Assistant"]


class Assistant:
    """Ingest documents and answer questions about them, locally."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        lock_down()
        self.settings = settings or Settings()
        self._embedder = embedder
        self._generator = generator
        self._stores: dict[str, VectorStore] = {}
        self._keyword: dict[str, KeywordIndex] = {}
        self._lock = threading.RLock()
        self.model_problem: str | None = None
        """Why the chat model could not be loaded by :meth:`warm_up`, if it could not."""
        # Held by each document commit and each search: a search never sees half a commit.
        self._commit = threading.RLock()

    # -- components (loaded on first use) ---------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = open_embedder(self.settings)
        return self._embedder

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            self._generator = open_generator(self.settings)
        return self._generator

    @property
    def loaded(self) -> dict[str, bool]:
        """Which models are in memory (for a status display)."""
        generator = self._generator
        return {
            "embedder": self._embedder is not None,
            "generator": generator is not None and bool(getattr(generator, "loaded", True)),
        }

    def model_status(self) -> str:
        """The chat model in one line: which, where it runs, and how (or why it cannot)."""
        s = self.settings
        if s.llm_backend == "openai":
            where = f"served by {s.llm_url}"
        elif s.llm_backend == "transformers":
            where = "transformers, in this process"
        else:
            where = "llama.cpp, in its own process"
        try:
            generator = self.generator
            runtime = getattr(generator, "runtime", None)
        except RagError as exc:
            return f"unavailable: {exc}"
        line = f"{generator.name} ({where})"
        if self.model_problem:
            return f"{line}, unavailable: {self.model_problem}"
        if runtime is not None:
            line += f"; {runtime.describe()}"
        return line

    def warm_up(self, collection: str | None = None) -> None:
        """Load the embedder, the chat model and the keyword index now, not at the first
        question. A chat model that cannot load is remembered in :attr:`model_problem`
        (questions then get extractive answers with a note), not raised."""
        self.embedder.embed_query("warm-up")
        try:
            self.generator.load()
        except ModelError as exc:
            self.model_problem = str(exc)
        self.keyword_index(collection)

    def prestart(self) -> None:
        """Begin loading the chat model in the background, so that it is ready by the
        time retrieval is done (a local model's process starts in about a second)."""

        def start() -> None:
            starter = getattr(self.generator, "prestart", None)
            if starter is not None:
                with contextlib.suppress(RagError):  # the question will report it
                    starter()

        threading.Thread(target=start, name="rag-model-start", daemon=True).start()

    @cached_property
    def manifest(self) -> Manifest:
        return Manifest(self.settings.manifest_path)

    @cached_property
    def users(self) -> Users:
        return Users(self.settings.data_dir / "users.sqlite3")

    @cached_property
    def audit(self) -> AuditLog:
        return AuditLog(self.settings.data_dir / "audit.sqlite3")

    @cached_property
    def write_lock(self) -> WriteLock:
        return WriteLock(self.settings.data_dir / "write.lock", self.settings.lock_wait_s)

    # -- users ------------------------------------------------------------------------

    def authenticate(self, name: str, password: str) -> User:
        """The user ``name`` if ``password`` is theirs; :class:`AuthError` otherwise.
        Every attempt is audited."""
        try:
            user = self.users.authenticate(name, password)
        except AuthError:
            self.audit.record(name, "sign-in", ok=False)
            raise
        self.audit.record(name, "sign-in", ok=True)
        return user

    def view(self, user: User | None) -> View:
        """What ``user`` may read: everything while no accounts exist, and for admins.

        The account is read afresh, so removed users and changed groups apply at once.
        """
        if not self.users.active():
            return ALL
        if user is None:
            raise AccessDenied("this index has user accounts: sign in first (--user NAME)")
        current = self.users.get(user.name)
        if current is None:
            raise AccessDenied(f"user {user.name!r} no longer exists")
        return View(current.name, None if current.admin else current.principals)

    def require_admin(self, user: User | None) -> None:
        """Raise unless ``user`` is an admin (anyone may, while no admin exists)."""
        if not self.users.has_admin():
            return
        current = self.users.get(user.name) if user else None
        if current is None or not current.admin:
            raise AccessDenied("only an admin may do this")

    def store(self, collection: str | None = None) -> VectorStore:
        name = collection or self.settings.collection
        with self._lock:
            if name not in self._stores:
                self._stores[name] = open_store(self.settings, name)
            return self._stores[name]

    # -- documents --------------------------------------------------------------------

    def ingest(
        self,
        paths: Iterable[str | Path],
        collection: str | None = None,
        progress: Progress | None = None,
        *,
        user: User | None = None,
        access: Sequence[str] | None = None,
    ) -> IngestReport:
        """Add, update and remove documents so the collection matches ``paths``.

        ``access`` (``group:finance``, ``user:ana``, ``everyone``) is who may read the
        files ingested; without it, known documents keep theirs and new ones get
        ``Settings.default_access``. Waits for (or fails on) another ingest.
        """
        view = self.view(user)
        name = collection or self.settings.collection
        paths = list(paths)
        with self.write_lock:
            indexer = self._indexer(name, view, parse_principals(access) if access else None)
            report = indexer.ingest(paths, progress)
            if report.changed or self._keyword_stale(name):
                self._rebuild_keyword(name)
        self.audit.record(
            view.user,
            "ingest",
            collection=name,
            paths=[str(p) for p in paths],
            access=list(access) if access else None,
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            access_changed=report.access_changed,
            repaired=report.repaired,
            failed=[f"{f.path}: {f.reason}" for f in report.failed],
        )
        return report

    def _indexer(self, name: str, view: View, access: Sequence[str] | None = None) -> Indexer:
        from rag.ingest.chunk import Chunker

        return Indexer(
            lambda: self.store(name),
            self.embedder,
            self.manifest,
            Chunker(self.embedder.tokenize, self.settings.chunk_size, self.settings.chunk_overlap),
            name,
            int(self.settings.max_file_mb * 1e6),
            limits=ParseLimits(self.settings.parse_timeout_s, self.settings.parse_memory_mb),
            access=access,
            default_access=parse_principals(self.settings.default_access),
            writer=view.principals,
            commit_lock=self._commit,
        )

    def set_access(
        self,
        source: str | Path,
        access: Sequence[str],
        collection: str | None = None,
        *,
        user: User | None = None,
    ) -> None:
        """Change who may read an ingested document (admins only, once accounts exist)."""
        self.require_admin(user)
        name = collection or self.settings.collection
        target = _abs(str(source)) or ""
        if self.manifest.get(name, target) is None:
            raise InvalidInput(f"{source} is not an ingested document")
        principals = parse_principals(access)
        if not principals:
            raise InvalidInput("an access list needs at least one entry")
        with self.write_lock:
            self._indexer(name, ALL).set_access(target, principals)
            self._rebuild_keyword(name)
        self.audit.record(
            user.name if user else None, "access", source=target, access=list(principals)
        )

    def check(self, collection: str | None = None) -> list[str]:
        """Where the store and the manifest disagree; empty when the index is consistent."""
        name = collection or self.settings.collection
        return self._indexer(name, ALL).check()

    def access(self, source: str | Path, collection: str | None = None) -> tuple[str, ...]:
        """Who may read an ingested document."""
        name = collection or self.settings.collection
        return self.manifest.access(name, _abs(str(source)) or "") or ()

    def documents(
        self,
        collection: str | None = None,
        prefix: str | None = None,
        *,
        user: User | None = None,
    ) -> list[DocumentRecord]:
        """Ingested documents ``user`` may read, optionally those under a path prefix."""
        return self.manifest.documents(
            collection or self.settings.collection, _abs(prefix), self.view(user).principals
        )

    def collections(self) -> list[str]:
        """Collections that hold documents, and the configured one."""
        return sorted(set(self.manifest.collections()) | {self.settings.collection})

    def uploads_dir(self, collection: str | None = None) -> Path:
        """Where files uploaded through a front end are kept (inside the data directory)."""
        name = collection or self.settings.collection
        return self.settings.data_dir / "uploads" / collection_name(name)

    def save_uploads(
        self,
        files: Iterable[tuple[str, bytes]],
        collection: str | None = None,
        *,
        user: User | None = None,
    ) -> list[Upload]:
        """Store uploaded (name, bytes) pairs safely under :meth:`uploads_dir`; files whose
        content is already ingested (among the documents ``user`` may read), or earlier in
        the batch, come back as duplicates. Ingest the stored ones with :meth:`ingest`."""
        name = collection or self.settings.collection
        readers = self.view(user).principals
        folder = self.uploads_dir(name)
        batch: dict[str, str] = {}
        results = []
        for filename, data in files:

            def known(digest: str) -> str | None:
                doc = self.manifest.with_hash(name, digest, readers)
                return doc.source if doc else batch.get(digest)

            upload = save_upload(folder, filename, data, known)
            if upload.path is not None:
                batch[upload.sha256] = str(upload.path)
            results.append(upload)
        return results

    def remove(
        self, path: str | Path, collection: str | None = None, *, user: User | None = None
    ) -> list[str]:
        """Remove a document, or every document under a folder, among those ``user`` may
        read; the sources removed."""
        view = self.view(user)
        name = collection or self.settings.collection
        target = _abs(str(path)) or ""
        with self.write_lock:
            docs = self.manifest.documents(name, target, view.principals)
            exact = [d for d in docs if d.source == target]
            docs = exact or [d for d in docs if d.source.startswith(target.rstrip("/") + "/")]
            indexer = self._indexer(name, view)
            for doc in docs:
                indexer.remove(doc.source)
            if docs:
                self._rebuild_keyword(name)
        self.audit.record(view.user, "remove", collection=name, removed=[d.source for d in docs])
        return [d.source for d in docs]

    # -- questions --------------------------------------------------------------------

    def retriever(self, collection: str | None = None) -> Retriever:
        name = collection or self.settings.collection
        return Retriever(
            self.store(name),
            self.embedder,
            lambda: self.keyword_index(name),
            rrf_k=self.settings.rrf_k,
        )

    def search(
        self,
        query: str,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        collection: str | None = None,
        prefix: str | None = None,
        sources: Sequence[str] | None = None,
        *,
        user: User | None = None,
    ) -> list[Passage]:
        """The best passages for ``query`` (no model call) among the documents ``user``
        may read: all of them, those under ``prefix``, or those named in ``sources``."""
        view = self.view(user)
        passages = self._search(query, k, mode, collection, prefix, sources, view)
        self.audit.record(
            view.user,
            "search",
            collection=collection or self.settings.collection,
            query=query,
            retrieved=_refs(passages),
        )
        return passages

    def _search(
        self,
        query: str,
        k: int | None,
        mode: RetrievalMode | None,
        collection: str | None,
        prefix: str | None,
        sources: Sequence[str] | None,
        view: View,
    ) -> list[Passage]:
        name = collection or self.settings.collection
        self._repair(name)
        scope = self._scope(name, prefix, sources, view)
        retriever = self.retriever(name)
        self.embedder.embed_query(query)  # remembered: the search below does not redo it
        with self._commit:
            passages = retriever.search(
                query,
                k or self.settings.top_k,
                mode or self.settings.retrieval_mode,
                scope,
                view.principals,
            )
        return self._current(name, passages)

    def _current(self, name: str, passages: list[Passage]) -> list[Passage]:
        """Passages of each document's current version only. Another process's ingest
        can be half-way through replacing a document; this process never sees that."""
        hashes: dict[str, str | None] = {}
        for p in passages:
            if p.source not in hashes:
                doc = self.manifest.get(name, p.source)
                hashes[p.source] = doc.content_hash if doc else None
        return [p for p in passages if p.record.metadata.get("content_hash") == hashes[p.source]]

    def _repair(self, name: str) -> None:
        """Finish the repair of an interrupted ingest now, if no other process is writing."""
        if not self.manifest.interrupted(name) or not self.write_lock.try_acquire():
            return
        try:
            if self._indexer(name, ALL).recover():
                self._rebuild_keyword(name)
        finally:
            self.write_lock.release()

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        mode: RetrievalMode | None = None,
        collection: str | None = None,
        prefix: str | None = None,
        sources: Sequence[str] | None = None,
        history: Sequence[str] = (),
        answer_mode: AnswerMode | None = None,
        strict: bool | None = None,
        *,
        user: User | None = None,
    ) -> AnswerStream:
        """Retrieve, then stream a cited answer; iterate it, then read ``.answer``.

        ``history`` holds the conversation's earlier questions, oldest first: a
        follow-up ("and abroad?") is retrieved together with the one before it.
        ``answer_mode`` and ``strict`` default to the settings (see :class:`Settings`).
        Every answer's sentences are checked against the passages (``answer.sentences``).
        Only documents ``user`` may read are searched; the question is audited.
        """
        view = self.view(user)
        answer_mode = answer_mode or self.settings.answer_mode
        strict = self.settings.strict if strict is None else strict
        started = time.perf_counter()
        query = standalone_query(question, history)
        passages = self._search(query, k, mode, collection, prefix, sources, view)
        timings = {"retrieval_s": time.perf_counter() - started}

        def audited(answer: Answer) -> None:
            self.audit.record(
                view.user,
                "ask",
                collection=collection or self.settings.collection,
                question=question,
                retrieved=_refs(passages),
                cited=_refs(passages[c.n - 1] for c in answer.citations),
                refused=answer.refused,
                mode=answer.mode,
            )

        if (
            self.relevance(query, passages, collection, view.principals)
            < self.settings.min_relevance
        ):
            return AnswerStream(
                question, passages, None, timings, time.perf_counter, on_done=audited
            )
        if answer_mode == "extractive":
            answer = self._extractive(question, passages, timings)
            return AnswerStream(
                question, passages, None, timings, time.perf_counter, ready=answer, on_done=audited
            )
        previous = history[-1] if query != question else None
        texts = condense(question, passages, self.embedder, self.settings.prompt_sentences)
        timings["condense_s"] = time.perf_counter() - started - timings["retrieval_s"]
        messages = build_messages(
            question,
            [(p.source, p.page, text) for p, text in zip(passages, texts, strict=True)],
            previous,
        )

        def tokens() -> Iterator[str]:
            # Opening the model (a probe, a child process, a server) happens here too, so
            # that every way the model can fail ends in ``failed`` below.
            yield from self.generator.stream(
                messages, max_tokens=self.settings.max_tokens, temperature=self.settings.temperature
            )

        def finish(answer: Answer) -> Answer:
            checked = verify(answer.text, passages, self.embedder, self._thresholds)
            timings["verify_s"] = checked.seconds
            if (
                answer_mode == "auto"
                and checked.supported_share <= self.settings.auto_min_supported
            ):
                supported = sum(s.support == "supported" for s in checked.sentences)
                note = (
                    f"The model's answer was not supported by your documents "
                    f"({supported} of {len(checked.sentences)} sentences); "
                    "showing the passages' own words instead."
                )
                fallback = self._extractive(question, passages, timings, note)
                fallback.model_text = answer.text
                return fallback
            return verified_answer(answer, checked, "generative", strict)

        def failed(error: ModelError) -> Answer:
            note = f"The model could not answer ({error}); showing the passages' own words instead."
            fallback = self._extractive(question, passages, timings, note)
            fallback.model_error = str(error)
            return fallback

        return AnswerStream(
            question,
            passages,
            tokens(),
            timings,
            time.perf_counter,
            finish,
            on_done=audited,
            failed=failed,
        )

    @property
    def _thresholds(self) -> Thresholds:
        return Thresholds(self.settings.support_threshold, self.settings.weak_threshold)

    def _extractive(
        self, question: str, passages: list[Passage], timings: dict[str, float], note: str = ""
    ) -> Answer:
        extracted: Verification = extractive_answer(question, passages, self.embedder)
        timings["extract_s"] = extracted.seconds
        if not extracted.sentences:
            return Answer(question, REFUSAL, True, passages, [], timings, mode="extractive")
        base = Answer(question, extracted.text(), False, passages, [], timings)
        return verified_answer(base, extracted, "extractive", False, note)

    def relevance(
        self,
        question: str,
        passages: Sequence[Passage],
        collection: str | None = None,
        readers: Collection[str] | None = None,
    ) -> float:
        """How well the passages match the question, 0..1: the mean of the best cosine
        similarity and the IDF-weighted share of question terms the top passages contain.

        Either signal alone lets unanswerable questions through (dense similarity is
        high for on-topic but unanswered questions; term overlap misses paraphrases).
        """
        if not passages:
            return 0.0
        similarity = max(p.similarity for p in passages)
        coverage = self.keyword_index(collection).coverage(
            question, [p.text for p in passages[:3]], readers
        )
        return (max(similarity, 0.0) + coverage) / 2

    def ask(self, question: str, **kwargs: object) -> Answer:
        """Like :meth:`ask_stream`, returning the finished answer."""
        return self.ask_stream(question, **kwargs).answer  # type: ignore[arg-type]

    # -- keyword index ----------------------------------------------------------------

    def keyword_index(self, collection: str | None = None) -> KeywordIndex:
        """The collection's BM25 index, rebuilt if the collection changed since it was built."""
        name = collection or self.settings.collection
        with self._lock:
            generation = self.manifest.generation(name)
            cached = self._keyword.get(name)
            if cached is not None and cached.generation == generation:
                return cached
            loaded = KeywordIndex.load(self._keyword_dir(name))
            if loaded is None or loaded.generation != generation:
                return self._rebuild_keyword(name)
            self._keyword[name] = loaded
            return loaded

    def _keyword_dir(self, name: str) -> Path:
        return self.settings.keyword_dir / collection_name(name)

    def _keyword_stale(self, name: str) -> bool:
        saved = KeywordIndex.saved_generation(self._keyword_dir(name))
        return saved is None or saved != self.manifest.generation(name)

    def _rebuild_keyword(self, name: str) -> KeywordIndex:
        with self._lock:
            generation = self.manifest.generation(name)
            records = (
                (r.id, str(r.metadata.get("source", "")), r.text, _access_of(r.metadata))
                for r in self.store(name).iter_records()
            )
            index = KeywordIndex.build(records, generation)
            index.save(self._keyword_dir(name))
            self._keyword[name] = index
            return index

    def _scope(
        self, name: str, prefix: str | None, sources: Sequence[str] | None, view: View
    ) -> Sequence[str] | None:
        if not prefix and sources is None:
            return None
        scope = [d.source for d in self.manifest.documents(name, _abs(prefix), view.principals)]
        if sources is not None:
            wanted = set(sources)
            scope = [s for s in scope if s in wanted]
        return scope


def _refs(passages: Iterable[Passage]) -> list[dict[str, object]]:
    """What the audit log keeps of passages: ids, sources and pages, never their text."""
    return [{"id": p.record.id, "source": p.source, "page": p.page} for p in passages]


def _access_of(metadata: dict[str, object]) -> tuple[str, ...]:
    value = metadata.get("access")
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _abs(path: str | None) -> str | None:
    if path is None:
        return None
    return os.path.abspath(os.path.expanduser(path))
