"""Parse files in a separate, confined worker process, within per-file time and memory limits.

A hostile file can keep a parser busy for hours (a PDF whose few kilobytes unpack to
millions of drawing commands), make it take gigabytes (a decompression bomb), crash
it, or exploit a bug in a parser to run code of its choosing. So
:func:`rag.ingest.parse.parse` runs in one long-lived worker process:

- started on first use as a fresh interpreter (``subprocess``, never ``fork``: the
  parent holds torch's threads), which imports every parser once and never torch,
  and inherits the parent's environment (the offline and no-telemetry switches);
- confined before it reads anything (:func:`rag.ingest.confine.confine`): no network
  (a network namespace of its own, or else Landlock's TCP rules), and no writes
  outside a private scratch folder (Landlock), which the parent creates for each
  worker (mode 0700, the worker's ``TMPDIR``) and removes with it. The worker reports
  what the kernel allowed; the parent logs it and keeps it as ``Sandbox.protections``.
  Where the kernel offers neither, the worker runs unconfined and says so;
- answered in JSON, checked field by field, never unpickled: a worker that a file
  has taken over can lie about that file's text, but cannot run code in the parent.
  A reply that breaks the protocol fails the file and the worker is replaced. Its
  error output reaches the parent's through a pipe, not the terminal itself, which
  it could otherwise type commands into (TIOCSTI);
- reused for every file. At the time limit the worker abandons the file itself (an
  alarm signal) and carries on; if it does not answer soon after, or a file grows it
  by more than the memory limit (the parent polls its RSS, and that of the programs it
  runs, such as Tesseract, every 25 ms; an address-space limit in the worker backs that
  up), or it crashes, it is killed with the programs it runs, and the next file gets a
  new one (a few seconds: the parsers' imports);
- told what to do with scans (:class:`rag.ingest.ocr.OcrOptions`) with each file, and
  it reports each page of a PDF or TIFF as it is done (``progress`` messages before the
  reply), which the parent passes on. Each page read by OCR gets a time limit of its
  own: a 300-page scan takes many times what a text file may take, yet no page may hang;
- gone when unused for five minutes, when the parent exits (atexit, or the worker
  sees its parent has died), and on Ctrl-C, which the terminal sends to both.

Not protected: the worker can read every file the user can (the documents and the
parsers' libraries must be readable) and put what it read into a reply, so into the
index; it can still connect to Unix sockets that exist as files; and the kernel
itself is as exposed to it as to any unprivileged process. A parent killed outright
leaves its scratch folder behind, emptied by the worker as it exits; the next rag
process to start a worker removes it (:func:`sweep_scratch`).

Files parse in parallel in a pool of such workers (:class:`SandboxPool`; one per core
by default, ``RAG_PARSE_WORKERS``), each a :class:`Sandbox` of its own with its own
limits, so a file that kills or hangs one worker leaves the others parsing.

Not :mod:`multiprocessing`: its spawn method re-imports the parent's ``__main__``
module in the child (a CLI, a notebook, a benchmark script), and a worker killed in a
process pool breaks the pool. The parent and the worker talk over a socket pair
through :class:`multiprocessing.connection.Connection`, in bytes only. POSIX only
(Linux; macOS unconfined and without the address-space limit).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import re
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import IO, Any

from rag.errors import ParseError, printable_path
from rag.ingest.confine import FILES, NETWORK, confine
from rag.ingest.ocr import OcrOptions, OnPage
from rag.ingest.types import Block
from rag.processes import alive

__all__ = [
    "PARSED",
    "MalformedReply",
    "OnPage",
    "ParseLimits",
    "Sandbox",
    "SandboxPool",
    "default_workers",
    "expect_files",
    "parse_in_sandbox",
    "prestart",
    "read_reply",
    "set_workers",
]

log = logging.getLogger(__name__)

#: The debug log line for each file: its path, seconds, the memory (MB) it added at most
#: as the parent saw it, and how it ended (tests read these).
PARSED = "parsed %s in %.2f s, memory +%d MB: %s"

_MB = 1 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE")
_POLL_S = 0.025
#: A worker's start (under 1 s), and its first Office file, CSV or mail, which imports
#: unstructured and loads spaCy (3-8 s, more from a cold disk), take at most this long.
_START_TIMEOUT_S = 120.0
#: How long past the time limit a worker may take to abandon a file by itself (it
#: cannot while C code, such as lxml or zlib, holds the interpreter) before it is killed.
_GRACE_S = 2.0
#: An idle worker exits after this long; the parent never uses one idle for nearly as long.
_IDLE_S = 300.0
#: The largest message either side reads: far more than the text of any file under the
#: default size cap (200 MB; a table's cells travel twice), far less than would
#: exhaust the parent's memory.
_MAX_MESSAGE = 1 << 30


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Per-file limits on parsing: wall-clock seconds and memory in MB.

    The memory limit is what parsing one file may add to the worker's memory (RSS, with
    the programs it runs), not counting the ~400 MB the parsers themselves take once
    loaded. The time limit applies to each page read by OCR as well as to the rest.
    """

    timeout_s: float = 120.0
    memory_mb: int = 2048


