"""Crash safety of ``rag ingest`` (issue 4): SIGKILL it at random points, then a normal
ingest must leave exactly the index a clean ingest builds.

Two versions of a corpus of a few hundred small files (B changes, deletes and adds
files of A) each get a reference: a clean ingest into a fresh data directory. One
data directory then goes through the trials. Each switches the folder to the other
version, starts ``rag ingest``, kills it with SIGKILL, ingests again to completion
(through the library, in this process, whose models are loaded) and compares the index with the reference of the version on disk: chunk
ids, text and metadata in Chroma, the manifest's rows, access lists and journal, the
saved BM25 index, ``check()`` and searches. Every fourth trial changes the folder back
while the ingest is down, as a user might between the crash and the rerun.

``rag ingest`` prints no progress when stderr is not a terminal, so kill points are
read from the manifest instead: after a random delay; after the manifest's generation
moved N times (a document write moves it twice, a removal once); while the N-th
document's journal entry is open, or a given file's (mid-commit); or while the keyword
index is being saved (the last step). ``RAG_CRASH_SEED`` replays a run's kill points,
``RAG_CRASH_TRIALS`` sets their number.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag import Assistant, Settings

# About 5 minutes on 2 cores: `make test-crash` runs it (and CI, after `make test`).
pytestmark = [pytest.mark.slow, pytest.mark.crash]

RAG = [sys.executable, "-m", "rag.cli"]
TRIALS = int(os.environ.get("RAG_CRASH_TRIALS", "20"))
SEED = int(os.environ.get("RAG_CRASH_SEED", str(random.SystemRandom().randrange(10**6))))
N_FILES, CHANGED, DELETED, ADDED = 240, 20, 10, 10
WRITES = CHANGED + ADDED  # documents a switch between the versions writes
POLL_S = 0.004

WORDS = """invoice contract warehouse policy budget server outage travel expense payroll
holiday laptop password backup office printer meeting quarterly report supplier delivery
customer refund shipping audit training safety parking canteen network firewall licence
renewal deadline approval manager finance legal marketing roadmap release incident Leeds
Bristol Monday Friday pension bonus overtime badge visitor kitchen""".split()
SUFFIXES = (".txt", ".md", ".html", ".txt", ".md", ".html", ".txt", ".csv")


# -- the corpus ---------------------------------------------------------------------------


def _render(suffix: str, title: str, rng: random.Random, words: int) -> str:
    body = " ".join(rng.choice(WORDS) for _ in range(words))
    if suffix == ".md":
        return f"# {title}\n\n{body}.\n"
    if suffix == ".html":
        return f"<html><body><h1>{title}</h1><p>{body}.</p></body></html>\n"
    if suffix == ".csv":
        rows = [" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(max(words // 8, 2))]
        return "item,notes\n" + "".join(f"{title} {i},{r}\n" for i, r in enumerate(rows))
    return f"{title}.\n\n{body}.\n"


def corpus_versions() -> tuple[dict[str, str], dict[str, str]]:
    """Versions A and B as {relative path: text}. Files have tens of words (embedding is
    the cost); one in 30 has a few hundred (two chunks), and B shortens one of those."""
    rng = random.Random(4)
    a = {}
    for i in range(N_FILES):
        suffix = SUFFIXES[i % len(SUFFIXES)]
        words = rng.randint(250, 300) if i % 30 == 0 else rng.randint(20, 60)
        a[f"d{i % 6}/doc{i:03d}{suffix}"] = _render(suffix, f"Document {i}", rng, words)
    b = dict(a)
    picked = ["d0/doc000.txt", *rng.sample(sorted(a.keys() - {"d0/doc000.txt"}), 29)]
    for n, name in enumerate(picked[:CHANGED]):
        words = rng.randint(250, 300) if n == 1 else rng.randint(20, 60)
        b[name] = _render(Path(name).suffix, f"Revised {name}", rng, words)
    for name in picked[CHANGED:]:
        del b[name]
    for i in range(ADDED):
        suffix = SUFFIXES[i % len(SUFFIXES)]
        b[f"new/added{i:02d}{suffix}"] = _render(suffix, f"Added {i}", rng, rng.randint(20, 60))
    return a, b


def write_version(folder: Path, files: dict[str, str]) -> None:
    """Make ``folder`` hold exactly ``files``, rewriting only what differs."""
    for path in [p for p in folder.rglob("*") if p.is_file()]:
        if path.relative_to(folder).as_posix() not in files:
            path.unlink()
    for name, text in files.items():
        path = folder / name
        if not path.is_file() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


# -- what an index holds ------------------------------------------------------------------


@dataclass
class Snapshot:
    """Everything a clean ingest determines, and nothing it does not (times, mtimes)."""

    chunks: dict[str, tuple[object, ...]]
    documents: dict[str, tuple[object, ...]]
    access: dict[str, str]
    pending: list[tuple[str, str]]
    duplicates: list[str]
    vectors: dict[str, Any]
    """Each chunk's stored embedding."""
    unfindable: list[str]
    """Chunks the vector index does not return first for their own embedding. Reported,
    not a failure: Chroma 1.5.9 leaves a few live records unreachable by any query after
    deletes and upserts of the same ids, crash or not (chroma-core/chroma#7758, open);
    their vectors are checked against the reference, and searches for strays, below."""


