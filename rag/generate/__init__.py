"""Local chat models behind one interface; :func:`open_generator` maps settings to a backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.errors import ConfigError
from rag.generate.base import Generator, Message

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = ["Generator", "Message", "open_generator"]


def open_generator(settings: Settings) -> Generator:
    """The configured backend over the configured model (the bundled GGUF by default)."""
    from rag.models import bundled_chat_model

    if settings.llm_backend == "llama_cpp":
        from rag.generate.llama_cpp import LlamaCppGenerator

        path = settings.llm_model or bundled_chat_model()
        return LlamaCppGenerator(path, n_ctx=settings.llm_context, threads=settings.threads)
    if settings.llm_backend == "transformers":
        from rag.generate.hf import TransformersGenerator

        if settings.llm_model is None:
            raise ConfigError(
                "the transformers backend needs RAG_LLM_MODEL: a local checkpoint folder"
            )
        return TransformersGenerator(settings.llm_model, threads=settings.threads)
    raise ConfigError(f"unknown llm_backend {settings.llm_backend!r}")
