"""llama.cpp through llama-cpp-python: the default backend, for GGUF files."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.generate.base import Message

__all__ = ["LlamaCppGenerator"]


class LlamaCppGenerator:
    """A GGUF chat model run by llama.cpp on the CPU, with the chat template it carries."""

    def __init__(self, path: Path, n_ctx: int = 4096, threads: int | None = None) -> None:
        if not path.is_file():
            raise ModelError(f"GGUF model not found: {path}")
        self.path = path
        self.name = path.stem
        self.n_ctx = n_ctx
        self.threads = threads or os.cpu_count() or 1
        self._llm: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._llm is not None:
                return
            from llama_cpp import Llama

            try:
                self._llm = Llama(
                    model_path=str(self.path),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    seed=0,
                    verbose=False,
                )
            except Exception as exc:
                raise ModelError(f"cannot load {self.path} with llama.cpp: {exc}") from exc

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.load()
        # One llama.cpp context serves one generation at a time.
        with self._lock:
            chunks = self._llm.create_chat_completion(
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=0.9,
                repeat_penalty=1.1,
                stream=True,
            )
            for chunk in chunks:
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    yield text