class Sandbox:
    """Runs :func:`rag.ingest.parse.parse` in a worker process, one file at a time.

    Thread-safe: callers take turns. ``starts`` counts the worker processes started;
    ``protections`` is how the latest worker to get ready is confined, ``{"network":
    "namespace" | "landlock" | "none", "files": "landlock" | "none"}`` (None before).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self.starts = 0
        self.protections: dict[str, str] | None = None
        self.start_s: float | None = None
        """How long the latest worker the caller had to wait for took to get ready."""
        self.parse_s: float | None = None
        """How long the latest file took, once the worker was ready."""
        self.parsing_since: float | None = None
        """When the file being parsed went to the ready worker (``time.monotonic``)."""

    def parse(
        self,
        path: Path,
        limits: ParseLimits,
        ocr: OcrOptions | None = None,
        progress: OnPage | None = None,
        opened: int | None = None,
    ) -> list[Block]:
        """The blocks of ``path``, or ParseError naming the file and the reason.
        ``progress`` is called (in this thread) as each page of a PDF or TIFF is done.
        The worker reads the file through a descriptor of this process's, ``opened``
        (the caller keeps and closes it) or one opened here: never by its path, which
        could lead elsewhere by then (see :func:`rag.ingest.discover.open_document`)."""
        if opened is None:
            with _opened(path) as fd:
                return self.parse(path, limits, ocr, progress, fd)
        with self._lock:
            worker = self._ready_worker(path)
            usage = _Usage(worker.rss())
            self.parsing_since = time.monotonic()
            try:
                request = (path, opened, limits, ocr or OcrOptions())
                return self._run(worker, request, progress, usage)
            finally:
                self.parsing_since = None
                seconds = self.parse_s = time.perf_counter() - usage.started
                log.debug(PARSED, printable_path(path), seconds, usage.peak >> 20, usage.end)

    def _run(
        self,
        worker: _Worker,
        request: tuple[Path, int, ParseLimits, OcrOptions],
        progress: OnPage | None,
        usage: _Usage,
    ) -> list[Block]:
        path, fd, limits, ocr = request
        message = {
            "path": os.fspath(path),
            "timeout_s": limits.timeout_s,
            "memory_mb": limits.memory_mb,
            "ocr": ocr.to_json(),
        }
        try:
            _send(worker.conn, message)
            _send_fd(worker.conn, fd)
            self._started(worker, path, usage)
            deadline = time.monotonic() + limits.timeout_s + _GRACE_S
            while True:
                self._wait(worker, path, limits, usage, deadline)
                kind, value = read_reply(worker.conn, path)
                if not isinstance(value, Progress):
                    break
                if value.ocr:  # the worker's clock starts again for the next page
                    deadline = time.monotonic() + limits.timeout_s + _GRACE_S
                if progress is not None:
                    _report(progress, value)
            assert not isinstance(value, Progress)
        except (EOFError, OSError):
            usage.end = "crashed"
            raise ParseError(path, _crash_reason(self._reap())) from None
        except MalformedReply:
            usage.end = "malformed reply"
            self._discard()  # whatever sent it is not to be trusted with another file
            raise
        usage.end = kind
        worker.last_used = time.monotonic()
        grown = worker.rss() - worker.fresh_rss
        if kind == "memory" or grown > limits.memory_mb * _MB / 2:
            # Memory a parser has touched is seldom given back: start afresh.
            log.info("parser worker %d grew by %d MB; replacing it", worker.pid, grown >> 20)
            self._discard()
        if isinstance(value, list):
            return value
        reasons = {"memory": _memory_reason(limits), "timeout": _time_reason(limits)}
        raise ParseError(path, reasons.get(kind, value))

    def _started(self, worker: _Worker, path: Path, usage: _Usage) -> None:
        """Wait for the worker to take up the file. It first imports the parsers that
        ``path``'s format needs if it has not yet (seconds, hundreds of MB, for the
        formats unstructured reads): that is the worker's start, not the file's, so the
        file's limits count from here."""
        if not worker.conn.poll(_START_TIMEOUT_S):
            self._discard()
            raise ParseError(
                path, f"the parser process did not take the file in {_START_TIMEOUT_S:g} s"
            )
        try:
            message = _receive(worker.conn)
            warming = message.get("warming_s")
            if (
                message.keys() != {"kind", "warming_s"}
                or message["kind"] != "started"
                or not isinstance(warming, (int, float))
                or isinstance(warming, bool)
                or not 0 <= warming <= _START_TIMEOUT_S
            ):
                raise _Invalid(f"not the started message: {str(message)[:60]}")
        except _Invalid as exc:
            self._discard()
            reason = f"the parser process sent a malformed reply ({exc}); it was stopped"
            raise MalformedReply(path, reason) from None
        if warming:
            usage.started += warming
            usage.baseline = worker.fresh_rss = worker.rss()

    def close(self) -> None:
        """Stop the worker process, if one is running (a later parse starts another)."""
        with self._lock:
            self._discard()

    def prestart(self) -> None:
        """Start the worker now without waiting for it: its start (imports) then
        overlaps what the caller does before the first file (its own imports, opening
        the store, loading the embedder)."""
        with self._lock:
            if self._worker is None:
                self._worker = _Worker()
                self.starts += 1

    def _ready_worker(self, path: Path) -> _Worker:
        worker = self._worker
        now = time.monotonic()
        if worker is not None and worker.ready:
            if now - worker.last_used < _IDLE_S - 30 and worker.process.poll() is None:
                return worker
            self._discard()  # gone, or about to exit as idle
        elif worker is not None and now - worker.spawned > _IDLE_S - 30:
            self._discard()  # started ahead long ago: about to exit as idle
        if self._worker is None:
            self._worker = _Worker()
            self.starts += 1
        worker = self._worker
        waited = time.perf_counter()
        try:
            self.protections = worker.wait_ready(_START_TIMEOUT_S)
        except (EOFError, OSError, TimeoutError, ValueError) as exc:
            self._discard()
            raise ParseError(path, f"the parser process could not start ({exc})") from exc
        waited = time.perf_counter() - waited
        if waited > _POLL_S:  # it got ready just now: how long a start takes
            self.start_s = time.monotonic() - worker.spawned
        log.info(
            "parser worker %d ready %.1f s after its start (waited %.1f s); confined: "
            "network %s, files %s",
            worker.pid,
            time.monotonic() - worker.spawned,
            waited,
            self.protections["network"],
            self.protections["files"],
        )
        return worker

    def _wait(
        self, worker: _Worker, path: Path, limits: ParseLimits, usage: _Usage, deadline: float
    ) -> None:
        """Until the worker sends something; kill it and raise ParseError past a limit."""
        while not worker.conn.poll(_POLL_S):
            if usage.observe(worker.rss()) > limits.memory_mb * _MB:
                usage.end = "killed at the memory limit"
                self._discard()
                raise ParseError(path, _memory_reason(limits))
            if time.monotonic() > deadline:
                usage.end = "killed at the time limit"
                self._discard()
                raise ParseError(path, _time_reason(limits))
            if not threading.main_thread().is_alive():  # the interpreter is exiting
                usage.end = "killed: exiting"
                self._discard()
                raise ParseError(path, "parsing was interrupted: the program is exiting")

    def _reap(self) -> int | None:
        """The exit status of a worker that died by itself; it is discarded."""
        assert self._worker is not None
        try:
            code: int | None = self._worker.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._discard()
        return code

    def _discard(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    def _forget(self) -> None:
        """In a forked child: the worker belongs to the parent; start afresh if needed."""
        self._lock = threading.Lock()
        self._worker = None


def _report(progress: OnPage, value: Progress) -> None:
    """Pass a page on; a failing callback is logged, never stops the parse."""
    try:
        progress(value.page, value.pages, value.ocr)
    except Exception:
        log.exception("page progress callback failed")


@dataclass(frozen=True, slots=True)
class Progress:
    """A page of the file being parsed is done (``pages``: how many it has, if known;
    ``ocr``: whether that page was read by OCR)."""

    page: int
    pages: int | None
    ocr: bool


@dataclass
class _Usage:
    """What parsing one file has taken so far, and how it ended: ``blocks``, ``error``
    (a reason), ``timeout`` (abandoned by the worker), ``memory`` (the worker's
    address-space limit), ``crashed``, ``malformed reply`` or ``killed at the ...
    limit``."""

    baseline: int
    started: float = field(default_factory=time.perf_counter)
    peak: int = 0
    end: str = "started"

    def observe(self, rss: int) -> int:
        """Note the worker's current RSS; the memory parsing has added."""
        self.peak = max(self.peak, rss - self.baseline)
        return rss - self.baseline


def _time_reason(limits: ParseLimits) -> str:
    return (
        f"parsing took longer than {limits.timeout_s:g} s; abandoned (limit: RAG_PARSE_TIMEOUT_S)"
    )


def _memory_reason(limits: ParseLimits) -> str:
    return (
        f"parsing needed more than {limits.memory_mb} MB of memory; abandoned "
        "(limit: RAG_PARSE_MEMORY_MB)"
    )


def _crash_reason(code: int | None) -> str:
    if code == -signal.SIGINT:
        return "parsing was interrupted (Ctrl-C)"
    if code is None:
        how = "it stopped answering"
    elif code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
        if code == -signal.SIGKILL:
            how += ", out of memory?"
    else:
        how = f"exit code {code}"
    return f"the parser crashed on this file ({how}); it may be corrupt"


class _Worker:
    """One worker process, its scratch folder and the parent's end of the connection."""

    def __init__(self) -> None:
        from rag.privacy import UNSTRUCTURED_ENV

        # The one place the worker may write (mkdtemp: mode 0700, this user's only),
        # named after this process so that a later one can tell when it is left over.
        _sweep_once()
        self.scratch = Path(tempfile.mkdtemp(prefix=f"{_SCRATCH}{os.getpid()}-"))
        parent_end, child_end = socket.socketpair()
        root = Path(__file__).resolve().parents[2]  # where the rag package lives
        code = (
            f"import sys; sys.path.insert(0, {os.fspath(root)!r}); "
            "from rag.ingest.sandbox import serve; serve()"
        )
        argv = [str(child_end.fileno()), str(os.getpid()), os.fspath(self.scratch)]
        try:
            with child_end:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", code, *argv],
                    pass_fds=(child_end.fileno(),),
                    stdin=subprocess.DEVNULL,
                    # Nothing a parser prints is wanted, and it must never mix into the
                    # parent's own output (``--json``). Errors are passed on by the
                    # parent: a process holding the terminal could type into it (TIOCSTI).
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env={**os.environ, **UNSTRUCTURED_ENV, "TMPDIR": os.fspath(self.scratch)},
                )
        except BaseException:
            parent_end.close()
            shutil.rmtree(self.scratch, ignore_errors=True)
            raise
        assert self.process.stderr is not None
        threading.Thread(target=_pass_on, args=(self.process.stderr,), daemon=True).start()
        self.pid = self.process.pid
        self.conn = Connection(parent_end.detach())
        self.fresh_rss = 0
        self.spawned = self.last_used = time.monotonic()
        self.ready = False

    def wait_ready(self, timeout: float) -> dict[str, str]:
        """Wait for the worker's first message; the protections it reports. TimeoutError,
        EOFError if it died while importing (its error is on stderr), ValueError if it
        sent something else."""
        if not self.conn.poll(timeout):
            raise TimeoutError(f"no answer in {timeout:g} s")
        protections = _protections(_receive(self.conn))
        self.fresh_rss = self.rss()
        self.last_used = time.monotonic()
        self.ready = True
        return protections

    def rss(self) -> int:
        """Resident memory in bytes of the worker and the programs it runs (Tesseract);
        0 once the process is gone."""
        total = 0
        for pid in (self.pid, *_descendants(self.pid)):
            try:
                with open(f"/proc/{pid}/statm", "rb") as fh:
                    total += int(fh.read().split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                if pid == self.pid:
                    return _psutil_rss(self.pid)
        return total

    def kill(self) -> None:
        """Kill the worker and what it runs: a Tesseract left behind would keep working."""
        children = _descendants(self.pid)
        self.conn.close()
        self.process.kill()
        self.process.wait()
        for pid in children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.scratch, ignore_errors=True)


