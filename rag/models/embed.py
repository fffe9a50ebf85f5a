"""Text -> vectors, behind a small interface.

Two backends for a sentence-transformers model folder: :class:`OnnxEmbedder`, the model as
an int8 ONNX graph run by onnxruntime (the default, 2.3x faster at the same retrieval
quality; see :mod:`rag.models.embed_export`), and :class:`SentenceTransformerEmbedder` (torch).
:func:`local_embedder` picks one from the settings (:func:`rag.models.open_embedder`
also offers an embeddings server).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import ModelError
from rag.models.base import Embedder

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = [
    "Embedder",
    "OnnxEmbedder",
    "SentenceTransformerEmbedder",
    "bundled_tokenizer",
    "local_embedder",
]

log = logging.getLogger(__name__)


class _Embedder:
    """What both backends share: the query cache and the model's own tokenizer."""

    def __init__(self, path: Path) -> None:
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(f"{path} is not a sentence-transformers model folder")
        self.path = path
        self.model_name = path.name if path.name != "model" else path.parent.name
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_lock = threading.Lock()
        self._tokenizer: Any = None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

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
        return list(self._word_pieces().encode(text, add_special_tokens=False).ids)

    def token_starts(self, text: str) -> list[int]:
        """Where each of ``text``'s word pieces starts (a character offset), in order: the
        pieces of any stretch between two spaces, counted from one call."""
        return [
            start for start, _ in self._word_pieces().encode(text, add_special_tokens=False).offsets
        ]

    def load(self) -> None:
        """Load the model and its tokenizers now, not in the first call that needs them."""
        raise NotImplementedError

    def _word_pieces(self) -> Any:
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer


class SentenceTransformerEmbedder(_Embedder):
    """A local sentence-transformers model folder on torch. The model loads on first use."""

    def __init__(self, path: Path, batch_size: int = 32, device: str = "cpu") -> None:
        super().__init__(path)
        self.name = f"{self.model_name}:torch"
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
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

    def load(self) -> None:
        self.model  # noqa: B018
        self._word_pieces()

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


class OnnxEmbedder(_Embedder):
    """The model folder's int8 ONNX graph (built by :mod:`rag.models.embed_export`) on onnxruntime.

    Each text is run on its own. Dynamic quantisation scales activations per call, so in a
    padded batch a chunk's vector would depend on its neighbours (cosine 0.992 to itself
    alone); one text per call gives every text one vector, and costs no padding. The texts
    of a call run on one single-threaded session from a thread per core: on a busy
    machine that was twice as fast as one session with two spinning intra-op threads, and
    it gives the same vectors."""

    def __init__(self, path: Path, graph: Path, threads: int | None = None) -> None:
        super().__init__(path)
        from rag.models.embed_export import RECIPE

        self.graph = graph
        self.name = f"{self.model_name}:onnx-int8:{RECIPE}"
        self.threads = threads or min(len(os.sched_getaffinity(0)), 8)
        config = path / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(config.read_text()).get("max_seq_length", 256))
        self._session: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort
                from tokenizers import Tokenizer

                options = ort.SessionOptions()
                options.intra_op_num_threads = 1
                options.inter_op_num_threads = 1
                try:
                    self._session = ort.InferenceSession(
                        str(self.graph), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:
                    raise ModelError(f"cannot load {self.graph}: {exc}") from exc
                tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                tok.enable_truncation(self.max_tokens)
                tok.no_padding()
                self._encoder = tok
                self._word_pieces()  # the chunker's: loaded with the model, not by a file
                if self.threads > 1:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="rag-embed")
            return self._session

    def load(self) -> None:
        self.session  # noqa: B018

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        session = self.session

        def one(ids: list[int]) -> np.ndarray:
            row = np.array([ids], dtype=np.int64)
            feed = {
                "input_ids": row,
                "attention_mask": np.ones_like(row),
                "token_type_ids": np.zeros_like(row),
            }
            return session.run(None, feed)[0][0]

        pieces = [e.ids for e in self._encoder.encode_batch(list(texts))]
        if self._pool is None or len(pieces) == 1:
            vectors = [one(ids) for ids in pieces]
        else:
            vectors = list(self._pool.map(one, pieces))
        return np.stack(vectors).astype(np.float32, copy=False)


def local_embedder(settings: Settings) -> Embedder:
    """The local embedder the settings ask for: ``embed_backend`` ``onnx-int8``, ``torch``, or
    ``auto`` (the ONNX graph when the model suits the recipe, else torch)."""
    from rag.models.bundled import bundled_embedder
    from rag.models.embed_export import prepared_graph, unsupported

    path = Path(settings.embed_model).expanduser() if settings.embed_model else None
    path = path or bundled_embedder()
    backend = settings.embed_backend
    if backend == "torch":
        return SentenceTransformerEmbedder(path, settings.embed_batch_size)
    why = unsupported(path)
    if why is not None:
        if backend == "onnx-int8":
            raise ModelError(f"no ONNX embedder for {path}: {why} (set RAG_EMBED_BACKEND=torch)")
        log.info("embedding on torch: %s", why)
        return SentenceTransformerEmbedder(path, settings.embed_batch_size)
    try:
        graph = prepared_graph(path, settings.model_cache)
    except ModelError as exc:
        if backend == "onnx-int8":
            raise
        log.warning("embedding on torch, slower: %s", exc)
        return SentenceTransformerEmbedder(path, settings.embed_batch_size)
    return OnnxEmbedder(path, graph, settings.threads)


def bundled_tokenizer() -> Callable[[str], list[int]]:
    """The bundled embedder's word-piece tokenizer, to count chunk sizes for an embedder
    whose own tokenizer is not at hand (an embeddings server)."""
    from rag.models.bundled import bundled_embedder

    tokenizer = _Embedder(bundled_embedder())
    return tokenizer.tokenize