def release_chroma() -> None:
    """Drop this process's Chroma clients: the next one reads what other processes wrote,
    and none is open while an ingest runs."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()
    gc.collect()


def keyword_folder(settings: Settings) -> Path:
    """Where the collection's BM25 index is saved (as ``Assistant`` names it)."""
    return settings.keyword_dir / "".join(c if c.isalnum() else "_" for c in settings.collection)


@contextmanager
def manifest_db(settings: Settings) -> Iterator[sqlite3.Connection]:
    """A read-only connection: it never checkpoints the WAL or takes the write lock."""
    uri = f"file:{settings.manifest_path}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, isolation_level=None)) as db:
        yield db


def snapshot(settings: Settings) -> Snapshot:
    from rag.retrieval.stores import open_store

    chunks: dict[str, tuple[object, ...]] = {}
    duplicates = []
    keys = ("source", "content_hash", "chunk_index", "page", "file_type")
    store: Any = open_store(settings)
    for r in store.iter_records():
        if r.id in chunks:
            duplicates.append(r.id)
        m = r.metadata
        chunks[r.id] = (*(m.get(k) for k in keys), tuple(m.get("access") or ()), r.text)
    vectors = dict(zip(chunks, store.embeddings(list(chunks)), strict=True)) if chunks else {}
    unfindable = [i for i, v in vectors.items() if [h.id for h in store.query(v, 1)] != [i]]
    del store
    release_chroma()
    where = (settings.collection,)
    with manifest_db(settings) as db:
        rows = db.execute(
            "SELECT source, content_hash, size, chunks, pages, file_type FROM documents"
            " WHERE collection=?",
            where,
        )
        documents = {str(row[0]): row[1:] for row in rows}
        access = dict(db.execute("SELECT source, principals FROM access WHERE collection=?", where))
        pending = db.execute("SELECT source, operation FROM pending").fetchall()
    return Snapshot(chunks, documents, access, pending, duplicates, vectors, unfindable)