#: How a worker's scratch folder is named: this, the parent's pid, a dash, random letters.
_SCRATCH = "rag-parse-"


@functools.cache
def _sweep_once() -> None:
    """:func:`sweep_scratch`, the first time this process starts a worker."""
    sweep_scratch(Path(tempfile.gettempdir()))


def sweep_scratch(folder: Path) -> list[Path]:
    """Remove the scratch folders in ``folder`` that a parent killed outright left behind
    (it runs no cleanup; its workers empty them as they exit): this user's own, named
    after a process that no longer exists. The removed folders. Someone else's folder,
    a link, or one of a live process (or of a pid reused since) is left alone."""
    removed = []
    for entry in folder.glob(f"{_SCRATCH}*-*"):
        pid = entry.name[len(_SCRATCH) :].split("-", 1)[0]
        if not pid.isdigit() or alive(int(pid)):
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        shutil.rmtree(entry, ignore_errors=True)  # fd-based: safe against swapped links
        removed.append(entry)
    return removed


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (Linux: /proc/PID/task/TID/children)."""
    found: list[int] = []
    todo = [pid]
    while todo and len(found) < 1000:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", "rb") as fh:
                    children = [int(c) for c in fh.read().split()]
            except (OSError, ValueError):
                continue
            found += children
            todo += children
    return found


def _pass_on(stream: IO[bytes]) -> None:
    """Copy the worker's error output to this process's, as it comes, until it exits."""
    with stream:
        while chunk := os.read(stream.fileno(), 1 << 16):
            with contextlib.suppress(OSError):  # our own stderr is closed: drop it
                while chunk:
                    chunk = chunk[os.write(2, chunk) :]


def _psutil_rss(pid: int) -> int:
    """RSS where there is no /proc (macOS); 0 if the process is gone."""
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


# -- messages ------------------------------------------------------------------------
# JSON both ways, never pickle: unpickling runs whatever code the sender names, and
# the worker is the process that reads hostile files.


class MalformedReply(ParseError):
    """The worker's reply about a file broke the protocol: the worker is broken, or a
    file has taken it over. The file fails with this reason; the worker is replaced."""


class _Invalid(ValueError):
    """A message that is not what the protocol allows."""


def _encode(message: dict[str, Any]) -> bytes:
    # Lone surrogates (the undecodable bytes of a file name) travel as themselves.
    text = json.dumps(message, ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "surrogatepass")


def _send(conn: Connection, message: dict[str, Any]) -> None:
    conn.send_bytes(_encode(message))


def _send_fd(conn: Connection, fd: int) -> None:
    """Pass the descriptor ``fd`` to the other end (SCM_RIGHTS), after a request."""
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        socket.send_fds(sock, [b"F"], [fd])


def _receive_fd(conn: Connection) -> int:
    """The descriptor the other end passed after its request (the worker's side)."""
    with socket.socket(fileno=os.dup(conn.fileno())) as sock:
        data, fds, _, _ = socket.recv_fds(sock, 1, 2)
    if data != b"F" or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        raise EOFError if not data else _Invalid("not one file descriptor")
    return fds[0]


@contextlib.contextmanager
def _opened(path: Path) -> Iterator[int]:
    """``path`` opened for a parse (see :func:`rag.ingest.discover.open_document`)."""
    from rag.ingest.discover import open_document, unreadable

    try:
        fd, _ = open_document(path)
    except OSError as exc:
        raise ParseError(path, unreadable(exc)) from None
    try:
        yield fd
    finally:
        os.close(fd)


def _receive(conn: Connection) -> dict[str, Any]:
    """The next message on ``conn``, a JSON object; _Invalid if it is anything else,
    EOFError or OSError where the other end is gone."""
    try:
        data = conn.recv_bytes(_MAX_MESSAGE)
    except OSError as exc:
        if str(exc) == "bad message length":  # declared longer than _MAX_MESSAGE
            raise _Invalid(f"a message over {_MAX_MESSAGE >> 20} MB") from None
        raise
    try:
        message = json.loads(data.decode("utf-8", "surrogatepass"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise _Invalid(f"not JSON: {data[:40]!r}") from None
    if not isinstance(message, dict):
        raise _Invalid(f"not a JSON object: {data[:40]!r}")
    return message


def read_reply(conn: Connection, path: Path) -> tuple[str, list[Block] | str | Progress]:
    """The worker's next message about ``path`` (the parent's side): ``("blocks",
    blocks)``, ``("error", reason)``, ``("timeout", "")`` or ``("memory", "")``, or
    ``("progress", Progress)`` before those. It is read as JSON and checked, never
    unpickled: MalformedReply for anything else; EOFError or OSError where the worker
    is gone."""
    try:
        message = _receive(conn)
        kind = message.get("kind")
        if kind == "progress":
            return kind, _progress(message)
        if kind == "blocks" and isinstance(message.get("blocks"), list):
            return kind, [_block(fields) for fields in message["blocks"]]
        if kind == "error" and isinstance(message.get("reason"), str):
            return kind, message["reason"]
        if kind in ("timeout", "memory"):
            return kind, ""
        raise _Invalid(f"unexpected reply {str(message)[:60]}")
    except _Invalid as exc:
        reason = f"the parser process sent a malformed reply ({exc}); it was stopped"
        raise MalformedReply(path, reason) from None


_BLOCK_FIELDS = frozenset({"text", "kind", "page", "rows"})
_OCR_BLOCK_FIELDS = _BLOCK_FIELDS | {"ocr_confidence"}


def _block(fields: object) -> Block:
    if not isinstance(fields, dict) or fields.keys() not in (_BLOCK_FIELDS, _OCR_BLOCK_FIELDS):
        raise _Invalid("a block is not an object of text, kind, page, rows (and ocr_confidence)")
    text, kind, page, rows = (fields[name] for name in ("text", "kind", "page", "rows"))
    if not isinstance(text, str) or not isinstance(kind, str):
        raise _Invalid("a block's text or kind is not a string")
    if page is not None and type(page) is not int:  # bool is an int too
        raise _Invalid("a block's page is not a whole number")
    confidence = fields.get("ocr_confidence")
    if confidence is not None and not (type(confidence) in (int, float) and 0 <= confidence <= 100):
        raise _Invalid("a block's OCR confidence is not a number from 0 to 100")
    return Block(
        text,
        kind,
        page,
        None if rows is None else _rows(rows),
        None if confidence is None else float(confidence),
    )


def _progress(message: dict[str, Any]) -> Progress:
    page, pages, ocr = message.get("page"), message.get("pages"), message.get("ocr")
    if (
        message.keys() != {"kind", "page", "pages", "ocr"}
        or type(page) is not int
        or page < 1
        or not (pages is None or (type(pages) is int and pages >= 1))
        or type(ocr) is not bool
    ):
        raise _Invalid(f"a malformed progress message {str(message)[:60]}")
    return Progress(page, pages, ocr)


def _rows(rows: object) -> tuple[tuple[str, ...], ...]:
    if isinstance(rows, list) and all(
        isinstance(row, list) and all(isinstance(cell, str) for cell in row) for row in rows
    ):
        return tuple(tuple(row) for row in rows)
    raise _Invalid("a table's rows are not lists of strings")


def _protections(message: dict[str, Any]) -> dict[str, str]:
    """The protections in the worker's first message; _Invalid if that is not one."""
    reported = message.get("protections")
    if message.get("kind") != "ready" or not isinstance(reported, dict):
        raise _Invalid(f"not the ready message: {str(message)[:60]}")
    network, files = reported.get("network"), reported.get("files")
    if network not in NETWORK or files not in FILES:
        raise _Invalid(f"unknown protections {reported}")
    return {"network": network, "files": files}


# -- the worker process --------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised by the alarm in the worker: not an Exception, so that no parser's
    ``except Exception`` can swallow it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _OutOfTime


def serve() -> None:
    """The worker's loop (in the child): parse each path sent, answer with its blocks
    or the reason it failed. Arguments: the connection's fd, the parent's pid and the
    scratch folder."""
    # First of all, while this is the only thread (see confine) and before any file.
    scratch = Path(sys.argv[3])
    protections = confine(scratch)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it quietly, with its parent
    signal.signal(signal.SIGALRM, _alarm)
    # A crash leaves no core dump: it would hold the text of a private document.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # thinc (under spaCy) imports torch when it can; no parser needs it, and it costs
    # a second and ~200 MB.
    sys.modules["torch"] = None  # type: ignore[assignment]
    conn = Connection(int(sys.argv[1]))
    parent = int(sys.argv[2])
    threading.Thread(target=_exit_with_parent, args=(parent, scratch), daemon=True).start()
    from rag.ingest.parse import warm_up

    warm_up("text")  # the light readers; the rest when a file needs them (see _warm_for)
    _send(conn, {"kind": "ready", "pid": os.getpid(), "protections": protections})
    while conn.poll(_IDLE_S):
        try:
            request = _receive(conn)
            fd = _receive_fd(conn)
        except (EOFError, OSError, _Invalid):
            return
        try:
            began = time.perf_counter()
            named = Path(request["path"])
            warming = time.perf_counter() - began if _warm_for(named) else 0.0
            _send(conn, {"kind": "started", "warming_s": warming})
            _limit_address_space(int(request["memory_mb"]))
            ocr = OcrOptions.from_json(request["ocr"])
            document = _through(fd, named, scratch)
            conn.send_bytes(_answer(conn, document, float(request["timeout_s"]), ocr))
        finally:
            os.close(fd)
            _empty(scratch)


def _through(fd: int, named: Path, scratch: Path) -> Path:
    """A path in ``scratch`` that opens the file of ``fd`` (a link to the descriptor),
    with the suffix of ``named``, the document's own path, by which parsers know its
    format. Opening it opens that very file whatever ``named`` leads to now."""
    suffix = named.suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,16}", named.suffix) else ""
    link = scratch / f"document{suffix}"
    link.unlink(missing_ok=True)
    # This process's pid, not "self": a program it runs on the file resolves it the same.
    proc = Path(f"/proc/{os.getpid()}/fd/{fd}")
    link.symlink_to(proc if proc.exists() else Path(f"/dev/fd/{fd}"))
    return link


def _warm_for(path: Path) -> bool:
    """Import the parsers ``path``'s format needs, before the file's limits apply (the
    address-space ceiling of an earlier file is lifted for it); whether any were new."""
    from rag.ingest.parse import file_type, warm_up

    try:
        kind = file_type(path)
    except ParseError:
        return False  # the parse will say why
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    return warm_up(kind)


def _answer(conn: Connection, path: Path, timeout_s: float, ocr: OcrOptions) -> bytes:
    """The reply about ``path``, encoded; one that is too big to send becomes an error.
    Progress messages go out on ``conn`` as pages are done."""
    try:
        data = _encode(_outcome(conn, path, timeout_s, ocr))
    except MemoryError:  # the text fitted the address-space limit, its encoding did not
        return _encode({"kind": "memory"})
    if len(data) > _MAX_MESSAGE:
        reason = f"the text of this file is over {_MAX_MESSAGE >> 20} MB, more than rag takes"
        return _encode({"kind": "error", "reason": reason})
    return data


def _outcome(conn: Connection, path: Path, timeout_s: float, ocr: OcrOptions) -> dict[str, Any]:
    from rag.ingest.parse import parse

    def progress(page: int, pages: int | None, read_by_ocr: bool) -> None:
        if read_by_ocr:  # each page read by OCR has the time limit to itself
            signal.setitimer(signal.ITIMER_REAL, timeout_s)
        _send(conn, {"kind": "progress", "page": page, "pages": pages, "ocr": read_by_ocr})

    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            blocks = parse(path, ocr, progress)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:
        return {"kind": "timeout"}
    except ParseError as exc:
        return {"kind": "error", "reason": exc.reason}
    except MemoryError:
        return {"kind": "memory"}
    except Exception as exc:  # a parser bug: report it, keep serving
        return {"kind": "error", "reason": f"the parser failed: {type(exc).__name__}: {exc}"}
    return {"kind": "blocks", "blocks": [_block_fields(b) for b in blocks]}


def _block_fields(block: Block) -> dict[str, Any]:
    rows = None if block.rows is None else [list(row) for row in block.rows]
    fields: dict[str, Any] = {"text": block.text, "kind": block.kind, "page": block.page}
    fields["rows"] = rows
    if block.ocr_confidence is not None:
        fields["ocr_confidence"] = block.ocr_confidence
    return fields


def _empty(folder: Path) -> None:
    """Remove what parsing a file left in the scratch folder: the next file starts
    clean, and thousands of files cannot fill the disk."""
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                entry.unlink()


def _exit_with_parent(parent: int, scratch: Path) -> None:
    """A killed parent runs no atexit: end this process too, even mid-parse, leaving no
    temporary file of a document behind (the empty folder stays: the worker may not
    remove it, and its parent cannot any more)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    _empty(scratch)
    os._exit(1)


def _limit_address_space(memory_mb: int) -> None:
    """A hard ceiling well above the parent's RSS limit, for growth faster than its polls
    (malloc then fails and the parse ends in MemoryError). Virtual memory runs ahead of
    resident memory (thread arenas, mapped files), hence the wide margin."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            current = int(fh.read().split()[0]) * _PAGE
    except OSError:
        return  # no /proc: the parent's polling alone
    ceiling = current + (2 * memory_mb + 1024) * _MB
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    with contextlib.suppress(ValueError, OSError):  # not every kernel enforces it
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))


