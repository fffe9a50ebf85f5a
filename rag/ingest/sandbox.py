"""Parse files in a separate worker process, within per-file time and memory limits.

A hostile file can keep a parser busy for hours (a PDF whose few kilobytes unpack to
millions of drawing commands), make it take gigabytes (a decompression bomb) or crash
it. So :func:`rag.ingest.parse.parse` runs in one long-lived worker process:

- started on first use as a fresh interpreter (``subprocess``, never ``fork``: the
  parent holds torch's threads), which imports every parser once and never torch,
  and inherits the parent's environment (the offline and no-telemetry switches);
- reused for every file. At the time limit the worker abandons the file itself (an
  alarm signal) and carries on; if it does not answer soon after, or a file grows it
  by more than the memory limit (the parent polls its RSS every 25 ms; an
  address-space limit in the worker backs that up), or it crashes, it is killed and
  the next file gets a new one (a few seconds: the parsers' imports);
- gone when unused for five minutes, when the parent exits (atexit, or the worker
  sees its parent has died), and on Ctrl-C, which the terminal sends to both.

Not :mod:`multiprocessing`: its spawn method re-imports the parent's ``__main__``
module in the child (a CLI, a notebook, a benchmark script), and a worker killed in a
process pool breaks the pool. The parent and the worker talk over a socket pair
through :class:`multiprocessing.connection.Connection`. POSIX only (Linux; macOS
without the address-space limit).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

from rag.errors import ParseError, printable_path
from rag.ingest.types import Block

__all__ = ["PARSED", "ParseLimits", "Sandbox", "parse_in_sandbox", "prestart"]

log = logging.getLogger(__name__)

#: The debug log line for each file: its path, seconds, the memory (MB) it added at most
#: as the parent saw it, and how it ended (tests read these).
PARSED = "parsed %s in %.2f s, memory +%d MB: %s"

_MB = 1 << 20
_PAGE = os.sysconf("SC_PAGE_SIZE")
_POLL_S = 0.025
#: Importing the parsers and loading spaCy takes 3-8 s, more from a cold disk.
_START_TIMEOUT_S = 120.0
#: How long past the time limit a worker may take to abandon a file by itself (it
#: cannot while C code, such as lxml or zlib, holds the interpreter) before it is killed.
_GRACE_S = 2.0
#: An idle worker exits after this long; the parent never uses one idle for nearly as long.
_IDLE_S = 300.0


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Per-file limits on parsing: wall-clock seconds and memory in MB.

    The memory limit is what parsing one file may add to the worker's memory (RSS),
    not counting the ~400 MB the parsers themselves take once loaded.
    """

    timeout_s: float = 120.0
    memory_mb: int = 2048


class Sandbox:
    """Runs :func:`rag.ingest.parse.parse` in a worker process, one file at a time.

    Thread-safe: callers take turns. ``starts`` counts the worker processes started.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: _Worker | None = None
        self.starts = 0

    def parse(self, path: Path, limits: ParseLimits) -> list[Block]:
        """The blocks of ``path``, or ParseError naming the file and the reason."""
        with self._lock:
            worker = self._ready_worker(path)
            usage = _Usage(worker.rss())
            try:
                return self._run(worker, path, limits, usage)
            finally:
                seconds = time.perf_counter() - usage.started
                log.debug(PARSED, printable_path(path), seconds, usage.peak >> 20, usage.end)

    def _run(self, worker: _Worker, path: Path, limits: ParseLimits, usage: _Usage) -> list[Block]:
        try:
            worker.conn.send((os.fspath(path), limits.timeout_s, limits.memory_mb))
            self._wait(worker, path, limits, usage)
            kind, value = worker.conn.recv()
        except (EOFError, OSError):
            usage.end = "crashed"
            raise ParseError(path, _crash_reason(self._reap())) from None
        usage.end = kind
        worker.last_used = time.monotonic()
        grown = worker.rss() - worker.fresh_rss
        if kind == "memory" or grown > limits.memory_mb * _MB / 2:
            # Memory a parser has touched is seldom given back: start afresh.
            log.info("parser worker %d grew by %d MB; replacing it", worker.pid, grown >> 20)
            self._discard()
        if kind == "blocks":
            blocks: list[Block] = value
            return blocks
        reasons = {"memory": _memory_reason(limits), "timeout": _time_reason(limits)}
        raise ParseError(path, reasons.get(kind, value))

    def close(self) -> None:
        """Stop the worker process, if one is running (a later parse starts another)."""
        with self._lock:
            self._discard()

    def prestart(self) -> None:
        """Start the worker now without waiting for it: its start (~4 s of imports) then
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
            worker.wait_ready(_START_TIMEOUT_S)
        except (EOFError, OSError, TimeoutError) as exc:
            self._discard()
            raise ParseError(path, f"the parser process could not start ({exc})") from exc
        log.info(
            "parser worker %d ready %.1f s after its start (waited %.1f s)",
            worker.pid,
            time.monotonic() - worker.spawned,
            time.perf_counter() - waited,
        )
        return worker

    def _wait(self, worker: _Worker, path: Path, limits: ParseLimits, usage: _Usage) -> None:
        """Until the worker answers; kill it and raise ParseError past a limit."""
        deadline = time.monotonic() + limits.timeout_s + _GRACE_S
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


