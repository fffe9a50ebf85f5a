"""The model contracts: a chat model streams text for messages; an embedder turns text
into unit vectors. Each backend is one small class implementing one of these."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, TypedDict

import numpy as np

__all__ = ["Embedder", "Generator", "Message"]


class Message(TypedDict):
    role: str
    content: str


class Generator(Protocol):
    """A chat model.

    Contract: construction is cheap; ``load`` makes the model ready (idempotent, and
    called by ``stream`` if needed); ``stream`` yields text pieces as the model
    produces them, stops after ``max_tokens`` tokens or the end of the answer, and
    raises :class:`rag.errors.ModelError` (one line naming the model or server) when
    the model fails, before or during the answer.
    """

    name: str

    def load(self) -> None: ...

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]: ...


class Embedder(Protocol):
    """Turns text into unit-length vectors.

    Contract: ``embed`` returns a float32 array of shape ``(len(texts), dim)`` whose
    rows have unit norm, so a dot product is a cosine similarity; ``tokenize``
    returns the model's own tokens, so chunk sizes are counted as the model reads.
    """

    name: str
    """Identifies the vectors: model and backend. The index records it, and an ingest
    re-embeds a collection whose vectors came from another embedder."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def tokenize(self, text: str) -> list[int]: ...
