"""Nothing leaves the machine: the full pipeline with every outbound connection failing.

The ``rag`` CLI runs in subprocesses whose interpreter loads
``_egress_guard/sitecustomize.py`` at start-up (via ``PYTHONPATH``), so the guard is
in place before chromadb, unstructured, transformers, sentence-transformers or
llama_cpp are imported. Any connect/sendto to a non-loopback address, and any
lookup of a non-local name, is logged to a file and raises. The environment passed
down has none of the telemetry / offline switches set: rag must set them itself.

``test_guard_blocks_and_logs`` shows the guard is not a no-op; the network
namespace test (``unshare -rn``, where there is no network at all) also traces
the connect/sendto syscalls with strace when it can, which covers native code
(Rust, C++) that the Python-level guard cannot see.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
RAG = BIN / "rag"
GUARD_DIR = Path(__file__).resolve().parent / "_egress_guard"
QUESTION = "How many users were affected by the March server room outage?"
INCIDENT = "incident_report_2026-03.pdf"
COMMAND_TIMEOUT_S = 600.0

#: Opt-outs the product must set for itself: none of these may reach the subprocess.
TELEMETRY_VARS = {
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "DISABLE_TELEMETRY",
    "ANONYMIZED_TELEMETRY",
    "ORT_DISABLE_TELEMETRY",
    "CHROMA_TELEMETRY",
    "DO_NOT_TRACK",
    "SCARF_NO_ANALYTICS",
    "UNSTRUCTURED_DISABLE_NOTICE",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS",
    "POSTHOG_DISABLED",
    "TRANSFORMERS_VERBOSITY",
    "TOKENIZERS_PARALLELISM",
}
_DROP_PREFIXES = (
    "RAG_",
    "HF_",
    "HUGGINGFACE",
    "TRANSFORMERS_",
    "SENTENCE_TRANSFORMERS",
    "CHROMA",
    "POSTHOG",
    "UNSTRUCTURED",
    "SCARF",
    "STREAMLIT",
    "PYTHON",
    "XDG_",
)


def _telemetry_vars() -> set[str]:
    try:  # whatever rag itself forces, too (the product's list may grow)
        from rag.privacy import OFFLINE_ENV
    except Exception:  # pragma: no cover - the CLI runs will show the breakage
        return set(TELEMETRY_VARS)
    return TELEMETRY_VARS | set(OFFLINE_ENV)


def _clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """os.environ without telemetry switches, rag settings, proxies or PYTHON*; a fresh HOME."""
    drop = _telemetry_vars()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop
        and not k.upper().startswith(_DROP_PREFIXES)
        and not k.lower().endswith("_proxy")
    }
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)  # a new user: no caches, no downloaded models
    env.update(extra)
    assert not drop & set(env), drop & set(env)
    return env


def _guard_env(tmp: Path, **extra: str) -> tuple[dict[str, str], Path, Path]:
    """A clean environment with the egress guard on; (env, egress log, starts log)."""
    log, starts = tmp / "egress.log", tmp / "guard-starts.log"
    env = _clean_env(
        tmp,
        PYTHONPATH=str(GUARD_DIR),
        RAG_EGRESS_LOG=str(log),
        RAG_EGRESS_STARTS=str(starts),
        **extra,
    )
    return env, log, starts


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _egress_report(log: Path) -> str:
    lines = _lines(log)
    if not lines:
        return ""
    out = [f"{len(lines)} outbound attempt(s):"]
    for line in lines:
        rec = json.loads(line)
        out.append(f"- {rec['call']}({rec['destination']}) from {' '.join(rec['argv'])}")
        out.extend(f"      {frame}" for frame in rec["stack"])
    return "\n".join(out)


def _run(
    cmd: list[str], env: dict[str, str], cwd: Path, log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n"
        f"--- stderr\n{proc.stderr}\n" + (_egress_report(log) if log else "")
    )
    return proc


def _corpus(sample_copy: Path) -> list[str]:
    names = sorted(p.name for p in sample_copy.iterdir() if p.suffix != ".jsonl")
    assert len(names) == 10, names
    return names


def _check_ingest(proc: subprocess.CompletedProcess[str]) -> None:
    assert "added 10" in proc.stdout and "failed 0" in proc.stdout, proc.stdout + proc.stderr


def _check_answer(stdout: str, corpus: list[str]) -> None:
    answer = json.loads(stdout)
    assert answer["refused"] is False, answer
    assert answer["answer"].strip(), answer
    cited = [Path(c["source"]).name for c in answer["citations"]]
    assert cited and set(cited) <= set(corpus), answer
    assert INCIDENT in cited, answer


# -- strace: syscall-level view, for native code ----------------------------------------

_TRACED = "connect,sendto,sendmsg,sendmmsg"
_ADDR = re.compile(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6?,\s*"([^"]+)"')


def _strace_prefix(out: Path, wrapper: list[str]) -> list[str] | None:
    """``strace`` arguments tracing network syscalls into ``out``; None if unusable here."""
    strace = shutil.which("strace")
    if not strace:
        return None
    base = [strace, "-f", "-qq", "-e", f"trace={_TRACED}", "-e", "signal=none"]
    # --seccomp-bpf stops the tracee only on the traced syscalls (much faster).
    for args in ([*base, "--seccomp-bpf", "-o"], [*base, "-o"]):
        probe = subprocess.run(
            [*wrapper, *args, os.devnull, "true"], capture_output=True, timeout=60
        )
        if probe.returncode == 0:
            return [*args, str(out)]
    return None


def _non_loopback_syscalls(trace: Path) -> list[str]:
    """Trace lines with an AF_INET/AF_INET6 destination that is not loopback."""
    found = []
    for line in _lines(trace):
        if "AF_INET" not in line:
            continue
        for v4, v6 in _ADDR.findall(line):
            ip = ipaddress.ip_address(v4 or v6)
            if not (ip.is_loopback or ip.is_unspecified):
                found.append(line)
                break
    return found


# -- the guard is real ----------------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import json, socket, sys, urllib.request
    results = {}

    def attempt(name, fn):
        try:
            fn()
        except OSError as exc:
            results[name] = type(exc).__name__ + ": " + str(exc)
        else:
            results[name] = "CONNECTED"

    def raw_connect():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect(("8.8.8.8", 53))

    def raw_connect_ex():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1)
            s.connect_ex(("9.9.9.9", 443))

    def udp_sendto():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"x", ("1.1.1.1", 53))

    attempt("create_connection", lambda: socket.create_connection(("93.184.216.34", 80), timeout=1))
    attempt("connect", raw_connect)
    attempt("connect_ex", raw_connect_ex)
    attempt("sendto", udp_sendto)
    attempt("getaddrinfo", lambda: socket.getaddrinfo("huggingface.co", 443))
    attempt("urllib", lambda: urllib.request.urlopen("https://huggingface.co/api/models", timeout=1))

    # Loopback still works.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            results["loopback"] = "CONNECTED"
    print(json.dumps(results))
    """
)