#: What the pool assumes a worker's start costs until it has timed one (see ``_START_TIMEOUT_S``).
_START_GUESS_S = 1.0
#: Another worker must be expected to save this many times its own start (see
#: :meth:`SandboxPool._worth_another`).
_PAYBACK = 2.0


class SandboxPool:
    """Up to ``size`` :class:`Sandbox` es, each with a worker of its own, so that files
    parse in parallel. Each file goes to an idle sandbox. Each sandbox keeps its own
    limits, checks and replacement: a hostile file that kills or hangs one worker leaves
    the others parsing. Thread-safe.

    A worker's start costs up to a second of a core (imports; spaCy's load comes with
    the first file that needs it, seconds more), more than a small ingest can win back,
    so when all are busy another is started only when the files still to parse are
    expected to repay it (see :meth:`_worth_another`): callers announce them
    with :meth:`expect`. ``lazy=False`` starts one whenever all are busy (as many as
    ``size``), whatever is left to do."""

    def __init__(self, size: int = 1, lazy: bool = True) -> None:
        self._free = threading.Condition()
        self._idle: list[Sandbox] = []
        self._boxes: list[Sandbox] = []
        self._waiting = 0  # files waiting for a worker
        self._expected = 0  # files announced (:meth:`expect`) not yet waiting
        self._parse_s: float | None = None  # a file's parse, a moving average
        self._start_s = _START_GUESS_S
        self.size = max(1, size)
        self.lazy = lazy

    @property
    def starts(self) -> int:
        """Worker processes started, in all the sandboxes."""
        return sum(box.starts for box in self._boxes)

    @property
    def protections(self) -> dict[str, str] | None:
        """How the latest worker to get ready is confined (see :class:`Sandbox`)."""
        known = [box.protections for box in self._boxes if box.protections is not None]
        return known[-1] if known else None

    def resize(self, size: int) -> None:
        """At most ``size`` workers from now on (busy ones above it stop when done)."""
        with self._free:
            self.size = max(1, size)
            while len(self._boxes) > self.size and self._idle:
                box = self._idle.pop()
                self._boxes.remove(box)
                box.close()
            self._free.notify_all()

    def expect(self, files: int) -> None:
        """``files`` more files (fewer, if negative) will be parsed soon: each caller
        announces its files, and withdraws each as it starts on it (parsed or not)."""
        with self._free:
            self._expected = max(0, self._expected + files)
            self._free.notify_all()

    def parse(
        self,
        path: Path,
        limits: ParseLimits,
        ocr: OcrOptions | None = None,
        progress: OnPage | None = None,
        opened: int | None = None,
    ) -> list[Block]:
        """The blocks of ``path`` from the first idle worker (see :meth:`Sandbox.parse`)."""
        box = self._take()
        try:
            return box.parse(path, limits, ocr, progress, opened)
        finally:
            self._give(box)

    def prestart(self) -> None:
        """Start one worker now, without waiting for it (see :meth:`Sandbox.prestart`)."""
        box = self._take()
        try:
            box.prestart()
        finally:
            self._give(box)

    def close(self) -> None:
        """Stop every worker (a later parse starts others)."""
        with self._free:
            boxes = list(self._boxes)
        for box in boxes:
            box.close()

    def _take(self) -> Sandbox:
        with self._free:
            self._waiting += 1
            try:
                while True:
                    if self._idle:
                        box = self._idle.pop()
                        break
                    if len(self._boxes) < self.size and self._worth_another():
                        box = Sandbox()
                        self._boxes.append(box)
                        log.debug("parser worker %d of %d started", len(self._boxes), self.size)
                        break
                    # Woken when a worker is free or more files are announced; the
                    # timeout lets a long parse (a big scan) count as it goes on.
                    self._free.wait(timeout=1.0)
            finally:
                self._waiting -= 1
            return box

    def _worth_another(self) -> bool:
        """Whether to start another worker, all those running being busy. With ``k``
        busy and ``n`` files to go (waiting or announced) at ``p`` seconds each, one
        more saves about ``n p / k - n p / (k + 1) = n p / (k (k + 1))`` seconds at best;
        it must save ``_PAYBACK`` times its start, which takes a core from the parses
        and the embedder meanwhile. ``p``: the average parse so far, or the longest
        running one if longer; unknown before a first file, so the first file always
        runs alone: a small ingest never pays for a worker it cannot use."""
        running = len(self._boxes)
        if not self.lazy or running == 0:
            return True
        now = time.monotonic()
        since = [box.parsing_since for box in self._boxes if box.parsing_since is not None]
        longest = max((now - t for t in since), default=0.0)  # not counting starts
        per_file = max(self._parse_s or 0.0, longest if longest > self._start_s else 0.0)
        if per_file == 0.0:
            return False
        files = self._waiting + self._expected
        saved = files * per_file / (running * (running + 1))
        return saved > _PAYBACK * self._start_s

    def _give(self, box: Sandbox) -> None:
        with self._free:
            if box.parse_s is not None:
                a = 0.3  # recent files weigh most: an ingest moves from format to format
                p = self._parse_s
                self._parse_s = box.parse_s if p is None else (1 - a) * p + a * box.parse_s
                box.parse_s = None
            if box.start_s is not None:
                self._start_s = box.start_s
                box.start_s = None
            if len(self._boxes) > self.size:
                self._boxes.remove(box)
                box.close()
            else:
                self._idle.append(box)
            self._free.notify_all()

    def _forget(self) -> None:
        """In a forked child: the workers belong to the parent."""
        self._free = threading.Condition()
        self._idle, self._boxes = [], []
        self._waiting = self._expected = 0


def default_workers() -> int:
    """How many parser workers to run when not told: one per core the process may use,
    at most 8 (each takes ~40 MB, ~400 MB once it has read an Office file, CSV or mail)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


_SHARED = SandboxPool(1)
atexit.register(_SHARED.close)
os.register_at_fork(after_in_child=_SHARED._forget)


def set_workers(size: int) -> None:
    """How many parser workers this process's shared pool may run."""
    _SHARED.resize(size)


def expect_files(files: int) -> None:
    """Announce ``files`` files to be parsed soon (negative: withdraw them), so the
    shared pool knows whether another worker would pay (see :class:`SandboxPool`)."""
    _SHARED.expect(files)


def prestart() -> None:
    """Start one of this process's shared workers ahead of the first file (see
    Sandbox.prestart)."""
    _SHARED.prestart()


def parse_in_sandbox(
    path: Path,
    limits: ParseLimits,
    ocr: OcrOptions | None = None,
    progress: OnPage | None = None,
    opened: int | None = None,
) -> list[Block]:
    """Parse ``path`` (read through ``opened``, if given) in one of this process's shared
    workers (started on first use; as many as :func:`set_workers` allows at once)."""
    return _SHARED.parse(path, limits, ocr, progress, opened)
