"""transformers: any local Hugging Face causal-LM checkpoint folder (e.g. a Llama 3.x instruct)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import ModelError
from rag.models.base import Message

__all__ = ["TransformersGenerator"]


class TransformersGenerator:
    """A checkpoint folder with a chat template, run by transformers on the CPU."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        if not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a Hugging Face checkpoint folder (no config.json)")
        self.path = path
        self.name = path.name
        self.threads = threads
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer

            if self.threads:
                torch.set_num_threads(self.threads)
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
                self._model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True)
            except Exception as exc:
                raise ModelError(f"cannot load {self.path} with transformers: {exc}") from exc
            self._model.eval()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        self.load()
        inputs = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = dict(
            **inputs,
            streamer=streamer,
            max_new_tokens=max_tokens,
            repetition_penalty=1.1,
            pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
        )
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=0.9)
        else:
            kwargs.update(do_sample=False)
        worker = threading.Thread(target=self._model.generate, kwargs=kwargs, daemon=True)
        worker.start()
        for text in streamer:
            if text:
                yield text
        worker.join()