def test_guard_blocks_and_logs(tmp_path: Path) -> None:
    """Under the guard an outbound connect is logged and refused before anything is sent."""
    env, log, starts = _guard_env(tmp_path)
    trace = tmp_path / "probe.strace"
    strace = _strace_prefix(trace, []) or []
    proc = _run([*strace, sys.executable, "-c", _PROBE], env, tmp_path)
    results = json.loads(proc.stdout.strip().splitlines()[-1])

    assert results.pop("loopback") == "CONNECTED"
    for name, outcome in results.items():
        # The guard's own exception, not a timeout or "network unreachable" from the kernel.
        assert "egress blocked by test guard" in outcome, (name, outcome)
        if name != "urllib":  # urllib wraps it in a URLError
            assert outcome.startswith("EgressBlocked: "), (name, outcome)

    records = [json.loads(line) for line in _lines(log)]
    calls = [r["call"] for r in records]
    assert calls == [
        "socket.create_connection",
        "socket.connect",
        "socket.connect_ex",
        "socket.sendto",
        "socket.getaddrinfo",
        "socket.create_connection",  # urllib -> http.client
    ], calls
    assert "93.184.216.34" in records[0]["destination"]
    assert "huggingface.co" in records[-1]["destination"]
    assert any("urllib/request.py" in frame for frame in records[-1]["stack"])
    assert len(_lines(starts)) == 1  # the guard reports itself as loaded

    if strace:  # and the kernel never saw a connect/sendto to those hosts
        assert trace.exists()
        assert not _non_loopback_syscalls(trace), _non_loopback_syscalls(trace)


