"""Generation and embeddings through real model servers, and every way they fail.

The servers are llama-cpp-python's own OpenAI-compatible server serving the bundled
GGUF, started as rag starts it (``python -m rag.models.llama_server``, with the probe's
decision about llama.cpp's fast paths applied), on free loopback ports. The failures
are real too: a port nobody listens on, a server that accepts and never answers, a
server killed in the middle of an answer, the local model process killed likewise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.models.bundled import bundled_chat_model
from tests.integration.ui_server import free_port
from tests.ui_text import shown

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RAG = [sys.executable, "-m", "rag.cli"]
QUESTION = "How many users were affected by the March server room outage?"
DOCS = ["incident_report_2026-03.pdf", "travel_expense_policy.md", "it_security_notes.txt"]


class Server:
    """``python -m rag.models.llama_server`` on a free port, as a user would start it."""

    def __init__(self, cache: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "rag.models.llama_server", str(bundled_chat_model())]
        command += ["--port", str(self.port), "--threads", "2", "--cache-dir", str(cache)]
        self.process = subprocess.Popen(
            [*command, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read().decode()  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("the model server did not start")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def chat_server(cache: Path) -> Iterator[Server]:
    server = Server(cache, "--alias", "smol")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("server-corpus")
    for name in DOCS:
        shutil.copy(ROOT / "sample_docs" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, corpus: Path, cache: Path) -> Path:
    data = tmp_path_factory.mktemp("server-data")
    report = Assistant(Settings(data_dir=data, model_cache=cache)).ingest([corpus])
    assert len(report.added) == len(DOCS)
    return data


def remote(data_dir: Path, cache: Path, url: str, model: str = "smol", **more: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        model_cache=cache,
        llm_backend="openai",
        llm_url=url,
        llm_model=model,
        **more,  # type: ignore[arg-type]
    )


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAG, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=300
    )


def cli_env(data_dir: Path, cache: Path, url: str, model: str = "smol") -> dict[str, str]:
    return {
        "RAG_DATA_DIR": str(data_dir),
        "RAG_MODEL_CACHE": str(cache),
        "RAG_LLM_BACKEND": "openai",
        "RAG_LLM_URL": url,
        "RAG_LLM_MODEL": model,
    }


# -- the local model: the probe's decision, and a crash of its process -----------------


def test_the_probe_decides_on_this_cpu_and_the_model_answers(cache: Path) -> None:
    """The smoke test of the decision on the machine that runs it (CI's CPU included)."""
    from rag.models.llama_cpp import LlamaCppGenerator

    generator = LlamaCppGenerator(bundled_chat_model(), threads=2, cache_dir=cache)
    runtime = generator.runtime
    assert runtime.reason and runtime.prefill_tps and runtime.decode_tps
    messages = [{"role": "user", "content": "What is the capital of France? One word."}]
    text = "".join(generator.stream(messages, max_tokens=8, temperature=0.0))  # type: ignore[list-item]
    assert "paris" in text.lower(), (text, runtime)
    generator.close()


def test_a_model_process_started_ahead_is_waited_for(cache: Path) -> None:
    """``rag ask`` starts the model process before retrieval; the first question must
    wait until it serves, not find no socket yet."""
    from rag.models.llama_cpp import LlamaCppGenerator

    generator = LlamaCppGenerator(bundled_chat_model(), threads=2, cache_dir=cache)
    generator.prestart()
    messages = [{"role": "user", "content": "What is the capital of France? One word."}]
    text = "".join(generator.stream(messages, max_tokens=8, temperature=0.0))  # type: ignore[list-item]
    assert "paris" in text.lower()
    generator.close()


def test_a_crash_of_the_local_model_process_mid_answer_keeps_the_question(
    data_dir: Path, cache: Path
) -> None:
    a = Assistant(Settings(data_dir=data_dir, model_cache=cache, answer_mode="generative"))
    a.generator.load()  # type: ignore[attr-defined]
    child = a.generator.server._process  # type: ignore[attr-defined]
    stream = a.ask_stream(QUESTION)
    pieces = stream.tokens()
    assert next(pieces)  # the model has begun answering
    os.kill(child.pid, signal.SIGSEGV)
    rest = list(pieces)
    answer = stream.answer
    assert answer.model_error and "died (killed by SIGSEGV)" in answer.model_error, answer
    assert answer.mode == "extractive" and "model could not answer" in answer.note
    assert answer.citations and not answer.refused, "the question still got an answer"
    assert isinstance(rest, list)
    # The next question starts a new model process and is answered by the model.
    again = a.ask(QUESTION)
    assert again.model_error is None and a.generator.server.starts == 2  # type: ignore[attr-defined]
    a.generator.close()  # type: ignore[attr-defined]


# -- a remote server: answers ---------------------------------------------------------


def test_the_openai_backend_streams_cited_checked_answers(
    data_dir: Path, cache: Path, chat_server: Server
) -> None:
    a = Assistant(
        remote(data_dir, cache, chat_server.url, answer_mode="generative", temperature=0.0)
    )
    stream = a.ask_stream(QUESTION)
    pieces = list(stream.tokens())
    answer = stream.answer
    assert len(pieces) > 1, "streamed piece by piece"
    assert answer.model_error is None and not answer.refused
    assert answer.citations and answer.sentences
    assert {s.support for s in answer.sentences} <= {"supported", "weak", "unsupported"}
    assert all(1 <= c.n <= len(answer.passages) for c in answer.citations)


def test_the_cli_answers_through_the_server(
    data_dir: Path, cache: Path, chat_server: Server
) -> None:
    out = cli(cli_env(data_dir, cache, chat_server.url), "ask", QUESTION, "--mode", "auto")
    assert out.returncode == 0, out.stderr
    assert "Sources:" in out.stdout and "incident_report_2026-03.pdf" in out.stdout


def test_the_ui_chat_answers_through_the_server(
    tmp_path: Path, data_dir: Path, cache: Path, chat_server: Server, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    at = _ui(tmp_path, data_dir, monkeypatch, cli_env(data_dir, cache, chat_server.url))
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("incident_report_2026-03.pdf" in shown(e.label) for e in at.expander)
    assert any("served by " + chat_server.url in shown(c.value) for c in at.sidebar.caption)


def _ui(tmp_path: Path, data_dir: Path, monkeypatch, env: dict[str, str]):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    # A data directory of its own: the UI keeps one Assistant per data directory. Copied
    # by another process: this one holds SQLite connections to the files (earlier tests'
    # Assistants), and closing any other descriptor of a file drops this process's POSIX
    # locks on it. The next rag process would then take itself for the only user, fold
    # the write-ahead log into the file and delete it under those connections: "database
    # disk image is malformed" a few tests later, as CI once saw.
    own = tmp_path / "data"
    subprocess.run(["cp", "-a", str(data_dir), str(own)], check=True)
    for key, value in {**env, "RAG_DATA_DIR": str(own)}.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def test_embeddings_through_the_server(tmp_path: Path, corpus: Path, cache: Path) -> None:
    server = Server(cache, "--alias", "smol-embed", "--embedding")
    try:
        settings = Settings(
            data_dir=tmp_path / "data",
            model_cache=cache,
            embed_backend="openai",
            embed_url=server.url,
            embed_model="smol-embed",
        )
        a = Assistant(settings)
        report = a.ingest([corpus])
        assert len(report.added) == len(DOCS) and not report.failed
        assert a.manifest.embedder(settings.collection) == "smol-embed:openai"
        vectors = a.embedder.embed(["per diem abroad", "compressor failure"])
        assert vectors.shape == (2, 576)
        assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
        hits = a.search("per diem for trips abroad", mode="dense")
        assert hits and all(h.source.startswith(str(corpus)) for h in hits)
        # Back to the local embedder (384 numbers a vector, not 576): the chunks move to
        # a new vector space, re-embedded from their stored text; nothing is mixed.
        local = Assistant(Settings(data_dir=tmp_path / "data", model_cache=cache))
        assert any("re-embeds" in p for p in local.check())
        again = local.ingest([corpus])
        assert again.reembedded == report.chunks_written and not again.chunks_written
        assert local.manifest.embedder(settings.collection) == local.embedder.name
        assert local.collection().store.dimension() == 384 and local.check() == []
        hits = local.search("per diem for trips abroad")
        assert hits and hits[0].source.endswith("travel_expense_policy.md")
        # A process that still holds the old space follows the switch.
        assert a.collection().store.dimension() == 384
    finally:
        server.stop()


# -- a remote server: every way it fails ----------------------------------------------


def _one_line_exit_3(out: subprocess.CompletedProcess[str], *words: str) -> str:
    assert out.returncode == 3, (out.returncode, out.stderr)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rag: "), out.stderr
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    for word in words:
        assert word in lines[0], lines[0]
    # The question is not lost: the passages' own words were shown, cited.
    assert "Sources:" in out.stdout
    return lines[0]


def test_a_dead_server_is_one_line_and_exit_3(data_dir: Path, cache: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    out = cli(cli_env(data_dir, cache, url), "ask", QUESTION)
    _one_line_exit_3(out, "cannot reach the model server", url)
    assert time.monotonic() - started < 60, "no hang"


def test_a_wrong_model_name_names_what_the_server_has(
    data_dir: Path, cache: Path, chat_server: Server
) -> None:
    out = cli(cli_env(data_dir, cache, chat_server.url, model="llama-3-70b"), "ask", QUESTION)
    _one_line_exit_3(out, "no model 'llama-3-70b'", "it serves: smol", chat_server.url)


def test_a_refused_key_says_so(data_dir: Path, cache: Path) -> None:
    server = Server(cache, "--alias", "smol", "--api-key", "s3cret")
    try:
        env = cli_env(data_dir, cache, server.url)
        out = cli({**env, "RAG_LLM_API_KEY": "wrong"}, "ask", QUESTION)
        _one_line_exit_3(out, "refused the API key", "401", server.url)
        good = cli({**env, "RAG_LLM_API_KEY": "s3cret"}, "ask", QUESTION)
        assert good.returncode == 0, good.stderr
    finally:
        server.stop()


def test_a_server_that_never_answers_times_out(data_dir: Path, cache: Path) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections (the kernel does), never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/v1"
    try:
        env = {**cli_env(data_dir, cache, url), "RAG_LLM_TIMEOUT_S": "2", "RAG_LLM_RETRIES": "1"}
        started = time.monotonic()
        out = cli(env, "ask", QUESTION)
        _one_line_exit_3(out, "did not answer within 2 s", url)
        assert time.monotonic() - started < 60
    finally:
        silent.close()


def test_a_server_killed_mid_answer_ends_in_the_extractive_answer(
    data_dir: Path, cache: Path
) -> None:
    server = Server(cache, "--alias", "smol")
    a = Assistant(remote(data_dir, cache, server.url, answer_mode="generative", max_tokens=200))
    stream = a.ask_stream(QUESTION)
    pieces = stream.tokens()
    assert next(pieces)
    server.stop()  # at once: a short answer could otherwise finish before the kill
    shown = list(pieces)
    answer = stream.answer
    assert answer.model_error and server.url in answer.model_error, answer
    assert answer.mode == "extractive" and answer.citations
    assert isinstance(shown, list)


def test_the_ui_says_the_server_is_down_and_still_answers(
    tmp_path: Path, data_dir: Path, cache: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{free_port()}/v1"
    at = _ui(tmp_path, data_dir, monkeypatch, cli_env(data_dir, cache, url))
    at.chat_input[0].set_value(QUESTION).run()
    assert not at.exception, at.exception
    errors = [shown(e.value) for e in at.error]
    assert any("cannot reach the model server" in e and url in e for e in errors), errors
    assert any("incident_report_2026-03.pdf" in shown(e.label) for e in at.expander)
