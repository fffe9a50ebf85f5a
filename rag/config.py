"""One typed settings object, read once at the edge (CLI, web UI) and passed down.

Sources, highest priority first:

1. explicit keyword arguments (what CLI flags set),
2. environment variables ``RAG_*`` (``RAG_DATA_DIR``, ``RAG_TOP_K``, ...),
3. a TOML file: ``$RAG_CONFIG`` if set, else ``./rag.toml`` if present,
4. the defaults below, every one of which works offline out of the box.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from rag.text import OCR_LANGUAGES

__all__ = [
    "OCR_LANGUAGES",
    "AnswerMode",
    "RetrievalMode",
    "Settings",
    "default_cache_dir",
    "default_config_dir",
    "default_data_dir",
]

RetrievalMode = Literal["hybrid", "dense", "keyword"]
AnswerMode = Literal["generative", "extractive", "auto"]
LLMBackend = Literal["llama_cpp", "transformers", "openai"]
EmbedBackend = Literal["auto", "onnx-int8", "torch", "openai"]


def default_cache_dir() -> Path:
    """Derived model files (the ONNX embedder): ``$XDG_CACHE_HOME/rag``, else ``~/.cache/rag``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rag"


def default_config_dir() -> Path:
    """Secrets kept apart from the data (the audit log's key): ``$XDG_CONFIG_HOME/rag``,
    else ``~/.config/rag``."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "rag"


def default_data_dir() -> Path:
    """The per-user data directory: ``$XDG_DATA_HOME/rag``, else ``~/.local/share/rag``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rag"


