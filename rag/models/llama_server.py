"""A GGUF model served by llama.cpp in a process of its own.

llama.cpp is C++: a bad model file, a CPU whose fast path is broken (see
:mod:`rag.models.llama_runtime`) or a bug can end the process with a segfault, which
no ``try`` catches. So rag never loads a GGUF into its own process. It starts
llama-cpp-python's OpenAI-compatible server (``llama_cpp.server``) as a child on a
private unix socket, with the runtime decision applied, and talks to it with the same
client it uses for a remote vLLM, Ollama or ``llama-server``
(:class:`rag.models.openai.OpenAIGenerator`). If the child dies, the question in
flight gets the extractive answer with a note, and the next one starts a new child.

The same entry point serves a model on a TCP port for other processes or hosts::

    rag model-server --port 8080            # the configured GGUF, fast paths decided
    python -m rag.models.llama_server MODEL --port 8080

The child holds the model resident, so questions after the first pay no load, and
llama.cpp reuses the cached prompt prefix (the system prompt) between questions.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import ModelError

__all__ = ["LlamaServer", "ServerOptions", "main"]

#: How long a new child may take to import the server and load the model.
START_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """What the child serves and how."""

    model: Path
    n_ctx: int = 4096
    threads: int = 1
    extra_buffers: bool = False
    embedding: bool = False
    alias: str | None = None
    """The model's name in the API (default: the file's stem)."""

    @property
    def name(self) -> str:
        return self.alias or self.model.stem

    def argv(self) -> list[str]:
        args = [
            str(self.model),
            "--n-ctx",
            str(self.n_ctx),
            "--threads",
            str(self.threads),
            "--extra-buffers",
            "1" if self.extra_buffers else "0",
            "--alias",
            self.name,
        ]
        return args + (["--embedding"] if self.embedding else [])


class LlamaServer:
    """One child process serving one model on a unix socket in a private folder.

    ``start`` is idempotent and waits until the model answers; ``alive`` says whether
    the child still runs; ``why_dead`` says how it ended. Thread-safe.
    """

    def __init__(self, options: ServerOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._ready = False
        self._folder: Path | None = None
        self.starts = 0

    @property
    def socket(self) -> Path:
        if self._folder is None:
            # 0700, so no other local account can reach the model (or its prompts).
            self._folder = Path(tempfile.mkdtemp(prefix="rag-llm-"))
            atexit.register(self.stop)
        return self._folder / "llm.sock"

    def start(self) -> None:
        """Start the child unless it runs; return once it serves, or raise ModelError."""
        with self._lock:
            if not self.alive():
                self._spawn()
            if not self._ready:  # just started, here or by ``prestart``
                self._wait_ready()
                self._ready = True

    def prestart(self) -> None:
        """Start the child without waiting (its start then overlaps the caller's work)."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._spawn()

    def alive(self, grace: float = 0.0) -> bool:
        """Whether the child runs; with ``grace``, after giving a child that may be dying
        (its connection just broke) that long to be seen to exit."""
        if self._process is None:
            return False
        if grace > 0:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=grace)
        return self._process.poll() is None

    def why_dead(self) -> str:
        """How the child ended, in words (``killed by SIGSEGV``...), or ``running``."""
        if self._process is None:
            return "not started"
        code = self._process.poll()
        if code is None:
            return "running"
        return _exit_words(code) + _last_error(self._log)

    def stop(self) -> None:
        with self._lock:
            if self._process is not None and self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            self._process = None
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None

    # -- inside the lock ------------------------------------------------------------

    def _spawn(self) -> None:
        self.socket.unlink(missing_ok=True)
        self._log = self.socket.with_name("server.log")
        command = [sys.executable, "-m", "rag.models.llama_server", *self.options.argv()]
        command += ["--socket", str(self.socket), "--parent", str(os.getpid())]
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # llama_cpp.server prints to stdout
                stderr=log,
                env={**os.environ, "PYTHONPATH": _package_root()},
                start_new_session=True,  # a Ctrl-C in the terminal is the parent's to handle
            )
        self._spawned = time.monotonic()
        self._ready = False
        self.starts += 1

    def _wait_ready(self) -> None:
        assert self._process is not None
        deadline = self._spawned + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ModelError(
                    f"cannot load {self.options.model} with llama.cpp: the model process "
                    f"ended ({self.why_dead()})"
                )
            if self.socket.exists() and _answers(self.socket):
                return
            time.sleep(0.05)
        self._process.kill()
        raise ModelError(
            f"the llama.cpp process did not start serving {self.options.model} "
            f"within {START_TIMEOUT_S:g} s"
        )


