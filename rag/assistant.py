"""The library API every front end uses: sign in, then ingest, list, remove, search, ask,
and manage accounts and the audit log.

Each method does the same four things: read the caller's rights afresh (a removed user
or a changed group applies at once), check them, delegate the work (to a
:class:`~rag.collection.Collection`, the :class:`~rag.answer.pipeline.AnswerPipeline`,
the account store), and write the audit log. No front end (CLI, web UI, HTTP API)
checks a right or writes an audit entry itself.

Construction is cheap; models, stores and indexes load on first use and are then kept
(one :class:`Assistant` per process is the intended use). Thread-safe.

Until the first account exists, rag is a single-user tool: everything is readable and
every action allowed. From then on every method takes ``user=`` (a :class:`User` from
:meth:`authenticate`) and shows only what that user may read.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from rag.answer.gate import relevance
from rag.answer.pipeline import AnswerPipeline, Question
from rag.answer.types import Answer, AnswerStream, Done, Event, Retrieved
from rag.collection import Collection, absolute
from rag.config import AnswerMode, RetrievalMode, Settings
from rag.errors import (
    AccessDenied,
    AuthError,
    InvalidInput,
    ModelError,
    NotFound,
    RagError,
    SignInThrottled,
)
from rag.index.indexer import IngestReport, PageProgress, Progress
from rag.index.jobs import Job, Jobs
from rag.index.manifest import DocumentRecord, Manifest
from rag.index.uploads import Upload
from rag.models import Embedder, Generator, open_embedder, open_generator
from rag.privacy import lock_down, loose_modes
from rag.retrieval.hybrid import Passage
from rag.trust.accounts import ALL, ApiKey, User, Users, View, parse_principals
from rag.trust.audit import AuditEntry, AuditLog
from rag.trust.locking import WriteLock

__all__ = ["Assistant"]

log = logging.getLogger(__name__)

Method = TypeVar("Method", bound=Callable[..., Any])


def _audits_refusals(action: str) -> Callable[[Method], Method]:
    """Record ``denied`` (who, what, why) when the method refuses its caller."""

    def wrap(method: Method) -> Method:
        @functools.wraps(method)
        def guarded(self: Assistant, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except AccessDenied as exc:
                self._audit.record(
                    _actor(kwargs.get("user")), "denied", action=action, reason=str(exc)
                )
                raise

        return guarded  # type: ignore[return-value]

    return wrap


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
        self._collections: dict[str, Collection] = {}
        self._lock = threading.RLock()
        self.model_problem: str | None = None
        """Why the chat model could not be loaded by :meth:`warm_up`, if it could not."""
        self._listed: dict[tuple[str | None, str, str | None], tuple[int, float]] = {}
        self._job_runner: ThreadPoolExecutor | None = None

    # -- models (loaded on first use) -------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = open_embedder(self.settings)
            return self._embedder

    @property
    def generator(self) -> Generator:
        with self._lock:
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
        self.collection(collection).keyword_index()

    def prestart(self) -> None:
        """Begin loading the chat model in the background, so that it is ready by the
        time retrieval is done (a local model's process starts in about a second)."""

        def start() -> None:
            starter = getattr(self.generator, "prestart", None)
            if starter is not None:
                with contextlib.suppress(RagError):  # the question will report it
                    starter()

        threading.Thread(target=start, name="rag-model-start", daemon=True).start()

    # -- the stores -------------------------------------------------------------------

    @cached_property
    def manifest(self) -> Manifest:
        return Manifest(self.settings.manifest_path)

    @cached_property
    def _accounts(self) -> Users:
        return Users(self.settings.data_dir / "users.sqlite3")

    @cached_property
    def _audit(self) -> AuditLog:
        return AuditLog(self.settings.data_dir / "audit.sqlite3", self.settings.audit_key_file)

    @cached_property
    def write_lock(self) -> WriteLock:
        return WriteLock(self.settings.data_dir / "write.lock", self.settings.lock_wait_s)

    def collection(self, name: str | None = None) -> Collection:
        """The collection ``name`` (default: the configured one)."""
        name = name or self.settings.collection
        with self._lock:
            if name not in self._collections:
                self._collections[name] = Collection(
                    name, self.settings, self.embedder, self.manifest, self.write_lock
                )
            return self._collections[name]

    def collections(self) -> list[str]:
        """Collections that hold documents, and the configured one."""
        return sorted(set(self.manifest.collections()) | {self.settings.collection})

    @_audits_refusals("list")
    def readable_collections(self, *, user: User | None = None) -> list[str]:
        """The configured collection, and those holding a document ``user`` may read: a
        collection of only unreadable documents is not named, not even its name."""
        view = self.view(user)
        names = [
            name
            for name in self.collections()
            if name == self.settings.collection
            or self.manifest.documents(name, None, view.principals)
        ]
        self._audit_listing(view, "*", len(names))
        return names

    # -- signing in, and what a user may do --------------------------------------------

    def accounts_exist(self) -> bool:
        """True once any account exists: from then on, every method needs a user."""
        return self._accounts.active()

    def authenticate(self, name: str, password: str, client: str | None = None) -> User:
        """The user ``name`` if ``password`` is theirs; :class:`AuthError` otherwise.
        ``client`` is where the attempt comes from (a network address; None on the
        machine): repeated failures by name or client slow further attempts down (see
        :meth:`Users.authenticate`). Every attempt is audited."""
        try:
            user = self._accounts.authenticate(name, password, client)
        except AuthError as exc:
            throttled = isinstance(exc, SignInThrottled)
            self._audit.record(name, "sign-in", ok=False, client=client, throttled=throttled)
            raise
        self._audit.record(name, "sign-in", ok=True, client=client)
        return user

    def current_user(self, user: User | None) -> User | None:
        """``user``'s account as it is now (None if it was removed, or no one signed in)."""
        return self._accounts.get(user.name) if user is not None else None

    def view(self, user: User | None) -> View:
        """What ``user`` may read: everything while no accounts exist, and for admins."""
        if not self._accounts.active():
            return ALL
        if user is None:
            raise AccessDenied("this index has user accounts: sign in first (--user NAME)")
        current = self._accounts.get(user.name)
        if current is None:
            raise AccessDenied(f"user {user.name!r} no longer exists")
        return View(current.name, None if current.admin else current.principals)

    def require_admin(self, user: User | None, doing: str = "do this") -> None:
        """Raise :class:`AccessDenied` unless ``user`` is an admin now (anyone is, while
        no account exists)."""
        if not self._accounts.active():
            return
        current = self.current_user(user)
        if current is None or not current.admin:
            raise AccessDenied(f"only an admin may {doing}")

    def _require_uploads_or_admin(
        self, paths: Sequence[str | Path], target: Collection, user: User | None
    ) -> None:
        """Anyone signed in ingests uploaded files (each in its own folder under the
        collection's uploads, named at random when it was saved); any other path, a
        folder of uploads too, is the server's, which only admins may have read."""
        uploads = target.uploads_dir.resolve()

        def uploaded(path: str | Path) -> bool:
            try:
                return Path(path).resolve().parent.parent == uploads
            except (OSError, ValueError):  # a NUL byte, a loop: the ingest says what
                return False

        if not all(map(uploaded, paths)):
            self.require_admin(user, "ingest files of the server (anyone signed in may upload)")

    # -- accounts: every rule about them lives here ------------------------------------

    @_audits_refusals("users.list")
    def users(self, *, user: User | None = None) -> list[User]:
        """Every account (admins only)."""
        self.require_admin(user)
        return self._accounts.all()

    @_audits_refusals("users.groups")
    def groups(self, *, user: User | None = None) -> list[str]:
        """Every group some account is in (admins only)."""
        self.require_admin(user)
        return self._accounts.groups()

    @_audits_refusals("users.add")
    def add_user(
        self,
        name: str,
        password: str,
        groups: Iterable[str] = (),
        admin: bool = False,
        *,
        user: User | None = None,
    ) -> User:
        """Add an account (admins only). The first account must be an admin: with only
        ordinary accounts, nobody could manage them."""
        first = not self._accounts.active()
        if first and not admin:
            raise InvalidInput(
                f"the first account must be an admin (add {name} with --admin), "
                "or nobody could manage accounts"
            )
        self.require_admin(user)
        added = self._accounts.add(name, password, groups, admin)
        self._audit.record(
            _actor(user), "users", added=added.name, groups=list(added.groups), admin=admin
        )
        return added

    def restore_admin(self, name: str, password: str) -> User:
        """Add an admin to an index whose accounts include none (made by an older rag,
        which allowed that). For the operator on the machine (``rag users add --admin``),
        never offered by a UI or an API."""
        if self._accounts.has_admin() or not self._accounts.active():
            raise AccessDenied("only an admin may do this")
        added = self._accounts.add(name, password, (), True)
        self._audit.record(None, "users", added=added.name, admin=True, restored=True)
        return added

    @_audits_refusals("users.remove")
    def remove_user(self, name: str, *, user: User | None = None) -> None:
        """Remove an account (admins only; not yourself, not the last admin)."""
        self.require_admin(user)
        target = self._existing(name)
        if user is not None and target.name == user.name:
            raise InvalidInput("you cannot remove yourself: another admin can")
        self._keep_an_admin(target)
        self._accounts.remove(target.name)
        self._audit.record(_actor(user), "users", removed=target.name)

    @_audits_refusals("users.groups")
    def set_groups(self, name: str, groups: Iterable[str], *, user: User | None = None) -> User:
        """Replace an account's groups (admins only)."""
        self.require_admin(user)
        changed = self._accounts.set_groups(self._existing(name).name, groups)
        self._audit.record(_actor(user), "users", user=changed.name, groups=list(changed.groups))
        return changed

    @_audits_refusals("users.admin")
    def set_admin(self, name: str, admin: bool, *, user: User | None = None) -> User:
        """Make an account an admin or not (admins only; the last admin stays one)."""
        self.require_admin(user)
        target = self._existing(name)
        if not admin:
            self._keep_an_admin(target)
        self._accounts.set_admin(target.name, admin)
        self._audit.record(_actor(user), "users", user=target.name, admin=admin)
        return self._existing(name)

    @_audits_refusals("users.password")
    def set_password(self, name: str, password: str, *, user: User | None = None) -> None:
        """Set an account's password: your own, or anyone's as an admin."""
        if not (user is not None and user.name == name and self.current_user(user)):
            self.require_admin(user)
        self._accounts.set_password(self._existing(name).name, password)
        self._audit.record(_actor(user), "users", password_changed=name)

    def _existing(self, name: str) -> User:
        found = self._accounts.get(name)
        if found is None:
            raise InvalidInput(f"no user {name!r}")
        return found

    def _keep_an_admin(self, target: User) -> None:
        admins = [u for u in self._accounts.all() if u.admin]
        if target.admin and len(admins) == 1:
            raise InvalidInput(
                f"{target.name} is the last admin: make another admin first, "
                "or nobody could manage accounts"
            )

    # -- API keys: each acts as one account --------------------------------------------

    def authenticate_key(self, key: str, client: str | None = None) -> User:
        """The user an API key acts as; :class:`AuthError` for a wrong, revoked or
        malformed key (or a removed user), :class:`SignInThrottled` after repeated
        failures by key or ``client`` (as for passwords). Failures are audited; a key's
        successful use is on record through what it then does."""
        try:
            return self._accounts.authenticate_key(key, client)
        except AuthError as exc:
            throttled = isinstance(exc, SignInThrottled)
            self._audit.record(
                None, "sign-in", ok=False, method="key", client=client, throttled=throttled
            )
            raise

    @_audits_refusals("keys.create")
    def create_key(self, name: str, label: str = "", *, user: User | None = None) -> str:
        """A new API key acting as account ``name`` (admins only): returned once, stored
        only as a hash."""
        self.require_admin(user)
        key, listed = self._accounts.add_key(self._existing(name).name, label)
        self._audit.record(_actor(user), "keys", created=listed.id, user=name, label=label)
        return key

    @_audits_refusals("keys.list")
    def keys(self, *, user: User | None = None) -> list[ApiKey]:
        """Every API key's id, account and label, never the key (admins only)."""
        self.require_admin(user)
        return self._accounts.keys()

    @_audits_refusals("keys.revoke")
    def revoke_key(self, key_id: str, *, user: User | None = None) -> None:
        """Revoke an API key by its id (admins only); it stops working at once."""
        self.require_admin(user)
        if not self._accounts.remove_key(key_id):
            raise NotFound(f"no API key {key_id!r}")
        self._audit.record(_actor(user), "keys", revoked=key_id)

    # -- the audit log ----------------------------------------------------------------

    @_audits_refusals("audit.read")
    def audit_entries(
        self,
        who: str | None = None,
        since: str | None = None,
        action: str | None = None,
        *,
        user: User | None = None,
    ) -> list[AuditEntry]:
        """Audit entries oldest first, by ``who``, at or after ``since`` (ISO date or
        time), of one ``action`` (admins only)."""
        self.require_admin(user)
        return list(self._audit.entries(who, since, action))

    @_audits_refusals("audit.verify")
    def verify_audit(self, *, user: User | None = None) -> str | None:
        """What is wrong with the audit log (an altered or missing entry), or None when it
        is intact (admins only; see :meth:`AuditLog.verify`)."""
        self.require_admin(user)
        return self._audit.verify()

    # -- documents --------------------------------------------------------------------

    @_audits_refusals("ingest")
    def ingest(
        self,
        paths: Iterable[str | Path],
        collection: str | None = None,
        progress: Progress | None = None,
        *,
        user: User | None = None,
        access: Sequence[str] | None = None,
        follow_symlinks: bool = False,
        page_progress: PageProgress | None = None,
    ) -> IngestReport:
        """Add, update and remove documents so the collection matches ``paths``.

        ``access`` (``group:finance``, ``user:ana``, ``everyone``) is who may read the
        files ingested; without it, known documents keep theirs and new ones get
        ``Settings.default_access``. Links in folders that lead out of them are passed
        over (``report.skipped``, with the reason) unless ``follow_symlinks``. Waits for
        (or fails on) another ingest. ``progress`` is called after each file,
        ``page_progress`` after each page of a PDF or TIFF as it is parsed (and read by
        OCR where it is a scan), both in the calling thread. Files other than uploads
        (:meth:`save_uploads`) are the server's own: only admins ingest those.
        """
        view = self.view(user)
        target = self.collection(collection)
        paths = list(paths)
        self._require_uploads_or_admin(paths, target, user)
        report = target.ingest(
            paths,
            progress,
            writer=view,
            access=access,
            follow_symlinks=follow_symlinks,
            page_progress=page_progress,
        )
        self._audit.record(
            view.user,
            "ingest",
            collection=target.name,
            paths=[str(p) for p in paths],
            access=list(access) if access else None,
            added=report.added,
            updated=report.updated,
            removed=report.removed,
            skipped=[f"{s.path}: {s.reason}" for s in report.skipped],
            access_changed=report.access_changed,
            repaired=report.repaired,
            failed=[f"{f.path}: {f.reason}" for f in report.failed],
        )
        return report

    @_audits_refusals("remove")
    def remove(
        self, path: str | Path, collection: str | None = None, *, user: User | None = None
    ) -> list[str]:
        """Remove a document, or every document under a folder, among those ``user`` may
        read; the sources removed."""
        view = self.view(user)
        target = self.collection(collection)
        removed = target.remove(path, writer=view)
        self._audit.record(view.user, "remove", collection=target.name, removed=removed)
        return removed

    @_audits_refusals("access")
    def set_access(
        self,
        source: str | Path,
        access: Sequence[str],
        collection: str | None = None,
        *,
        user: User | None = None,
    ) -> tuple[str, ...]:
        """Change who may read an ingested document: its owner or an admin may."""
        view = self.view(user)
        target = self.collection(collection)
        document = target.document(source)
        if document is None or not view.may_read(target.access(source)):
            raise InvalidInput(f"{source} is not an ingested document")
        if not view.may_change(target.owner(source)):
            raise AccessDenied(f"only its owner or an admin may change who reads {source}")
        principals = target.set_access(source, access)
        self._audit.record(
            _actor(user), "access", source=absolute(str(source)), access=list(principals)
        )
        return principals

    def access(self, source: str | Path, collection: str | None = None) -> tuple[str, ...]:
        """Who may read an ingested document."""
        return self.collection(collection).access(source)

    @_audits_refusals("list")
    def documents(
        self,
        collection: str | None = None,
        prefix: str | None = None,
        *,
        user: User | None = None,
    ) -> list[DocumentRecord]:
        """Ingested documents ``user`` may read, optionally those under a path prefix.
        Audited: who listed what, and how many (a page that lists on every click logs
        again only when the count changes or ten minutes have passed)."""
        view = self.view(user)
        target = self.collection(collection)
        docs = target.documents(prefix, view.principals)
        self._audit_listing(view, target.name, len(docs), prefix)
        return docs

    def _audit_listing(
        self, view: View, collection: str, count: int, prefix: str | None = None
    ) -> None:
        key = (view.user, collection, prefix)
        seen = self._listed.get(key)
        if seen is None or seen[0] != count or time.monotonic() - seen[1] > 600:
            if collection == "*":
                self._audit.record(view.user, "list", collections=count)
            else:
                self._audit.record(
                    view.user, "list", collection=collection, prefix=prefix, documents=count
                )
            self._listed[key] = (count, time.monotonic())

    @_audits_refusals("check")
    def check(self, collection: str | None = None, *, user: User | None = None) -> list[str]:
        """What is wrong with the index: where the store and the manifest disagree, and
        files other accounts may read; empty when all is well (admins only)."""
        self.require_admin(user)
        return loose_modes(self.settings.data_dir) + self.collection(collection).check()

    def uploads_dir(self, collection: str | None = None) -> Path:
        """Where files uploaded through a front end are kept (inside the data directory)."""
        return self.collection(collection).uploads_dir

    @_audits_refusals("upload")
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
        view = self.view(user)
        target = self.collection(collection)
        uploads = target.save_uploads(files, view.principals)
        self._audit.record(
            view.user,
            "upload",
            collection=target.name,
            stored=[str(u.path) for u in uploads if u.path is not None],
            duplicates={u.name: u.duplicate_of for u in uploads if u.duplicate_of},
        )
        return uploads

    # -- ingests in the background ------------------------------------------------------

    @cached_property
    def _jobs(self) -> Jobs:
        return Jobs(self.settings.data_dir / "jobs.sqlite3")

    @_audits_refusals("ingest")
    def start_ingest(
        self,
        paths: Iterable[str | Path],
        collection: str | None = None,
        *,
        user: User | None = None,
        access: Sequence[str] | None = None,
        names: dict[str, str] | None = None,
    ) -> Job:
        """Queue :meth:`ingest` of ``paths`` in the background; the job, to follow with
        :meth:`job`. Files outside :meth:`uploads_dir` are the server's own: only admins
        ingest those. ``names`` gives a file's name as the uploader sent it, for the job's
        report. One background ingest runs at a time per process; the rest wait."""
        view = self.view(user)
        target = self.collection(collection)
        files = [str(p) for p in paths]
        self._require_uploads_or_admin(files, target, user)
        if access is not None:
            parse_principals(access)  # a bad entry fails the request, not the job later
        job = self._jobs.new(view.user, target.name, len(files))
        with self._lock:
            if self._job_runner is None:
                self._job_runner = ThreadPoolExecutor(1, thread_name_prefix="rag-job")
            self._job_runner.submit(self._run_job, job, files, user, access, names or {})
        return job

    def _run_job(
        self,
        job: Job,
        paths: list[str],
        user: User | None,
        access: Sequence[str] | None,
        names: dict[str, str],
    ) -> None:
        job.state = "running"
        self._jobs.save(job)

        def progress(path: str, outcome: str, done: int, total: int) -> None:
            job.done, job.total, job.page = done, total, None
            job.files.append(
                {"name": names.get(path, Path(path).name), "source": path, "outcome": outcome}
            )
            self._jobs.save(job)

        saved = [0.0]

        def page_progress(path: str, page: int, pages: int | None, ocr: bool) -> None:
            name = names.get(path, Path(path).name)
            job.page = {"name": name, "source": path, "page": page, "pages": pages, "ocr": ocr}
            now = time.monotonic()
            if now - saved[0] >= 0.5 or page == pages:  # a text PDF's pages fly by
                saved[0] = now
                self._jobs.save(job)

        try:
            report = self.ingest(
                paths,
                job.collection,
                progress,
                user=user,
                access=access,
                page_progress=page_progress,
            )
        except RagError as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a bug: the job says so, and the runner lives on
            log.exception("background ingest %s failed", job.id)
            job.state, job.error = "failed", f"internal error: {type(exc).__name__}"
        else:
            reasons = {f.path: f.reason for f in report.failed}
            reasons |= {s.path: s.reason for s in report.skipped}
            for line in job.files:
                if line["source"] in reasons:
                    line["reason"] = reasons[line["source"]]
            job.state, job.summary = "done", report.summary()
        self._jobs.save(job)

    def job(self, job_id: str, *, user: User | None = None) -> Job:
        """A background ingest's progress and outcome: for whoever started it, and admins."""
        view = self.view(user)
        job = self._jobs.get(job_id)
        if job is None or not (view.unrestricted or job.owner == view.user):
            raise NotFound(f"no job {job_id!r}")
        return job

    # -- questions --------------------------------------------------------------------

    @_audits_refusals("embed")
    def embed(self, texts: Sequence[str], *, user: User | None = None) -> Any:
        """The configured embedder's unit vectors for ``texts`` (a float32 array), for a
        signed-in user (once accounts exist). Audited by count, never the text."""
        view = self.view(user)
        if len(texts) > 2048 or any(len(t) > 100_000 for t in texts):
            raise InvalidInput("at most 2048 texts of at most 100,000 characters each")
        vectors: Any = self.embedder.embed(list(texts)) if texts else []
        self._audit.record(view.user, "embed", texts=len(texts), model=self.embedder.name)
        return vectors

    @_audits_refusals("search")
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
        target = self.collection(collection)
        scope = target.scope(prefix, sources, view.principals)
        passages = target.search(
            query,
            k or self.settings.top_k,
            mode or self.settings.retrieval_mode,
            scope,
            view.principals,
        )
        self._audit.record(
            view.user, "search", collection=target.name, query=query, retrieved=_refs(passages)
        )
        return passages

    @_audits_refusals("ask")
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
        """Answer ``question``: a stream of events (retrieval done, the model's text as it
        is written, the final checked and cited answer); iterate it, or read ``.answer``.

        ``history`` holds the conversation's earlier questions, oldest first: a
        follow-up ("and abroad?") is retrieved together with the one before it.
        ``mode`` is the retrieval mode; ``answer_mode`` and ``strict`` default to the
        settings (see :class:`Settings`). Only documents ``user`` may read are searched.
        """
        view = self.view(user)
        target = self.collection(collection)
        q = Question(question, history, k, mode, prefix, sources, answer_mode, strict)
        events = AnswerPipeline(target, self.settings, lambda: self.generator).run(
            q, view.principals
        )
        return AnswerStream(question, self._audited(events, view, target.name, question))

    def _audited(
        self, events: Iterator[Event], view: View, collection: str, question: str
    ) -> Iterator[Event]:
        """The question is logged once retrieval is done (what was retrieved: so an
        abandoned stream is still on record), its answer once it is done."""
        asked = 0
        for event in events:
            if isinstance(event, Retrieved):
                passages = event.passages
                asked = self._audit.record(
                    view.user,
                    "ask",
                    collection=collection,
                    question=question,
                    retrieved=_refs(passages),
                )
            elif isinstance(event, Done):
                answer = event.answer
                self._audit.record(
                    view.user,
                    "answer",
                    ask=asked,
                    cited=_refs(passages[c.n - 1] for c in answer.citations),
                    refused=answer.refused,
                    mode=answer.mode,
                )
            yield event

    def ask(self, question: str, **kwargs: object) -> Answer:
        """Like :meth:`ask_stream`, returning the finished answer."""
        return self.ask_stream(question, **kwargs).answer  # type: ignore[arg-type]

    @_audits_refusals("search")
    def relevance(
        self,
        question: str,
        passages: Sequence[Passage],
        collection: str | None = None,
        *,
        user: User | None = None,
    ) -> float:
        """The relevance gate's score of ``passages`` for ``question`` (see
        :func:`rag.answer.gate.relevance`), the IDF counted over what ``user`` may read."""
        readers = self.view(user).principals
        target = self.collection(collection)
        return relevance(question, passages, target.vocabulary(readers), target.embedder)


def _refs(passages: Iterable[Passage]) -> list[dict[str, object]]:
    """What the audit log keeps of passages: ids, sources and pages, never their text."""
    return [{"id": p.record.id, "source": p.source, "page": p.page} for p in passages]


def _actor(user: User | None) -> str | None:
    return user.name if user is not None else None
