"""``RAG_CHROMA_URL``: the whole CLI against a real Chroma server on loopback.

A ``chroma run`` server (the CLI shipped with chromadb in the venv) is started on
a free port with its own data folder; ``rag ingest`` / ``docs`` / ``ask`` /
``search`` run as subprocesses pointed at it. The vectors must end up in the
server's folder, and rag must not create an embedded store of its own.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.ui_server import free_port

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
RAG = BIN / "rag"
CHROMA = BIN / "chroma"
QUESTION = "How many users were affected by the March server room outage?"
INCIDENT = "incident_report_2026-03.pdf"
COLLECTION = "rag_default"  # rag's Chroma name for the default collection
STARTUP_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class ChromaServer:
    host: str
    port: int
    path: Path
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no output)"


def _heartbeat(url: str) -> bool:
    # No proxies: a proxy from the environment must not see (or break) loopback traffic.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}/api/v2/heartbeat", timeout=2) as resp:
            return resp.status == 200 and "heartbeat" in resp.read().decode()
    except (OSError, urllib.error.URLError, ValueError):
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture()
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    if not CHROMA.exists():
        pytest.fail(f"the chroma CLI is missing from the venv: {CHROMA}")
    path = tmp_path / "chroma-server"
    log = tmp_path / "chroma-server.log"
    port = free_port()
    server = ChromaServer("127.0.0.1", port, path, log)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CHROMA), "run", "--path", str(path), "--host", server.host, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=_env(),
        )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _heartbeat(server.url):
            if proc.poll() is not None:
                pytest.fail(
                    f"chroma server exited with {proc.returncode} before answering:\n"
                    f"{server.output()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"chroma server did not answer {server.url}/api/v2/heartbeat within "
                    f"{STARTUP_TIMEOUT_S:.0f} s:\n{server.output()}"
                )
            time.sleep(0.25)
        yield server
    finally:
        _stop(proc)


def _env(**extra: str) -> dict[str, str]:
    """This environment without rag settings or proxies, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("RAG_") and not k.lower().endswith("_proxy")
    }
    env.update(extra)
    return env


def _rag(
    args: list[str], env: dict[str, str], cwd: Path, server: ChromaServer
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(RAG), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"rag {' '.join(args)} exited {proc.returncode}\n"
        f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}\n"
        f"--- chroma server\n{server.output()}"
    )
    return proc


def test_cli_against_chroma_server(
    chroma_server: ChromaServer, sample_copy: Path, tmp_path: Path
) -> None:
    data = tmp_path / "rag-data"
    work = tmp_path / "cwd"  # no rag.toml here
    work.mkdir()
    env = _env(RAG_CHROMA_URL=chroma_server.url, RAG_DATA_DIR=str(data))
    corpus = sorted(p.name for p in sample_copy.iterdir() if p.suffix != ".jsonl")
    assert len(corpus) == 10, corpus

    # -- ingest ------------------------------------------------------------------------
    ingest = _rag(["ingest", str(sample_copy)], env, work, chroma_server)
    assert "added 10" in ingest.stdout and "failed 0" in ingest.stdout, ingest.stdout

    # The vectors went to the server's folder, not to an embedded store under data/.
    assert not (data / "chroma").exists(), "rag created an embedded Chroma store"
    assert not list(data.rglob("chroma.sqlite3")), list(data.rglob("*"))
    db = chroma_server.path / "chroma.sqlite3"
    assert db.is_file(), list(chroma_server.path.rglob("*"))
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        collections = [row[0] for row in conn.execute("SELECT name FROM collections")]
        on_disk = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    assert COLLECTION in collections, collections

    # -- docs --------------------------------------------------------------------------
    docs = json.loads(_rag(["docs", "--json"], env, work, chroma_server).stdout)
    assert sorted(Path(d["source"]).name for d in docs) == corpus
    assert all(d["chunks"] > 0 for d in docs), docs
    chunks = sum(d["chunks"] for d in docs)
    assert on_disk == chunks, (on_disk, chunks)

    # -- the server itself, through chromadb's own HTTP client --------------------------
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    client = chromadb.HttpClient(
        host=chroma_server.host,
        port=chroma_server.port,
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    assert COLLECTION in [c.name for c in client.list_collections()]
    col = client.get_collection(COLLECTION)
    assert col.count() == chunks > 0
    metadatas = col.get(limit=chunks, include=["metadatas"])["metadatas"] or []
    assert {Path(str(m["source"])).name for m in metadatas} == set(corpus)

    # -- ask ---------------------------------------------------------------------------
    answer = json.loads(_rag(["ask", QUESTION, "--json"], env, work, chroma_server).stdout)
    assert answer["refused"] is False, answer
    assert answer["answer"].strip(), answer
    assert answer["citations"], answer
    cited = [Path(c["source"]).name for c in answer["citations"]]
    assert set(cited) <= set(corpus), cited
    assert INCIDENT in cited, answer

    # -- search (dense only, so the hits can only have come from the server) -----------
    out = _rag(
        ["search", QUESTION, "CRAC unit cooling failure", "--json", "--mode", "dense"],
        env,
        work,
        chroma_server,
    ).stdout
    results = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [r["query"] for r in results] == [QUESTION, "CRAC unit cooling failure"]
    for r in results:
        assert r["results"], r
        names = [Path(p["source"]).name for p in r["results"]]
        assert set(names) <= set(corpus), names
        assert names[0] == INCIDENT, names
        assert all(p["text"].strip() for p in r["results"]), r

    # Nothing rag did went behind the server's back.
    assert not (data / "chroma").exists()
    assert col.count() == chunks
