"""Models behind an OpenAI-compatible server: vLLM, Ollama, TGI, ``llama-server``,
``llama_cpp.server`` (how rag runs its own GGUF models: :mod:`rag.models.llama_server`)
or another rag's ``/v1/embeddings``.

The official ``openai`` client does the protocol (streaming, timeouts, retries); this
module turns whatever goes wrong into one :class:`~rag.errors.ModelError` line that
names the server: a server that is down, a wrong model name, a refused key, a timeout,
a stream cut mid-answer. Nothing here sends anything but the request asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from rag.errors import ModelError
from rag.models.base import Message

__all__ = ["OpenAIEmbedder", "OpenAIGenerator", "model_error"]


def _client(url: str, api_key: str | None, timeout_s: float, retries: int, uds: str | None) -> Any:
    import httpx2
    import openai

    http = None
    if uds is not None:
        http = httpx2.Client(transport=httpx2.HTTPTransport(uds=uds, trust_env=False))
    return openai.OpenAI(
        base_url=url,
        api_key=api_key or "none",
        timeout=httpx2.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
        max_retries=retries,
        http_client=http,
    )


def model_error(exc: BaseException, where: str, model: str, timeout_s: float) -> ModelError:
    """One line a person can act on, for anything the client raised talking to ``where``
    (a noun phrase: "the model server at http://...")."""
    import httpx2
    import openai

    if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
        return ModelError(f"{where} did not answer within {timeout_s:g} s")
    if isinstance(exc, openai.APIConnectionError | httpx2.ConnectError):
        return ModelError(f"cannot reach {where} ({_short(exc.__cause__ or exc)})")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError(
            f"{where} refused the API key (HTTP {exc.status_code}); set RAG_LLM_API_KEY"
        )
    if isinstance(exc, openai.NotFoundError):
        return ModelError(f"{where} has no model {model!r} (HTTP 404)")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"{where} answered HTTP {exc.status_code}: {_short(exc)}")
    if isinstance(exc, httpx2.HTTPError | openai.APIError):
        return ModelError(f"{where} broke off the answer ({_short(exc)})")
    return ModelError(f"{where} failed: {type(exc).__name__}: {exc}")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


class OpenAIGenerator:
    """A chat model served over the OpenAI chat-completions protocol, streamed.

    ``where`` is how errors name the server (its URL, or "the local llama.cpp
    process"); ``uds`` reaches a server on a unix socket. ``extra`` is sent in each
    request's body (sampling options a particular server understands).
    """

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
        uds: str | None = None,
        where: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.url = url
        self.name = model
        self.where = where or f"the model server at {url}"
        self.timeout_s = timeout_s
        self._extra = dict(extra or {})
        self._make = lambda: _client(url, api_key, timeout_s, retries, uds)
        self._client: Any = None
        self._checked = False
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._make()
            return self._client

    def load(self) -> None:
        """Nothing to load here: the server holds the model."""

    @property
    def loaded(self) -> bool:
        return True

    def models(self) -> list[str]:
        """The model names the server offers."""
        try:
            return [m.id for m in self.client.models.list()]
        except Exception as exc:
            raise model_error(exc, self.where, self.name, self.timeout_s) from exc

    def check_model(self) -> None:
        """ModelError if the server lists its models and ``name`` is not among them (some
        servers answer for an unknown name with another model instead of a 404)."""
        if self._checked:
            return
        try:
            offered = self.models()
        except ModelError as exc:
            if "HTTP 404" in str(exc):  # a server without a model list
                offered = []
            else:
                raise
        if offered and self.name not in offered:
            raise ModelError(
                f"{self.where} has no model {self.name!r} (it serves: {', '.join(offered[:10])})"
            )
        self._checked = True

    def stream(
        self, messages: list[Message], *, max_tokens: int, temperature: float
    ) -> Iterator[str]:
        self.check_model()
        try:
            chunks = self.client.chat.completions.create(
                model=self.name,
                messages=list(messages),
                max_tokens=max_tokens,
                temperature=temperature,
                top_p=0.9,
                stream=True,
                extra_body=self._extra or None,
            )
            with chunks:
                for chunk in chunks:
                    if not chunk.choices:
                        continue
                    text = chunk.choices[0].delta.content
                    if text:
                        yield text
        except ModelError:
            raise
        except Exception as exc:
            raise model_error(exc, self.where, self.name, self.timeout_s) from exc


class OpenAIEmbedder:
    """An embedding model served over the OpenAI embeddings protocol, in batches.

    The vectors are normalised to unit length (some servers do not). Chunk sizes are
    counted with ``tokenize`` (the bundled embedder's word pieces unless given): the
    server's own tokenizer is not available here, so sizes are approximate.
    """

    def __init__(
        self,
        url: str,
        model: str,
        tokenize: Callable[[str], list[int]],
        *,
        api_key: str | None = None,
        batch_size: int = 64,
        timeout_s: float = 60.0,
        retries: int = 2,
    ) -> None:
        self.url = url
        self.model = model
        # The vectors' identity (recorded per collection): the served model's name.
        self.name = f"{model}:openai"
        self.batch_size = batch_size
        self.timeout_s = timeout_s
        self._tokenize = tokenize
        self._client = _client(url, api_key, timeout_s, retries, None)
        self._queries: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        rows: list[list[float]] = []
        for at in range(0, len(texts), self.batch_size):
            batch = list(texts[at : at + self.batch_size])
            try:
                reply = self._client.embeddings.create(model=self.model, input=batch)
            except Exception as exc:
                where = f"the embedding server at {self.url}"
                raise model_error(exc, where, self.model, self.timeout_s) from exc
            data = sorted(reply.data, key=lambda d: d.index)
            if len(data) != len(batch):
                raise ModelError(
                    f"the embedding server at {self.url} returned {len(data)} vectors "
                    f"for {len(batch)} texts"
                )
            rows += [d.embedding for d in data]
        vectors = np.asarray(rows, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1.0, norms)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            cached = self._queries.get(text)
        if cached is not None:
            return cached
        vector = self.embed([text])[0]
        with self._lock:
            if len(self._queries) > 512:
                self._queries.clear()
            self._queries[text] = vector
        return vector

    def tokenize(self, text: str) -> list[int]:
        return self._tokenize(text)
