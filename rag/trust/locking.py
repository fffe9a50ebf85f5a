"""One writer per data directory: an advisory file lock around every change.

Two ingests on the same index at once would interleave their writes; the second
one waits for the first (up to ``Settings.lock_wait_s``) and then fails with a
message naming the process that holds the lock. Readers never take it.
The kernel drops the lock when its holder dies, even by SIGKILL.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from rag.errors import IndexBusy
from rag.privacy import private_dir

__all__ = ["IndexBusy", "WriteLock"]


class WriteLock:
    """``with WriteLock(path, wait_s):`` holds the lock: between processes (``flock``) and
    between threads of this process; re-entrant for the thread that holds it."""

    def __init__(
        self, path: Path, wait_s: float, waiting: Callable[[str], None] | None = None
    ) -> None:
        self.path = path
        self.wait_s = wait_s
        self._waiting = waiting
        self._thread = threading.RLock()
        self._fd: int | None = None
        self._depth = 0

    def held(self) -> bool:
        """Whether this process holds the lock now (some thread of it)."""
        return self._depth > 0

    def try_acquire(self) -> bool:
        """Take the lock if it is free right now."""
        if not self._thread.acquire(blocking=False):
            return False
        if self._depth == 0 and not self._flock():
            self._thread.release()
            return False
        self._depth += 1
        return True

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_s
        told = False
        while not self.try_acquire():
            if time.monotonic() >= deadline:
                raise IndexBusy(
                    f"another process is changing this index ({self.holder()}); "
                    f"waited {self.wait_s:.0f} s (RAG_LOCK_WAIT_S). Try again when it is done."
                )
            if not told and self._waiting is not None:
                self._waiting(f"waiting for another process changing this index ({self.holder()})")
                told = True
            time.sleep(0.1)

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._thread.release()

    def _flock(self) -> bool:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> str:
        try:
            pid, _, since = self.path.read_text().strip().partition(" ")
        except OSError:
            return "unknown process"
        if pid == str(os.getpid()):
            return "another thread of this process"
        return f"pid {pid}, since {since}" if pid else "unknown process"

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
