"""GGUF models on llama.cpp, the default backend, run in a child process.

See :mod:`rag.models.llama_server` for why the model never shares rag's process, and
:mod:`rag.models.llama_runtime` for how its fast paths are chosen on this CPU.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

from rag.errors import ModelError
from rag.models.base import Message
from rag.models.llama_runtime import Runtime, choose_runtime
from rag.models.llama_server import LlamaServer, ServerOptions
from rag.models.openai import OpenAIGenerator

__all__ = ["LlamaCppGenerator"]

#: A local model queues questions one at a time: a long queue is not a dead server.
_LOCAL_TIMEOUT_S = 600.0


class LlamaCppGenerator:
    """A GGUF chat model served by llama.cpp in a child process, with the chat template
    the file carries. Construction is cheap; ``load`` decides the runtime (a probe the
    first time on a machine) and starts the child."""

    def __init__(
        self,
        path: Path,
        n_ctx: int = 4096,
        threads: int | None = None,
        cache_dir: Path | None = None,
        f16: bool = True,
    ) -> None:
        if not path.is_file():
            raise ModelError(f"GGUF model not found: {path}")
        self.path = path
        self.name = path.stem
        self.n_ctx = n_ctx
        self.threads = threads or len(os.sched_getaffinity(0)) or 1
        self.cache_dir = cache_dir
        self.f16 = f16
        self._runtime: Runtime | None = None
        self._server: LlamaServer | None = None
        self._client: OpenAIGenerator | None = None
        self._lock = threading.Lock()

    @property
    def runtime(self) -> Runtime:
        """How llama.cpp runs this model here (measured once per machine and model)."""
        with self._lock:
            if self._runtime is None:
                from rag.config import default_cache_dir

                self._runtime = choose_runtime(
                    self.path, self.cache_dir or default_cache_dir(), self.threads, f16=self.f16
                )
            return self._runtime

    @property
    def server(self) -> LlamaServer:
        runtime = self.runtime
        with self._lock:
            if self._server is None:
                weights = Path(runtime.weights) if runtime.weights else self.path
                options = ServerOptions(
                    weights, self.n_ctx, self.threads, runtime.extra_buffers, alias=self.name
                )
                self._server = LlamaServer(options)
                self._client = OpenAIGenerator(
                    "http://llm/v1",
                    self.name,
                    timeout_s=_LOCAL_TIMEOUT_S,
                    retries=0,
                    uds=str(self._server.socket),
                    where="the local llama.cpp process",
                    # llama.cpp's own sampling options; seed 0: answers repeat.
                    extra={"repeat_penalty": 1.1, "seed": 0},
                )
            return self._server

    def prestart(self) -> None:
        """Begin starting the model process now (it loads while retrieval runs)."""
        self.server.prestart()

    def load(self) -> None:
        self.server.start()

    @property
    def loaded(self) -> bool:
        return self._server is not None and self._server.alive()

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        server = self.server
        server.start()  # a crashed child is replaced here, for the next question
        assert self._client is not None
        try:
            yield from self._client.stream(messages, max_tokens=max_tokens, temperature=temperature)
        except ModelError as exc:
            # A broken connection comes a moment before the child is seen to exit.
            if not server.alive(grace=2.0):
                raise ModelError(
                    f"the local llama.cpp process running {self.path.name} died "
                    f"({server.why_dead()})"
                ) from exc
            raise
