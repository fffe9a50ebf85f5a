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
    from rag.answer.types import Answer, AnswerStream, Citation, Done, Draft, Retrieved, Token
    from rag.assistant import Assistant
    from rag.config import Settings
    from rag.errors import (
        AccessDenied,
        AuthError,
        ConfigError,
        IndexBusy,
        IngestError,
        InvalidInput,
        ModelError,
        NotFound,
        ParseError,
        RagError,
        SignInThrottled,
        StoreError,
    )
    from rag.index.indexer import IngestReport
    from rag.retrieval.hybrid import Passage
    from rag.trust.accounts import User

_WHERE = {
    "Answer": "rag.answer.types",
    "AnswerStream": "rag.answer.types",
    "Citation": "rag.answer.types",
    "Done": "rag.answer.types",
    "Draft": "rag.answer.types",
    "Retrieved": "rag.answer.types",
    "Token": "rag.answer.types",
    "Assistant": "rag.assistant",
    "Settings": "rag.config",
    "AccessDenied": "rag.errors",
    "AuthError": "rag.errors",
    "ConfigError": "rag.errors",
    "IndexBusy": "rag.errors",
    "IngestError": "rag.errors",
    "InvalidInput": "rag.errors",
    "ModelError": "rag.errors",
    "NotFound": "rag.errors",
    "ParseError": "rag.errors",
    "RagError": "rag.errors",
    "SignInThrottled": "rag.errors",
    "StoreError": "rag.errors",
    "IngestReport": "rag.index.indexer",
    "Passage": "rag.retrieval.hybrid",
    "User": "rag.trust.accounts",
}
__all__ = [
    "AccessDenied",
    "Answer",
    "AnswerStream",
    "Assistant",
    "AuthError",
    "Citation",
    "ConfigError",
    "Done",
    "Draft",
    "IndexBusy",
    "IngestError",
    "IngestReport",
    "InvalidInput",
    "ModelError",
    "NotFound",
    "ParseError",
    "Passage",
    "RagError",
    "Retrieved",
    "Settings",
    "SignInThrottled",
    "StoreError",
    "Token",
    "User",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