@dataclass
class _Usage:
    """What parsing one file has taken so far, and how it ended: ``blocks``, ``error``
    (a reason), ``timeout`` (abandoned by the worker), ``memory`` (the worker's
    address-space limit), ``crashed`` or ``killed at the ... limit``."""

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
    """One worker process and the parent's end of the connection to it."""

    def __init__(self) -> None:
        from rag.privacy import UNSTRUCTURED_ENV

        parent_end, child_end = socket.socketpair()
        root = Path(__file__).resolve().parents[2]  # where the rag package lives
        code = (
            f"import sys; sys.path.insert(0, {os.fspath(root)!r}); "
            "from rag.ingest.sandbox import serve; serve()"
        )
        with child_end:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code, str(child_end.fileno()), str(os.getpid())],
                pass_fds=(child_end.fileno(),),
                stdin=subprocess.DEVNULL,
                # Nothing a parser prints is wanted, and it must never mix into the
                # parent's own output (``--json``); errors still reach stderr.
                stdout=subprocess.DEVNULL,
                env={**os.environ, **UNSTRUCTURED_ENV},
            )
        self.pid = self.process.pid
        self.conn = Connection(parent_end.detach())
        self.fresh_rss = 0
        self.spawned = self.last_used = time.monotonic()
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        if not self.conn.poll(timeout):
            raise TimeoutError(f"no answer in {timeout:g} s")
        self.conn.recv()  # EOFError if it died while importing (its error is on stderr)
        self.fresh_rss = self.rss()
        self.last_used = time.monotonic()
        self.ready = True

    def rss(self) -> int:
        """Resident memory in bytes (0 once the process is gone)."""
        try:
            with open(f"/proc/{self.pid}/statm", "rb") as fh:
                return int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            return _psutil_rss(self.pid)

    def kill(self) -> None:
        self.conn.close()
        self.process.kill()
        self.process.wait()


def _psutil_rss(pid: int) -> int:
    """RSS where there is no /proc (macOS); 0 if the process is gone."""
    import psutil

    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


# -- the worker process --------------------------------------------------------------


class _OutOfTime(BaseException):
    """Raised by the alarm in the worker: not an Exception, so that no parser's
    ``except Exception`` can swallow it."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise _OutOfTime


def serve() -> None:
    """The worker's loop (in the child): parse each path sent, answer with its blocks
    or the reason it failed. Arguments: the connection's fd and the parent's pid."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C ends it quietly, with its parent
    signal.signal(signal.SIGALRM, _alarm)
    # A crash leaves no core dump: it would hold the text of a private document.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # thinc (under spaCy) imports torch when it can; no parser needs it, and it costs
    # a second and ~200 MB.
    sys.modules["torch"] = None  # type: ignore[assignment]
    conn = Connection(int(sys.argv[1]))
    threading.Thread(target=_exit_with_parent, args=(int(sys.argv[2]),), daemon=True).start()
    from rag.ingest.parse import warm_up

    warm_up()
    conn.send(("ready", os.getpid()))
    while conn.poll(_IDLE_S):
        try:
            path, timeout_s, memory_mb = conn.recv()
        except (EOFError, OSError):
            return
        _limit_address_space(memory_mb)
        conn.send(_answer(Path(path), timeout_s))


def _answer(path: Path, timeout_s: float) -> tuple[str, Any]:
    from rag.ingest.parse import parse

    try:
        signal.setitimer(signal.ITIMER_REAL, timeout_s)
        try:
            return ("blocks", parse(path))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:
        return ("timeout", None)
    except ParseError as exc:
        return ("error", exc.reason)
    except MemoryError:
        return ("memory", None)
    except Exception as exc:  # a parser bug: report it, keep serving
        return ("error", f"the parser failed: {type(exc).__name__}: {exc}")


def _exit_with_parent(parent: int) -> None:
    """A killed parent runs no atexit: end this process too, even mid-parse."""
    while os.getppid() == parent:
        time.sleep(0.5)
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


_SHARED = Sandbox()
atexit.register(_SHARED.close)
os.register_at_fork(after_in_child=_SHARED._forget)


def prestart() -> None:
    """Start this process's shared worker ahead of the first file (see Sandbox.prestart)."""
    _SHARED.prestart()


def parse_in_sandbox(path: Path, limits: ParseLimits) -> list[Block]:
    """Parse ``path`` in this process's shared worker (started on first use)."""
    return _SHARED.parse(path, limits)
