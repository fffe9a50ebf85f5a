"""Text -> vectors, behind a small interface; sentence-transformers by default."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import ModelError

__all__ = ["Embedder", "SentenceTransformerEmbedder"]


class Embedder(Protocol):
    """Turns text into unit-length vectors.

    Contract: ``embed`` returns a float32 array of shape ``(len(texts), dim)`` whose
    rows have unit norm, so a dot product is a cosine similarity; ``tokenize``
    returns the model's own tokens, so chunk sizes are counted as the model reads.
    """

    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def tokenize(self, text: str) -> list[int]: ...


class SentenceTransformerEmbedder:
    """A local sentence-transformers model folder. The model loads on first use."""

    def __init__(self, path: Path, batch_size: int = 32, device: str = "cpu") -> None:
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a sentence-transformers model folder")
        self.path = path
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_lock = threading.Lock()
        self.name = path.name if path.name != "model" else path.parent.name
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer

                try:
                    self._model = SentenceTransformer(
                        str(self.path), device=self.device, local_files_only=True
                    )
                except Exception as exc:
                    raise ModelError(f"cannot load embedding model {self.path}: {exc}") from exc
            return self._model

    @property
    def max_tokens(self) -> int:
        return int(self.model.max_seq_length)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        """The query's vector; the last few hundred are remembered (a question is
        embedded for retrieval, relevance and the support check)."""
        with self._query_lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector = self.embed([text])[0]
        vector.flags.writeable = False
        with self._query_lock:
            self._queries[text] = vector
            if len(self._queries) > 512:
                self._queries.popitem(last=False)
        return vector

    def tokenize(self, text: str) -> list[int]:
        """Word pieces without special tokens, from the fast tokenizer alone (no torch)."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)