class Settings(BaseSettings):
    """Everything rag can be configured with. See the README for each setting."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="ignore", validate_default=True, frozen=True
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    """Where the vector store, keyword index and manifest live."""
    collection: str = "default"
    """The Chroma collection documents go to and questions are asked of."""
    chroma_url: str | None = None
    """``http://host:port`` of a Chroma server; unset means the embedded store in data_dir."""

    embed_model: str | None = None
    """A sentence-transformers model folder; unset means the bundled all-MiniLM-L6-v2.
    With ``embed_backend = "openai"``: the embedding model's name on the server."""
    embed_batch_size: int = Field(32, ge=1)
    embed_backend: EmbedBackend = "auto"
    """``onnx-int8``: the model as an int8 ONNX graph, built once from its weights (2.3x
    faster on CISI, same retrieval quality). ``torch``: sentence-transformers. ``auto``:
    ONNX when the model suits it (a BERT encoder with mean pooling), else torch.
    ``openai``: an OpenAI-compatible embeddings server at ``embed_url``.
    Changing it makes the next ingest re-embed the collection."""
    embed_url: str | None = None
    """``http://host:port/v1`` of an embeddings server (``embed_backend = "openai"``)."""
    embed_api_key: SecretStr | None = None
    model_cache: Path = Field(default_factory=default_cache_dir)
    """Where derived model files are kept (shared by all data directories)."""

    llm_backend: LLMBackend = "llama_cpp"
    llm_model: str | None = None
    """A GGUF file (llama_cpp), a Hugging Face checkpoint folder (transformers), or the
    model's name on the server (openai); unset means the bundled SmolLM2-135M-Instruct
    GGUF."""
    llm_url: str | None = None
    """``http://host:port/v1`` of an OpenAI-compatible server (``llm_backend = "openai"``):
    vLLM, Ollama (``http://host:11434/v1``), TGI, llama.cpp's ``llama-server``."""
    llm_api_key: SecretStr | None = None
    """Sent as ``Authorization: Bearer`` to the model (and embeddings) server, if set."""
    llm_timeout_s: float = Field(60.0, gt=0)
    """How long a model server may take to answer (each request, each streamed piece)."""
    llm_retries: int = Field(2, ge=0, le=10)
    """Retries of a request that failed before any answer came (connection, 429, 5xx)."""
    llm_f16: bool = True
    """For a GGUF model under 512 MB, try an F16 copy of its weights once and keep it when
    it answers the same and faster here (llama.cpp reads prompts ~1.8x faster from F16
    than from the bundled model's Q4_1; see :mod:`rag.models.llama_runtime`)."""
    llm_context: int = Field(4096, ge=512)
    max_tokens: int = Field(256, ge=1)
    temperature: float = Field(0.1, ge=0.0)
    threads: int | None = None

    chunk_size: int = Field(256, ge=32)
    """Chunk length in embedder tokens (MiniLM reads at most 256)."""
    chunk_overlap: int = Field(32, ge=0)
    top_k: int = Field(5, ge=1, le=100)
    """Passages retrieved for a question and read by the model."""
    extract_passages: int = Field(8, ge=1, le=100)
    """Passages the extractive answer may quote (the model reads ``top_k`` of them):
    sample_docs/qa.jsonl, answer match 0.82 with 5, 0.86 with 8 (no change at 10)."""
    retrieval_mode: RetrievalMode = "hybrid"
    rrf_k: int = Field(60, ge=1)
    min_relevance: float = Field(0.37, ge=0.0, le=1.0)
    """Below this relevance of the retrieved passages (see ``Assistant.relevance``), answer
    "not found" without calling the model. 0.37 was chosen by the curve of
    bench/verification.py on sample_docs/qa.jsonl and the PostgreSQL manual's questions:
    false refusals 4 % and 0 % there (see :mod:`rag.answer.gate`)."""

    answer_mode: AnswerMode = "auto"
    """``generative``: the model's answer, checked sentence by sentence. ``extractive``: the
    passages' own best sentences, no model. ``auto``: the model's answer when most of its
    sentences are supported, else the extractive one."""
    prompt_sentences: int = Field(3, ge=0)
    """The model sees each passage's N sentences closest to the question (0: whole passages).
    Prompt length is what the first token waits for on a CPU."""
    strict: bool = False
    """Drop answer sentences the retrieved passages do not support."""
    support_threshold: float = Field(0.65, ge=0.0, le=1.0)
    weak_threshold: float = Field(0.55, ge=0.0, le=1.0)
    """Cosine similarity of a sentence to its best span for ``supported`` / ``weak``;
    measured by bench/support_thresholds.py (see ``rag.answer.verify.Thresholds``)."""
    auto_min_supported: float = Field(0.5, ge=0.0, le=1.0)
    """``auto`` keeps the model's answer when more than this share of sentences is supported."""

    hnsw_ef_construction: int = Field(200, ge=8)
    hnsw_ef_search: int = Field(128, ge=8)
    hnsw_max_neighbors: int = Field(32, ge=4)

    max_file_mb: float = Field(200.0, gt=0)
    """Files larger than this are refused (reported, not ingested)."""
    parse_timeout_s: float = Field(120.0, gt=0)
    """A file whose parsing takes longer than this is abandoned (reported, not ingested)."""
    parse_memory_mb: int = Field(2048, ge=64)
    """A file whose parser needs more memory than this is abandoned (reported, not ingested)."""
    parse_workers: int | None = Field(None, ge=1, le=64)
    """How many files are parsed at once, each in a sandboxed worker process of its own
    (~400 MB each); unset means one per core, at most 8."""

    upload_max_mb: float = Field(500.0, gt=0)
    """The most one upload to ``rag serve`` may carry, all its files together (each
    file is also held to ``max_file_mb``). Larger requests are refused unread (413)."""

    ocr: bool = True
    """Read scanned PDF pages and images (PNG, JPEG, TIFF) with Tesseract. Off: images
    are skipped and scanned pages yield nothing."""
    ocr_languages: str = "eng"
    """Tesseract's language codes joined by ``+`` (``eng+deu``); each needs its Debian
    package (``tesseract-ocr-deu``)."""
    ocr_min_text_chars: int = Field(50, ge=0)
    """A PDF page whose text layer holds fewer letters and digits than this, and that
    shows an image, is read by OCR instead (a scan with no layer or a few junk characters)."""
    ocr_dpi: int = Field(300, ge=100, le=600)
    """The resolution scanned PDF pages are rendered at for OCR."""

    default_access: list[str] = Field(default_factory=lambda: ["everyone"])
    """Who may read documents ingested without ``--allow``: ``everyone`` (every signed-in
    user), ``group:NAME`` or ``user:NAME``. Only matters once user accounts exist."""
    lock_wait_s: float = Field(60.0, ge=0)
    """How long an ingest waits for another one on the same data directory to finish."""

    audit_key_file: Path = Field(default_factory=lambda: default_config_dir() / "audit.key")
    """The audit log's MAC key (made on first use), and beside it the chain's head: keep
    it outside the data directory, readable by rag's account only, backed up apart."""

    ui_hostnames: list[str] = Field(default_factory=list)
    """Names people use to reach the web UI besides the address it listens on (e.g.
    ``["rag.example.org"]``): requests naming any other host are refused (DNS rebinding)."""

    user: str | None = None
    """The account the CLI signs in as (``--user`` overrides it)."""
    password: SecretStr | None = None
    """That account's password (else the CLI asks on a terminal)."""
    new_password: SecretStr | None = None
    """The password ``rag users add`` and ``rag users passwd`` set (else they ask)."""

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, v: str) -> str:
        from rag.text import collection_name

        return collection_name(v)

    @field_validator("ocr_languages")
    @classmethod
    def _tesseract_languages(cls, v: str) -> str:
        v = v.strip()
        if not OCR_LANGUAGES.fullmatch(v):
            raise ValueError(f"{v!r} is not Tesseract language codes joined by '+' (eng+deu)")
        return v

    @field_validator("llm_model", "embed_model", mode="before")
    @classmethod
    def _path_as_text(cls, v: Any) -> Any:
        """A path (a local model) or a name (a model on a server): kept as text."""
        return os.fspath(v) if isinstance(v, os.PathLike) else v

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap_below_size(cls, v: int, info: Any) -> int:
        size = info.data.get("chunk_size", 256)
        if v >= size:
            raise ValueError(f"chunk_overlap ({v}) must be smaller than chunk_size ({size})")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def manifest_path(self) -> Path:
        return self.data_dir / "manifest.sqlite3"

    @property
    def keyword_dir(self) -> Path:
        return self.data_dir / "keyword"


def _config_file() -> Path | None:
    explicit = os.environ.get("RAG_CONFIG")
    if explicit:
        return Path(explicit)
    local = Path("rag.toml")
    return local if local.is_file() else None
