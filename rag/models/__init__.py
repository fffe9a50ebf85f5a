"""The models: chat models (generators) and embedders, local or behind a server.

:func:`open_generator` and :func:`open_embedder` map settings to a backend; nothing
loads until first use, and importing this package imports no model library.

====================  =========================================================
``llm_backend``       what answers
====================  =========================================================
``llama_cpp``         a GGUF file, served by llama.cpp in a child process
``transformers``      a Hugging Face checkpoint folder, in this process (torch)
``openai``            any OpenAI-compatible server (vLLM, Ollama, llama-server)
====================  =========================================================

``embed_backend``: ``onnx-int8`` / ``torch`` / ``auto`` for a local
sentence-transformers folder, ``openai`` for an embeddings server.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import ConfigError
from rag.models.base import Embedder, Generator, Message

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = ["Embedder", "Generator", "Message", "open_embedder", "open_generator"]


def open_generator(settings: Settings) -> Generator:
    """The configured chat model (the bundled GGUF on llama.cpp by default)."""
    backend = settings.llm_backend
    if backend == "openai":
        from rag.models.openai import OpenAIGenerator

        if not settings.llm_url or not settings.llm_model:
            raise ConfigError(
                "the openai backend needs RAG_LLM_URL (e.g. http://gpu-box:8000/v1) and "
                "RAG_LLM_MODEL (the model's name on that server)"
            )
        return OpenAIGenerator(
            settings.llm_url,
            settings.llm_model,
            api_key=_secret(settings.llm_api_key),
            timeout_s=settings.llm_timeout_s,
            retries=settings.llm_retries,
        )
    if backend == "llama_cpp":
        from rag.models.bundled import bundled_chat_model
        from rag.models.llama_cpp import LlamaCppGenerator

        path = Path(settings.llm_model).expanduser() if settings.llm_model else None
        return LlamaCppGenerator(
            path or bundled_chat_model(),
            n_ctx=settings.llm_context,
            threads=settings.threads,
            cache_dir=settings.model_cache,
            f16=settings.llm_f16,
        )
    if backend == "transformers":
        from rag.models.transformers import TransformersGenerator

        if settings.llm_model is None:
            raise ConfigError(
                "the transformers backend needs RAG_LLM_MODEL: a local checkpoint folder"
            )
        return TransformersGenerator(Path(settings.llm_model).expanduser(), settings.threads)
    raise ConfigError(f"unknown llm_backend {backend!r}")


def open_embedder(settings: Settings) -> Embedder:
    """The configured embedder: an embeddings server (``openai``), else the local
    sentence-transformers folder as an int8 ONNX graph or on torch."""
    if settings.embed_backend == "openai":
        from rag.models.embed import bundled_tokenizer
        from rag.models.openai import OpenAIEmbedder

        if not settings.embed_url or not settings.embed_model:
            raise ConfigError(
                "the openai embed backend needs RAG_EMBED_URL (e.g. http://gpu-box:8000/v1) "
                "and RAG_EMBED_MODEL (the embedding model's name on that server)"
            )
        return OpenAIEmbedder(
            settings.embed_url,
            settings.embed_model,
            bundled_tokenizer(),
            api_key=_secret(settings.embed_api_key),
            batch_size=settings.embed_batch_size,
            timeout_s=settings.llm_timeout_s,
            retries=settings.llm_retries,
        )
    from rag.models.embed import local_embedder

    return local_embedder(settings)


def _secret(value: object) -> str | None:
    if value is None:
        return None
    reveal = getattr(value, "get_secret_value", None)
    return str(reveal()) if reveal else str(value)
