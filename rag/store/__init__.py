"""Where chunks and their vectors live, behind one small interface.

:class:`VectorStore` is the seam: the embedded Chroma (default) and a Chroma
server (``RAG_CHROMA_URL``) both implement it, and so can any other store.
"""

from __future__ import annotations

from rag.store.base import Hit, Record, VectorStore
from rag.store.factory import open_store

__all__ = ["Hit", "Record", "VectorStore", "open_store"]