# -- the product -------------------------------------------------------------------------


def test_full_pipeline_makes_no_outbound_connection(sample_copy: Path, tmp_path: Path) -> None:
    corpus = _corpus(sample_copy)
    work = tmp_path / "cwd"  # no rag.toml here
    work.mkdir()
    env, log, starts = _guard_env(tmp_path, RAG_DATA_DIR=str(tmp_path / "data"))

    _check_ingest(_run([str(RAG), "ingest", str(sample_copy)], env, work, log))

    docs = json.loads(_run([str(RAG), "docs", "--json"], env, work, log).stdout)
    assert sorted(Path(d["source"]).name for d in docs) == corpus  # every format
    assert all(d["chunks"] > 0 for d in docs), docs

    _check_answer(_run([str(RAG), "ask", QUESTION, "--json"], env, work, log).stdout, corpus)

    out = _run([str(RAG), "search", QUESTION, "security incident", "--json"], env, work, log)
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(results) == 2 and all(r["results"] for r in results), results
    assert Path(results[0]["results"][0]["source"]).name == INCIDENT, results[0]

    assert not _lines(log), _egress_report(log)

    # The guard was loaded by every rag process, and none of them started with an opt-out
    # switch in its environment: the product turned telemetry off itself. (The parser
    # worker that `rag ingest` starts inherits what rag set, and is guarded too.)
    started = [json.loads(line) for line in _lines(starts)]
    ours = [r for r in started if len(r["argv"]) > 2 and r["argv"][1] == str(RAG)]
    assert [r["argv"][2] for r in ours] == ["ingest", "docs", "ask", "search"], started
    assert any("rag.ingest.sandbox" in " ".join(r["argv"]) for r in started), started
    for record in ours:
        preset = _telemetry_vars() & set(record["env"])
        assert not preset, (record["argv"], preset)


def test_full_pipeline_without_a_network(sample_copy: Path, tmp_path: Path) -> None:
    """In a network namespace with no interface up: ingest and ask still work."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare on this machine")
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip(f"unshare -rn does not work here: {probe.stderr.decode().strip()}")

    corpus = _corpus(sample_copy)
    work = tmp_path / "cwd"
    work.mkdir()
    env, log, _ = _guard_env(tmp_path, RAG_DATA_DIR=str(tmp_path / "data"))
    netns = ["unshare", "-rn"]
    traces = {name: tmp_path / f"{name}.strace" for name in ("ingest", "ask")}

    strace = _strace_prefix(traces["ingest"], netns)
    _check_ingest(
        _run([*netns, *(strace or []), str(RAG), "ingest", str(sample_copy)], env, work, log)
    )
    strace = _strace_prefix(traces["ask"], netns)
    ask = _run([*netns, *(strace or []), str(RAG), "ask", QUESTION, "--json"], env, work, log)
    _check_answer(ask.stdout, corpus)

    assert not _lines(log), _egress_report(log)
    if strace is not None:  # native code (Rust chromadb, llama.cpp, ...) tried nothing either
        for name, trace in traces.items():
            assert trace.exists(), name
            bad = _non_loopback_syscalls(trace)
            assert not bad, f"rag {name}: outbound syscalls:\n" + "\n".join(bad)
    # onnxruntime writes a telemetry device id here unless told not to.
    assert not (tmp_path / "home" / ".cache" / "Microsoft").exists()
