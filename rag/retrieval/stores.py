"""Map settings to a vector store implementation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rag.privacy import private_dir
from rag.retrieval.store import VectorStore

if TYPE_CHECKING:
    from rag.config import Settings

__all__ = ["open_store"]


def open_store(
    settings: Settings, collection: str | None = None, space: str = "", fresh: bool = False
) -> VectorStore:
    """The store for ``collection`` (in vector ``space``, see :meth:`Manifest.space`): a
    Chroma server if ``chroma_url`` is set, else embedded; ``fresh``: read from disk anew
    what another process may have written (see :func:`chroma_client`)."""
    from rag.retrieval.chroma import ChromaStore, chroma_client

    if settings.chroma_url:
        client = chroma_client(url=settings.chroma_url)
    else:
        private_dir(settings.chroma_dir)
        client = chroma_client(path=str(settings.chroma_dir), fresh=fresh)
    return ChromaStore(
        client,
        collection or settings.collection,
        space=space,
        ef_construction=settings.hnsw_ef_construction,
        ef_search=settings.hnsw_ef_search,
        max_neighbors=settings.hnsw_max_neighbors,
    )
