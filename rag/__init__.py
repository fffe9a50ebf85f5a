"""rag: a private document assistant. Ingest files, ask questions, get cited answers.

Everything runs locally. The public API is re-exported here and loads lazily:
``import rag`` does not import torch, chromadb, unstructured or streamlit.

    >>> from rag import Assistant
    >>> assistant = Assistant()                      # settings from RAG_* / rag.toml
    >>> assistant.ingest(["~/contracts"])
    >>> assistant.ask("What is the notice period?").text
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.answer.types import Answer, AnswerStream, Citation
    from rag.assistant import Assistant
    from rag.config import Settings
    from rag.errors import ConfigError, IngestError, ModelError, RagError, StoreError
    from rag.index.indexer import IngestReport
    from rag.retrieval.hybrid import Passage

__all__ = [
    "Answer",
    "AnswerStream",
    "Assistant",
    "Citation",
    "ConfigError",
    "IngestError",
    "IngestReport",
    "ModelError",
    "Passage",
    "RagError",
    "Settings",
    "StoreError",
]

_WHERE = {
    "Answer": "rag.answer.types",
    "AnswerStream": "rag.answer.types",
    "Citation": "rag.answer.types",
    "Assistant": "rag.assistant",
    "Settings": "rag.config",
    "ConfigError": "rag.errors",
    "IngestError": "rag.errors",
    "ModelError": "rag.errors",
    "RagError": "rag.errors",
    "StoreError": "rag.errors",
    "IngestReport": "rag.index.indexer",
    "Passage": "rag.retrieval.hybrid",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