def _answers(socket: Path) -> bool:
    import httpx

    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=2) as c:
            return c.get("http://llm/v1/models").status_code == 200
    except httpx.HTTPError:
        return False


def _exit_words(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _last_error(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:300]}" if lines else ""


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[2])
    existing = os.environ.get("PYTHONPATH")
    return f"{root}{os.pathsep}{existing}" if existing else root


# -- the child --------------------------------------------------------------------------


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m rag.models.llama_server",
        description="Serve a GGUF model with llama.cpp (OpenAI-compatible API).",
    )
    parser.add_argument("model", type=Path)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--extra-buffers",
        choices=["0", "1", "auto"],
        default="auto",
        help="llama.cpp's fast weight layouts (AMX, repacking); auto: decided by a probe",
    )
    parser.add_argument("--alias", help="the model's name in the API (default: file stem)")
    parser.add_argument("--embedding", action="store_true", help="serve /v1/embeddings too")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--socket", type=Path, help="a unix socket to listen on")
    where.add_argument("--port", type=int, help="a TCP port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="with --port (default 127.0.0.1)")
    parser.add_argument("--api-key", default=os.environ.get("RAG_LLM_API_KEY"))
    parser.add_argument("--parent", type=int, help="exit when this process is gone")
    parser.add_argument("--cache-dir", type=Path, help="where the probe's decision is kept")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Serve a model until stopped (the child of :class:`LlamaServer`, or standalone)."""
    from rag.privacy import lock_down

    lock_down()
    args = _arguments(argv)
    if args.parent:
        threading.Thread(target=_exit_with_parent, args=(args.parent,), daemon=True).start()
    extra = args.extra_buffers
    if extra == "auto":
        from rag.config import default_cache_dir
        from rag.models.llama_runtime import choose_runtime

        runtime = choose_runtime(args.model, args.cache_dir or default_cache_dir(), args.threads)
        print(f"llama.cpp: {runtime.describe()}", file=sys.stderr, flush=True)
        extra = "1" if runtime.extra_buffers else "0"
        args.alias = args.alias or args.model.stem
        args.model = Path(runtime.weights) if runtime.weights else args.model
    from rag.models.llama_runtime import use_extra_buffers

    use_extra_buffers(extra == "1")
    app = _app(args)
    import uvicorn

    if args.socket is not None:
        with contextlib.suppress(FileNotFoundError):
            args.socket.unlink()
        os.umask(0o077)  # the socket itself: owner only
        uvicorn.run(app, uds=str(args.socket), log_level="warning")
    else:
        uvicorn.run(app, host=args.host, port=args.port or 8080, log_level="warning")


def _app(args: argparse.Namespace) -> Any:
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings
    from starlette.middleware.cors import CORSMiddleware

    server = ServerSettings(
        api_key=args.api_key or None,
        # The default ends the answer streaming when another request arrives; rag asks
        # several questions at once (a UI, eight threads): they queue instead.
        interrupt_requests=False,
    )
    model = ModelSettings(
        model=str(args.model),
        model_alias=args.alias or args.model.stem,
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        embedding=args.embedding,
        kv_overrides=_mean_pooling(args.model) if args.embedding else None,
        # Logits of every prompt token cost prefill time; only the last one is sampled.
        logits_all=False,
        seed=0,
        verbose=False,
    )
    try:
        app = create_app(server_settings=server, model_settings=[model])
    except Exception as exc:  # a bad file: say so in one line, the parent reports it
        print(f"cannot load {args.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(3)
    # No browser page may call this server (llama_cpp.server allows every origin).
    app.user_middleware = [m for m in app.user_middleware if m.cls is not CORSMiddleware]
    return app


def _mean_pooling(model: Path) -> list[str] | None:
    """A chat model declares no pooling, and llama.cpp then returns a vector per token:
    ask for their mean, one vector per text, as an embeddings endpoint should."""
    import gguf

    fields = gguf.GGUFReader(model).fields
    arch = fields.get("general.architecture")
    if arch is None:
        return None
    name = bytes(arch.parts[arch.data[0]]).decode()
    if f"{name}.pooling_type" in fields:
        return None
    return [f"{name}.pooling_type=int:1"]  # LLAMA_POOLING_TYPE_MEAN


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


if __name__ == "__main__":
    main()
