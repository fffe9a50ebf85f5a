"""The parser worker's confinement and its messages: no network, no writes outside its
scratch folder, and replies that are read as JSON, never unpickled.

Real processes throughout: a child confined by :func:`rag.ingest.confine.confine`
tries what a parser taken over by a hostile file would, and the real worker parses
every sample document under its confinement.
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.errors import ParseError
from rag.ingest.parse import SUPPORTED_SUFFIXES, parse
from rag.ingest.sandbox import (
    MalformedReply,
    ParseLimits,
    Sandbox,
    SandboxPool,
    read_reply,
    sweep_scratch,
)
from rag.ingest.types import Block
from tests.conftest import ROOT, SAMPLE_DOCS


def _landlock_abi() -> int:
    """Asked of the kernel here, independently of the code under test."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(
        0, int(libc.syscall(ctypes.c_long(444), None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    )


def _user_namespaces() -> bool:
    try:
        return (
            subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=30).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


LANDLOCK_ABI = _landlock_abi()
USER_NAMESPACES = _user_namespaces()
needs_landlock = pytest.mark.skipif(LANDLOCK_ABI < 1, reason="this kernel has no Landlock")

# Run in a child after confine(scratch): each attempt's outcome, as JSON on stdout.
_ATTEMPTS = """
import json, os, socket, sys, threading, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from rag.ingest.confine import confine

scratch, outside = Path(sys.argv[2]), Path(sys.argv[3])
port, udp_port = int(sys.argv[4]), int(sys.argv[5])
if sys.argv[6] == "threaded":  # a user namespace is refused to a multithreaded process
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
results = {"protections": confine(scratch), "netns": os.readlink("/proc/self/ns/net")}

def attempt(name, action):
    try:
        value = action()
        results[name] = "ok" if value is None else value
    except OSError as exc:
        results[name] = type(exc).__name__

def connect():
    socket.create_connection(("127.0.0.1", port), timeout=5).close()

def write_in_scratch():
    (scratch / "made").write_text("x")
    (scratch / "folder").mkdir()
    (scratch / "made").rename(scratch / "folder" / "moved")
    (scratch / "folder" / "moved").unlink()
    (scratch / "folder").rmdir()

def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"ping", ("127.0.0.1", udp_port))

attempt("connect", connect)
attempt("udp", udp)
attempt("create", lambda: (outside / "new.txt").write_text("x"))
attempt("append", lambda: (outside / "existing.txt").open("a").close())
attempt("truncate", lambda: os.truncate(outside / "existing.txt", 0))
attempt("unlink", lambda: (outside / "existing.txt").unlink())
attempt("mkdir", lambda: (outside / "folder").mkdir())
attempt("symlink", lambda: (outside / "link").symlink_to("/etc/passwd"))
attempt("move out of scratch", lambda: os.rename(scratch / "kept", outside / "moved"))
attempt("fifo", lambda: os.mkfifo(outside / "fifo"))
attempt("write in scratch", write_in_scratch)
attempt("read", lambda: (outside / "existing.txt").read_text())
attempt("read elsewhere", lambda: str(len(Path(sys.executable).read_bytes()) > 0))
attempt("devnull", lambda: open(os.devnull, "w").write("x") and None)
print(json.dumps(results))
"""


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A TCP listener on loopback, as any local service (a database, a model server)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


@pytest.fixture
def udp_listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.setblocking(False)
        yield server


def _confined_attempts(
    tmp_path: Path, listener: socket.socket, udp_listener: socket.socket, mode: str
) -> dict[str, object]:
    """What a child confined to ``tmp_path/scratch`` managed to do."""
    scratch, outside = tmp_path / "scratch", tmp_path / "outside"
    scratch.mkdir(mode=0o700)
    outside.mkdir()
    (outside / "existing.txt").write_text("before")
    (scratch / "kept").write_text("scratch file")
    ports = [str(s.getsockname()[1]) for s in (listener, udp_listener)]
    argv = [sys.executable, "-c", _ATTEMPTS, str(ROOT), str(scratch), str(outside), *ports]
    done = subprocess.run([*argv, mode], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    results: dict[str, object] = json.loads(done.stdout)
    with pytest.raises(BlockingIOError):
        listener.accept()  # no connection ever arrived
    assert (outside / "existing.txt").read_text() == "before"
    assert sorted(p.name for p in outside.iterdir()) == ["existing.txt"]
    return results


WRITES_OUTSIDE = ["create", "append", "truncate", "unlink", "mkdir", "symlink", "fifo"]


@needs_landlock
@pytest.mark.skipif(not USER_NAMESPACES, reason="unprivileged user namespaces are not allowed")
def test_a_confined_process_cannot_connect_or_write_outside_scratch(
    tmp_path: Path, listener: socket.socket, udp_listener: socket.socket
) -> None:
    results = _confined_attempts(tmp_path, listener, udp_listener, "single")
    assert results["protections"] == {"network": "namespace", "files": "landlock"}
    assert results["netns"] != os.readlink("/proc/self/ns/net")  # a network of its own
    assert results["connect"] != "ok" and results["udp"] != "ok"
    with pytest.raises(BlockingIOError):
        udp_listener.recv(16)  # no datagram arrived either
    for name in [*WRITES_OUTSIDE, "move out of scratch"]:
        assert results[name] == "PermissionError", (name, results[name])
    assert results["write in scratch"] == "ok"
    assert results["read"] == "before" and results["read elsewhere"] == "True"
    assert results["devnull"] == "ok"


@pytest.mark.skipif(LANDLOCK_ABI < 4, reason="this kernel has no Landlock TCP rules (ABI 4)")
def test_without_a_namespace_landlock_still_denies_tcp(
    tmp_path: Path, listener: socket.socket, udp_listener: socket.socket
) -> None:
    """Where a user namespace cannot be had (here: a thread already runs), Landlock's
    TCP rules stand in for the network namespace (UDP is not covered by them)."""
    results = _confined_attempts(tmp_path, listener, udp_listener, "threaded")
    assert results["protections"] == {"network": "landlock", "files": "landlock"}
    assert results["connect"] == "PermissionError"
    assert results["create"] == "PermissionError" and results["write in scratch"] == "ok"


FORMATS = {".docx", ".pdf", ".pptx", ".xlsx", ".csv", ".html", ".md", ".txt", ".eml"}
SAMPLES = sorted(p for p in SAMPLE_DOCS.iterdir() if p.suffix in SUPPORTED_SUFFIXES)


def _workers() -> set[int]:
    """The pids of this process's parser workers."""
    import psutil

    children = psutil.Process().children()
    return {c.pid for c in children if "rag.ingest.sandbox" in " ".join(c.cmdline())}


@pytest.mark.slow
@needs_landlock
@pytest.mark.skipif(not USER_NAMESPACES, reason="unprivileged user namespaces are not allowed")
def test_the_confined_worker_parses_every_sample_as_in_process() -> None:
    import psutil

    assert {p.suffix for p in SAMPLES} >= FORMATS
    others = _workers()  # this process's shared worker, if another test started it
    sandbox = Sandbox()
    try:
        for path in SAMPLES:
            blocks = sandbox.parse(path, ParseLimits(timeout_s=60, memory_mb=1024))
            assert blocks == parse(path), path.name
            assert len("".join(b.text for b in blocks)) > 300, path.name
        assert sandbox.protections == {"network": "namespace", "files": "landlock"}
        (worker,) = _workers() - others
        scratch = Path(psutil.Process(worker).cmdline()[-1])
        assert scratch.is_dir() and scratch.stat().st_mode & 0o777 == 0o700
        assert not list(scratch.iterdir())  # emptied after each file
    finally:
        sandbox.close()
    assert not scratch.exists()  # removed with its worker


def test_a_workers_parsers_load_on_first_need_outside_the_files_limits() -> None:
    """A worker starts with the readers of HTML, Markdown, text and PDF; its first Office
    file makes it import unstructured and load spaCy (seconds, hundreds of MB). That is
    the worker's start, not the file's: a small DOCX and then a PDF parse under limits far
    below that load, and the worker is kept for the next file."""
    text = SAMPLE_DOCS / "it_security_notes.txt"
    docx = SAMPLE_DOCS / "employee_handbook.docx"
    pdf = SAMPLE_DOCS / "incident_report_2026-03.pdf"
    tight = ParseLimits(timeout_s=1.5, memory_mb=120)
    sandbox = Sandbox()
    try:
        assert sandbox.parse(text, tight) == parse(text)
        assert sandbox.parse(pdf, tight) == parse(pdf)
        assert sandbox._worker is not None
        assert sandbox._worker.rss() < 150 * 2**20  # no spaCy yet: ~50 MB, not ~370
        assert sandbox.parse(docx, tight) == parse(docx)
        assert sandbox.parse(docx, tight) == parse(docx)
        assert sandbox.starts == 1
    finally:
        sandbox.close()


def test_a_worker_starts_without_the_settings_or_the_heavy_libraries() -> None:
    """Every ingest starts a worker before its first file, so what the worker imports to
    serve text files is paid each time: pydantic (for ``rag.config``) cost ~0.2 s of a
    ~0.5 s start, 6 % of an ingest of 300 small files. Imported here as the worker
    imports itself, in a fresh interpreter."""
    heavy = ("pydantic", "rag.config", "numpy", "unstructured", "torch", "chromadb")
    code = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
        "from rag.ingest.sandbox import serve; from rag.ingest.parse import warm_up; "
        f"warm_up('text'); print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_pool_parses_at_once_and_a_hostile_file_stops_only_its_own_worker(
    tmp_path: Path,
) -> None:
    """Two workers: while one is killed at the memory limit by a hostile file, the other
    parses good files; the pool then carries on with a fresh worker. (``lazy=False``:
    the second worker starts at once, though four files would not repay its start.)"""
    from concurrent.futures import ThreadPoolExecutor

    big = tmp_path / "big.txt"
    big.write_text(("many words in a paragraph " * 40 + "\n\n") * 40_000, encoding="utf-8")
    good = SAMPLE_DOCS / "it_security_notes.txt"
    expected = parse(good)
    pool = SandboxPool(2, lazy=False)
    limits = ParseLimits(timeout_s=120, memory_mb=1024)
    try:
        with ThreadPoolExecutor(2) as threads:
            hostile = threads.submit(pool.parse, big, ParseLimits(timeout_s=120, memory_mb=100))
            goods = [threads.submit(pool.parse, good, limits) for _ in range(3)]
            assert [f.result() for f in goods] == [expected] * 3
            with pytest.raises(ParseError, match="memory"):
                hostile.result()
        assert pool.starts >= 2  # each in a worker of its own
        assert pool.parse(good, limits) == expected  # the killed one is replaced
    finally:
        pool.close()


def test_a_pool_starts_a_second_worker_only_for_work_that_repays_it() -> None:
    """Ten small files announced and parsed two at a time: one worker parses them all
    (a second one's start would cost more than it saves). Once enough work is announced
    to repay a start, the next file that finds every worker busy gets a worker of its
    own."""
    from concurrent.futures import ThreadPoolExecutor

    good = SAMPLE_DOCS / "it_security_notes.txt"
    expected = parse(good)
    limits = ParseLimits(timeout_s=120, memory_mb=1024)
    pool = SandboxPool(2)

    def one() -> list[Block]:
        pool.expect(-1)
        return pool.parse(good, limits)

    try:
        pool.expect(10)
        with ThreadPoolExecutor(2) as threads:
            assert [f.result() for f in [threads.submit(one) for _ in range(10)]] == [expected] * 10
        assert pool.starts == 1
        # As many files as would take 5 x the measured start to parse on one worker: a
        # second worker saves about half that, more than twice its start.
        assert pool._parse_s is not None
        pool.expect(round(5 * pool._start_s / pool._parse_s))
        with pool._free:  # were the one worker busy:
            assert pool._worth_another()
            pool.expect(-(10**9))
            assert not pool._worth_another()  # no more to come: not worth it
    finally:
        pool.close()


# -- messages -----------------------------------------------------------------------------


class _Trap:
    """Creates ``marker`` when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def test_the_parent_never_unpickles_a_reply(tmp_path: Path) -> None:
    from multiprocessing.connection import Connection

    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps(_Trap(proof))).close()
    assert proof.exists()  # the payload is live: unpickling it does create its file

    marker = tmp_path / "marker"
    worker_end, parent_end = socket.socketpair()
    with Connection(worker_end.detach()) as sender, Connection(parent_end.detach()) as receiver:
        sender.send(("blocks", _Trap(marker)))  # Connection.send pickles
        with pytest.raises(ParseError, match="the parser process sent a malformed reply") as caught:
            read_reply(receiver, tmp_path / "doc.pdf")
    assert isinstance(caught.value, MalformedReply)
    assert not marker.exists()


def _reply_to(raw: bytes, tmp_path: Path) -> tuple[str, list[Block] | str]:
    """What the parent makes of ``raw`` arriving as one message."""
    from multiprocessing.connection import Connection

    worker_end, parent_end = socket.socketpair()
    with Connection(worker_end.detach()) as sender, Connection(parent_end.detach()) as receiver:
        sender.send_bytes(raw)
        return read_reply(receiver, tmp_path / "doc.txt")


def test_a_well_formed_reply_becomes_blocks(tmp_path: Path) -> None:
    fields = [
        {"text": "Prices", "kind": "Title", "page": None, "rows": None},
        {"text": "a b", "kind": "Table", "page": 2, "rows": [["a", "b"], ["\udce9", "2"]]},
    ]
    raw = json.dumps({"kind": "blocks", "blocks": fields}, ensure_ascii=False)
    kind, blocks = _reply_to(raw.encode("utf-8", "surrogatepass"), tmp_path)
    assert (kind, blocks) == (
        "blocks",
        [Block("Prices", "Title"), Block("a b", "Table", 2, (("a", "b"), ("\udce9", "2")))],
    )
    assert _reply_to(b'{"kind": "error", "reason": "encrypted PDF"}', tmp_path) == (
        "error",
        "encrypted PDF",
    )


def test_progress_and_ocr_confidence_are_read_and_checked(tmp_path: Path) -> None:
    from rag.ingest.sandbox import Progress

    assert _reply_to(b'{"kind": "progress", "page": 37, "pages": 300, "ocr": true}', tmp_path) == (
        "progress",
        Progress(37, 300, True),
    )
    assert _reply_to(b'{"kind": "progress", "page": 2, "pages": null, "ocr": false}', tmp_path) == (
        "progress",
        Progress(2, None, False),
    )
    fields = [{"text": "Signed", "kind": "Title", "page": 2, "rows": None, "ocr_confidence": 91.5}]
    reply = _reply_to(json.dumps({"kind": "blocks", "blocks": fields}).encode(), tmp_path)
    blocks = reply[1]
    assert reply[0] == "blocks"
    assert blocks == [Block("Signed", "Title", 2, None, 91.5)]
    assert isinstance(blocks, list) and blocks[0].ocr


MALFORMED = {
    "not JSON": b"\x80\x04 not json",
    "not an object": b'["blocks", []]',
    "unknown kind": b'{"kind": "exec", "code": "import os"}',
    "blocks not a list": b'{"kind": "blocks", "blocks": "text"}',
    "missing field": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "Title"}]}',
    "extra field": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "T", "page": 1, "rows": null, "py": 1}]}',
    "text not a string": b'{"kind": "blocks", "blocks": [{"text": 1, "kind": "T", "page": 1, "rows": null}]}',
    "page a bool": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "T", "page": true, "rows": null}]}',
    "rows not strings": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "T", "page": 1, "rows": [[1]]}]}',
    "reason not a string": b'{"kind": "error", "reason": {"a": 1}}',
    "confidence a string": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "T", "page": 1, "rows": null, "ocr_confidence": "99"}]}',
    "confidence a bool": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "T", "page": 1, "rows": null, "ocr_confidence": true}]}',
    "confidence over 100": b'{"kind": "blocks", "blocks": [{"text": "x", "kind": "T", "page": 1, "rows": null, "ocr_confidence": 250}]}',
    "progress page 0": b'{"kind": "progress", "page": 0, "pages": 3, "ocr": true}',
    "progress page a string": b'{"kind": "progress", "page": "1", "pages": 3, "ocr": true}',
    "progress extra field": b'{"kind": "progress", "page": 1, "pages": 3, "ocr": true, "x": 1}',
    "progress ocr not a bool": b'{"kind": "progress", "page": 1, "pages": null, "ocr": 1}',
    "nested too deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_reply_is_a_parse_error(tmp_path: Path, raw: bytes) -> None:
    with pytest.raises(MalformedReply, match="malformed reply"):
        _reply_to(raw, tmp_path)


def test_an_enormous_reply_is_refused_unread(tmp_path: Path) -> None:
    """A reply that declares a terabyte is refused from its header: no allocation."""
    from multiprocessing.connection import Connection

    worker_end, parent_end = socket.socketpair()
    with worker_end, Connection(parent_end.detach()) as receiver:
        worker_end.sendall(struct.pack("!i", -1) + struct.pack("!Q", 1 << 40))
        with pytest.raises(MalformedReply, match="over 1024 MB"):
            read_reply(receiver, tmp_path / "doc.txt")


def test_a_killed_parents_scratch_folder_is_removed_by_the_next(tmp_path: Path) -> None:
    """A parent killed outright runs no cleanup, so its worker's scratch folder stayed in
    the temporary folder for good (one per worker per killed ingest); the next process
    to start a worker removes it. A live process's folder and a link stay."""
    code = (
        f"import os, signal, sys; sys.path.insert(0, {str(ROOT)!r}); from pathlib import Path; "
        "from rag.ingest.sandbox import ParseLimits, Sandbox; "
        "assert Sandbox().parse(Path(sys.argv[1]), ParseLimits()); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code, str(SAMPLE_DOCS / "it_security_notes.txt")],
        env={**os.environ, "TMPDIR": str(tmp_path)},
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9
    left = list(tmp_path.glob("rag-parse-*"))
    assert len(left) == 1 and left[0].is_dir()
    live = tmp_path / f"rag-parse-{os.getpid()}-live"
    live.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "rag-parse-999999999-link").symlink_to(elsewhere)
    assert sweep_scratch(tmp_path) == left
    assert not left[0].exists() and live.is_dir() and elsewhere.is_dir()
    assert (tmp_path / "rag-parse-999999999-link").is_symlink()
