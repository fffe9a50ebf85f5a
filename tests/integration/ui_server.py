"""``rag ui`` on a free loopback port under the egress guard, for the tests that need the
real server (a browser, raw WebSocket handshakes)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

GUARD_DIR = Path(__file__).resolve().parent / "_egress_guard"
RAG = Path(sys.executable).parent / "rag"


def free_port() -> int:
    """A loopback port nothing listens on (for any server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_ui(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, Path]]:
    """The UI's URL and the file the egress guard logs outbound attempts to."""
    port = free_port()
    egress_log = tmp_path / "egress.jsonl"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "STREAMLIT_"))}
    clean |= {"PYTHONPATH": str(GUARD_DIR), "RAG_EGRESS_LOG": str(egress_log), **(env or {})}
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(RAG), "ui", "--port", str(port), "--data-dir", str(tmp_path / "data"), *args],
            env=clean,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r,
                ):
                    if r.read() == b"ok":
                        break
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "rag ui did not come up in 120 s"
                time.sleep(0.5)
            yield url, egress_log
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
