"""What ``rag serve`` adds to a question: the API against a library call, same questions.

    python bench/api_latency.py            # 5 questions x 6 rounds; 16 clients x 4 questions
    python bench/api_latency.py --quick    # 1 question x 3 rounds; 4 clients x 2 (CI)

Both sides answer in extractive mode (no chat model: what is measured is the API's own
cost, not generation), over sample_docs/ in a temporary data directory with accounts, so
every API request carries and checks an API key:

* ``library``  -- ``Assistant.ask`` in this process, models loaded: the baseline.
* ``api``      -- ``POST /v1/chat/completions`` (not streamed) to ``rag serve`` on a
                  loopback port, through httpx: HTTP, the key check, JSON both ways.

Latency is per question, p50 and p95 over questions x rounds, asked one at a time;
throughput is answers per second with 16 concurrent clients (threads), for both, in the
same run. Each side runs alone (the other idle).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = [
    "How many users were affected by the March server room outage?",
    "How much notice do we have to give Acme Logistics to end the contract?",
    "What is the per diem for trips abroad?",
    "Who approves expense claims?",
    "What does the Q3 review say about revenue?",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _latencies(ask: Callable[[str], object], questions: list[str], rounds: int) -> list[float]:
    ask(questions[0])  # warm
    out = []
    for _ in range(rounds):
        for q in questions:
            started = time.perf_counter()
            ask(q)
            out.append(time.perf_counter() - started)
    return out


def _throughput(ask: Callable[[str], object], clients: int, each: int) -> float:
    def client(n: int) -> None:
        for i in range(each):
            ask(QUESTIONS[(n + i) % len(QUESTIONS)])

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return clients * each / (time.perf_counter() - started)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _server(data: Path, env: dict[str, str]):  # type: ignore[no-untyped-def]
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("rag serve did not start")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny run, so it never rots")
    args = parser.parse_args()
    questions = QUESTIONS[:1] if args.quick else QUESTIONS
    rounds, clients, each = (3, 4, 2) if args.quick else (6, 16, 4)

    from rag import Assistant, Settings

    tmp = Path(tempfile.mkdtemp(prefix="rag-api-bench-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_ANSWER_MODE": "extractive", "RAG_AUDIT_KEY_FILE": str(tmp / "audit.key")}
    os.environ["RAG_AUDIT_KEY_FILE"] = env["RAG_AUDIT_KEY_FILE"]
    a = Assistant(Settings(data_dir=tmp / "data", answer_mode="extractive"))
    a.add_user("root", "bench password", admin=True)
    admin = a.authenticate("root", "bench password")
    report = a.ingest([ROOT / "sample_docs"], user=admin)
    assert not report.failed, report.failed
    key = a.create_key("root", "bench", user=admin)

    def library(q: str) -> object:
        return a.ask(q, user=admin)

    lib = _latencies(library, questions, rounds)
    lib_rate = _throughput(library, clients, each)

    with _server(tmp / "data", env) as url:
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=300)

        def api(q: str) -> object:
            body = {"model": "default", "messages": [{"role": "user", "content": q}]}
            reply = http.post("/v1/chat/completions", json=body)
            reply.raise_for_status()
            return reply.json()

        over_http = _latencies(api, questions, rounds)
        api_rate = _throughput(api, clients, each)

    n = len(lib)
    print(f"extractive answers over sample_docs/, {n} questions asked one at a time; ")
    print(f"throughput: {clients} concurrent clients x {each} questions\n")
    print(f"{'':10} {'p50 ms':>9} {'p95 ms':>9} {'answers/s':>10}")
    for name, times, rate in (("library", lib, lib_rate), ("api", over_http, api_rate)):
        p50, p95 = statistics.median(times) * 1000, _percentile(times, 0.95) * 1000
        print(f"{name:10} {p50:9.1f} {p95:9.1f} {rate:10.2f}")
    added50 = (statistics.median(over_http) - statistics.median(lib)) * 1000
    added95 = (_percentile(over_http, 0.95) - _percentile(lib, 0.95)) * 1000
    print(
        f"{'added':10} {added50:+9.1f} {added95:+9.1f} {api_rate / lib_rate:9.2f}x"
        f"   (api p50 = {statistics.median(over_http) / statistics.median(lib):.2f}x library)"
    )


if __name__ == "__main__":
    main()