def _keyed_diff(what: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    out = []
    for label, keys in (
        ("missing", sorted(want.keys() - got.keys())),
        ("extra", sorted(got.keys() - want.keys())),
        ("different", sorted(k for k in want.keys() & got.keys() if want[k] != got[k])),
    ):
        if keys:
            out.append(f"{len(keys)} {label} {what}, e.g. {keys[:2]}")
    return out


def differences(got: Snapshot, want: Snapshot) -> list[str]:
    out = _keyed_diff("chunks", got.chunks, want.chunks)
    out += _keyed_diff("manifest rows", got.documents, want.documents)
    out += _keyed_diff("access rows", got.access, want.access)
    if got.pending:
        out.append(f"journal entries left: {got.pending[:3]}")
    if got.duplicates:
        out.append(f"duplicate chunk ids: {got.duplicates[:3]}")
    common = sorted(want.vectors.keys() & got.vectors.keys())
    if common:
        a = np.stack([got.vectors[i] for i in common])
        b = np.stack([want.vectors[i] for i in common])
        cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        if (cosine < 0.999).any():
            out.append(f"{(cosine < 0.999).sum()} chunks with other vectors than the reference")
    return out


def index_problems(settings: Settings, want: Snapshot, embedder: Any) -> list[str]:
    """How the index in ``settings.data_dir`` differs from ``want``, or fails to work."""
    from rag.retrieval.keyword import KeywordIndex

    got = snapshot(settings)
    problems = differences(got, want)
    if got.unfindable:
        print(f"  note: {len(got.unfindable)} chunks not found by their own vector (chroma#7758)")
    a = Assistant(settings, embedder=embedder)
    try:
        problems += [f"check: {p}" for p in a.check()[:5]]
        saved = KeywordIndex.load(keyword_folder(settings))
        generation = a.manifest.generation(settings.collection)
        if saved is None or saved.generation != generation:
            problems.append(f"keyword index stale: {saved and saved.generation} != {generation}")
        elif sorted(saved.ids) != sorted(want.chunks):
            problems.append("keyword index holds other chunks than the reference")
        for mode in ("hybrid", "dense", "keyword"):
            hits = a.search("quarterly budget approval for the Leeds office", k=8, mode=mode)
            strays = [p.record.id for p in hits if p.record.id not in want.chunks]
            if not hits or strays:
                problems.append(f"{mode} search: {len(hits)} hits, not in reference: {strays}")
    finally:
        del a
        release_chroma()
    return problems


# -- killing an ingest --------------------------------------------------------------------


@dataclass(frozen=True)
class KillPoint:
    """``delay``: seconds after the start; ``commits``: the manifest's generation moved
    this many times; ``journal``: this many documents' journal entries seen open, or
    ``source``'s; ``keyword``: seconds after a new keyword index folder appeared."""

    kind: str
    amount: float = 0.0
    source: str | None = None

    def __str__(self) -> str:
        if self.source:
            return f"{self.kind} {Path(self.source).name}"
        unit = "s" if self.kind in ("delay", "keyword") else ""
        return f"{self.kind} {self.amount:.2f}{unit}" if unit else f"{self.kind} {self.amount:g}"


class Watcher:
    """Polls a running ingest's manifest (and keyword folder) for its kill point."""

    def __init__(self, settings: Settings, point: KillPoint) -> None:
        self.point = point
        uri = f"file:{settings.manifest_path}?mode=ro"
        self._db = sqlite3.connect(uri, uri=True, isolation_level=None)
        self._collection = settings.collection
        self._keyword = keyword_folder(settings)
        self._keyword_before = self._keyword_entries()
        self._keyword_seen: float | None = None
        self.start_generation = self.generation = self._generation()
        self.first_change: float | None = None
        self.journal_seen: set[str] = set()

    def close(self) -> None:
        self._db.close()

    def _generation(self) -> int:
        row = self._db.execute(
            "SELECT generation FROM generations WHERE collection=?", (self._collection,)
        ).fetchone()
        return int(row[0]) if row else 0

    def _keyword_entries(self) -> set[str]:
        return set(os.listdir(self._keyword)) if self._keyword.is_dir() else set()

    def fired(self, elapsed: float) -> bool:
        """Whether the kill point is reached (called every POLL_S)."""
        self.generation = self._generation()
        if self.first_change is None and self.generation != self.start_generation:
            self.first_change = elapsed
        open_now = {str(r[0]) for r in self._db.execute("SELECT source FROM pending")}
        self.journal_seen |= open_now
        kind, amount = self.point.kind, self.point.amount
        if kind == "delay":
            return elapsed >= amount
        if kind == "commits":
            return self.generation - self.start_generation >= amount
        if kind == "journal" and self.point.source:
            return self.point.source in open_now
        if kind == "journal":
            return bool(open_now) and len(self.journal_seen) >= amount
        if self._keyword_seen is None and self._keyword_entries() - self._keyword_before:
            self._keyword_seen = elapsed
        return self._keyword_seen is not None and elapsed >= self._keyword_seen + amount


def descendants(pid: int) -> list[int]:
    """Processes started by ``pid`` (e.g. a parser worker), from /proc."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # gone meanwhile
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        pid = todo.pop()
        kids = [p for p, parent in parents.items() if parent == pid]
        found += kids
        todo += kids
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@dataclass
class Trial:
    n: int
    version: str
    point: KillPoint
    switched_to: str | None = None
    killed_at: float = 0.0
    finished_anyway: bool = False
    generations: int = 0  # commits the killed run made
    at_kill: str = ""
    completed: str = ""
    complete_s: float = 0.0
    check_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ended(self) -> str:
        """The version on disk when the trial's completing ingest ran."""
        return self.switched_to or self.version

    def row(self) -> str:
        versions = f"{self.version}>{self.switched_to}" if self.switched_to else self.version
        killed = "finished" if self.finished_anyway else f"{self.killed_at:.1f}s"
        status = "FAIL: " + "; ".join(self.problems) if self.problems else "ok"
        summary = self.completed.replace(", failed 0, skipped 0", "")
        return (
            f"{self.n:2d} {versions:3} {self.point!s:22} {killed:>8} {self.at_kill:26} "
            f"{self.complete_s:5.1f}s {summary:70} {status}"
        )


def run_killed(trial: Trial, folder: Path, settings: Settings, env: dict[str, str]) -> None:
    """Start ``rag ingest``, SIGKILL it at the trial's kill point, record what was seen;
    a process it started that outlives it for 10 s is a problem (and is killed)."""
    log = settings.data_dir.parent / "killed.log"
    watcher = Watcher(settings, trial.point)
    with log.open("w") as out:
        proc = subprocess.Popen([*RAG, "ingest", str(folder)], env=env, stdout=out, stderr=out)
        started = time.monotonic()
        try:
            while proc.poll() is None and not watcher.fired(time.monotonic() - started):
                time.sleep(POLL_S)
            children = descendants(proc.pid)
            proc.send_signal(signal.SIGKILL)
            trial.killed_at = time.monotonic() - started
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            watcher.close()
    first = "-" if watcher.first_change is None else f"{watcher.first_change:.1f}s"
    trial.generations = moved = watcher.generation - watcher.start_generation
    trial.at_kill = f"1st write {first} gen+{moved}"
    trial.finished_anyway = proc.returncode == 0
    if proc.returncode not in (0, -signal.SIGKILL):
        trial.problems.append(f"killed run exited {proc.returncode}: {log.read_text()[-500:]}")
    deadline = time.monotonic() + 10
    while any(alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in [p for p in children if alive(p)]:
        trial.problems.append(f"process {pid} outlived the killed ingest")
        os.kill(pid, signal.SIGKILL)


def run_to_completion(trial: Trial, folder: Path, lab: Lab) -> None:
    """The ingest after the crash, through the library ``rag ingest`` calls, in this
    process: its models are already loaded (a second process per trial would double
    the module's time for no extra coverage)."""
    started = time.monotonic()
    a = Assistant(lab.settings, embedder=lab.embedder)
    try:
        report = a.ingest([folder])
    finally:
        del a
        release_chroma()
    trial.complete_s = time.monotonic() - started
    trial.completed = report.summary()
    if report.failed:
        trial.problems.append(f"ingest failed: {report.failed[:3]}")


# -- the test -----------------------------------------------------------------------------


@dataclass
class Lab:
    folder: Path
    versions: dict[str, dict[str, str]]
    references: dict[str, Snapshot]
    reference_dirs: dict[str, Path]
    settings: Settings
    env: dict[str, str]
    embedder: Any
    ingest_s: float


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    """The corpus, a clean ingest of each version, and a data dir holding version B."""
    started = time.monotonic()
    root = tmp_path_factory.mktemp("crash")
    folder = root / "corpus"
    a_files, b_files = corpus_versions()
    versions = {"A": a_files, "B": b_files}
    references, dirs, embedder, ingest_s = {}, {}, None, 0.0
    for name, files in versions.items():
        write_version(folder, files)
        settings = Settings(data_dir=root / f"reference-{name}")
        assistant = Assistant(settings, embedder=embedder)
        report = assistant.ingest([folder])
        assert not report.failed and len(report.added) == len(files), report.summary()
        embedder, ingest_s = assistant.embedder, report.seconds
        del assistant
        release_chroma()
        references[name], dirs[name] = snapshot(settings), settings.data_dir
    assert differences(references["A"], references["B"])
    trial_dir = root / "trials" / "data"
    shutil.copytree(dirs["B"], trial_dir)
    env = {k: v for k, v in os.environ.items() if k not in ("RAG_USER", "RAG_PASSWORD")}
    env["RAG_DATA_DIR"] = str(trial_dir)
    print(f"\nreferences: 2 clean ingests of {N_FILES} files in {time.monotonic() - started:.0f} s")
    trial_settings = Settings(data_dir=trial_dir)
    return Lab(folder, versions, references, dirs, trial_settings, env, embedder, ingest_s)


def kill_points(rng: random.Random, lab: Lab) -> Iterator[KillPoint]:
    """Half after a random delay, half at a moment the manifest or keyword folder shows
    (a delay and a number of commits come as fractions of a whole run's); trials 3, 7,
    11... switch the folder back after the kill (see the test)."""
    current = "B"
    for n in range(TRIALS):
        target = "A" if current == "B" else "B"
        added = sorted(lab.versions[target].keys() - lab.versions[current].keys())
        if n % 2 == 0:
            yield KillPoint("delay", rng.random())
        elif n % 8 == 1:
            yield KillPoint("commits", rng.random())
        elif n % 8 == 3:
            yield KillPoint("journal", rng.randint(1, WRITES))
        elif n % 8 == 5:
            yield KillPoint("keyword", rng.uniform(0, 0.02))
        else:  # mid-commit of a file the switch back then deletes
            yield KillPoint("journal", source=os.path.abspath(lab.folder / rng.choice(added)))
        if n % 4 != 3:
            current = target


def run_trial(lab: Lab, n: int, point: KillPoint, current: str) -> Trial:
    """Switch the folder away from ``current``, kill an ingest, complete one, compare."""
    trial = Trial(n, "A" if current == "B" else "B", point)
    write_version(lab.folder, lab.versions[trial.version])
    run_killed(trial, lab.folder, lab.settings, lab.env)
    if n % 4 == 3:  # the user changes the files back while the ingest is down
        trial.switched_to = current
        write_version(lab.folder, lab.versions[current])
    run_to_completion(trial, lab.folder, lab)
    started = time.monotonic()
    trial.problems += index_problems(lab.settings, lab.references[trial.ended], lab.embedder)
    trial.check_s = time.monotonic() - started
    if trial.problems:  # the next trial starts from a good index, not from this one
        shutil.rmtree(lab.settings.data_dir)
        shutil.copytree(lab.reference_dirs[trial.ended], lab.settings.data_dir)
    return trial


def test_sigkill_at_random_points_then_ingest_restores_the_clean_index(lab: Lab) -> None:
    started = time.monotonic()
    print(f"crash-safety seed {SEED} (RAG_CRASH_SEED={SEED} replays the kill points)")
    noop = subprocess.run(
        [*RAG, "ingest", str(lab.folder)], env=lab.env, capture_output=True, text=True, timeout=600
    )
    start_cost = time.monotonic() - started
    assert noop.returncode == 0 and f"unchanged {N_FILES}" in noop.stdout, noop.stderr
    print(f"rag ingest with nothing to do: {start_cost:.1f} s (start-up)")
    # How long a whole switch takes and how many commits it makes: first a generous
    # guess, then what the killed runs that finished before their kill point took. (A
    # guess kept for good put most kills after the end once ingests got faster and
    # commits held batches: 7 of 20 trials then killed nothing.)
    full_s = start_cost + lab.ingest_s * WRITES / N_FILES + 5.0
    full_commits = 2 * WRITES + max(ADDED, DELETED)
    trials: list[Trial] = []
    for n, point in enumerate(kill_points(random.Random(SEED), lab)):
        finished = [t for t in trials if t.finished_anyway]
        if finished:
            full_s = max(t.killed_at for t in finished)
            full_commits = max(t.generations for t in finished)
        if point.kind == "delay":
            point = dataclasses.replace(point, amount=point.amount * full_s)
        if point.kind == "commits":
            point = dataclasses.replace(point, amount=max(1, round(point.amount * full_commits)))
        trials.append(run_trial(lab, n, point, trials[-1].ended if trials else "B"))
        print(trials[-1].row(), flush=True)
    print(
        f"{len(trials)} trials in {time.monotonic() - started:.0f} s: killed runs"
        f" {sum(t.killed_at for t in trials):.0f} s, completing runs"
        f" {sum(t.complete_s for t in trials):.0f} s, checks {sum(t.check_s for t in trials):.0f} s"
    )
    table = "\n".join(t.row() for t in trials)
    failed = [t for t in trials if t.problems]
    assert not failed, f"seed {SEED}: {len(failed)} of {len(trials)} trials failed\n{table}"
