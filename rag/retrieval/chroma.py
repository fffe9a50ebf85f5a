"""Chroma, embedded (``PersistentClient``) or as a server (``HttpClient``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

import numpy as np

from rag.errors import ConfigError, InvalidInput, StoreError
from rag.retrieval.store import Hit, Record
from rag.text import collection_name

__all__ = ["ChromaStore", "chroma_client"]


def chroma_client(path: str | None = None, url: str | None = None, fresh: bool = False) -> Any:
    """A Chroma client with telemetry off: a server at ``url``, else embedded at ``path``.

    An embedded Chroma keeps a path's index in memory, shared by every client of that
    path in the process, and does not see what another process writes. ``fresh``
    starts a new one from what is on disk now (clients made before keep the old one)."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if url:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"RAG_CHROMA_URL must look like http://host:port, got {url!r}")
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
    if path is None:
        raise ConfigError("an embedded Chroma store needs a path")
    if fresh:
        from chromadb.api.shared_system_client import SharedSystemClient

        # Chroma caches one System per path; without it, the next client builds another.
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)
    return chromadb.PersistentClient(path=path, settings=settings)


class ChromaStore:
    """One Chroma collection in cosine space with the HNSW settings given.

    ``ef_search`` and friends matter: Chroma's defaults give visibly worse recall
    than exact search; ``bench``/tests measure recall@10 against brute force.
    """

    def __init__(
        self,
        client: Any,
        name: str,
        *,
        space: str = "",
        ef_construction: int = 200,
        ef_search: int = 128,
        max_neighbors: int = 32,
    ) -> None:
        self._client = client
        self._name = _collection_name(name) + (f"-v{space}" if space else "")
        try:
            self._col = client.get_or_create_collection(
                name=self._name,
                configuration={
                    "hnsw": {
                        "space": "cosine",
                        "ef_construction": ef_construction,
                        "ef_search": ef_search,
                        "max_neighbors": max_neighbors,
                    }
                },
                embedding_function=None,
            )
        except Exception as exc:  # chromadb raises many types; one message for the user
            raise StoreError(f"cannot open Chroma collection {name!r}: {exc}") from exc
        self.name = name

    def upsert(self, records: Sequence[Record], embeddings: np.ndarray) -> None:
        if not records:
            return
        # The text goes in the metadata, not in Chroma's documents: Chroma indexes every
        # document for its own full-text search (SQLite FTS5 trigrams), which rag never
        # asks (its keyword index is its own), and that index took about half an
        # upsert's time, holding the GIL the parsing threads need.
        self._col.upsert(
            ids=[r.id for r in records],
            metadatas=[_clean(r.metadata) | {_TEXT: r.text} for r in records],
            embeddings=np.asarray(embeddings, dtype=np.float32),
        )

    def query(
        self,
        embedding: np.ndarray,
        k: int,
        sources: Sequence[str] | None = None,
        readers: Collection[str] | None = None,
    ) -> list[Hit]:
        if (sources is not None and not sources) or (readers is not None and not readers):
            return []
        where = _where(_source_filter(sources), _reader_filter(readers))
        res = self._col.query(
            query_embeddings=[np.asarray(embedding, dtype=np.float32)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        ids = res["ids"][0]
        docs = res["documents"][0]
        metas = res["metadatas"][0]
        dists = res["distances"][0]
        return [
            Hit(_record(i, d, m), 1.0 - float(dist))
            for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def get(self, ids: Sequence[str]) -> list[Record]:
        if not ids:
            return []
        res = self._col.get(ids=list(ids), include=["documents", "metadatas"])
        found = {
            i: _record(i, d, m)
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        }
        return [found[i] for i in ids if i in found]

    def delete_source(self, source: str) -> int:
        ids = self._col.get(where={"source": source}, include=[])["ids"]
        if ids:
            self._col.delete(ids=ids)
        return len(ids)

    def delete_other_versions(self, keep: Mapping[str, str]) -> int:
        # One query for many sources (a batch of small files): a query per source cost
        # about 2 ms each at 10,000 chunks, a third of that when asked together.
        sources, ids = list(keep), []
        for start in range(0, len(sources), 100):
            part = sources[start : start + 100]
            where = {"source": {"$in": part}} if len(part) > 1 else {"source": part[0]}
            found = self._col.get(where=where, include=["metadatas"])
            for chunk, meta in zip(found["ids"], found["metadatas"] or [], strict=True):
                meta = meta or {}
                if meta.get("content_hash") != keep.get(str(meta.get("source"))):
                    ids.append(chunk)
        if ids:
            self._col.delete(ids=ids)
        return len(ids)

    def set_access(self, source: str, principals: Sequence[str]) -> int:
        if not principals:
            raise InvalidInput("an access list needs at least one entry")
        ids = self._col.get(where={"source": source}, include=[])["ids"]
        if ids:  # update merges metadata: only "access" changes
            self._col.update(ids=ids, metadatas=[{"access": list(principals)}] * len(ids))
        return len(ids)

    def iter_records(self, batch: int = 1000) -> Iterator[Record]:
        offset = 0
        while True:
            res = self._col.get(limit=batch, offset=offset, include=["documents", "metadatas"])
            if not res["ids"]:
                return
            for i, d, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True):
                yield _record(i, d, m)
            offset += len(res["ids"])

    def embeddings(self, ids: Sequence[str]) -> np.ndarray:
        """The stored vectors of ``ids`` (for recall measurements against exact search)."""
        res = self._col.get(ids=list(ids), include=["embeddings"])
        order = {i: n for n, i in enumerate(res["ids"])}
        return np.asarray([res["embeddings"][order[i]] for i in ids], dtype=np.float32)

    def count(self) -> int:
        return int(self._col.count())

    def dimension(self) -> int | None:
        """The length of the stored vectors (None while the collection is empty)."""
        res = self._col.get(limit=1, include=["embeddings"])
        embeddings = res.get("embeddings")
        return len(embeddings[0]) if embeddings is not None and len(embeddings) else None

    def drop(self) -> None:
        """Delete the whole collection from Chroma (its vectors moved elsewhere)."""
        self._client.delete_collection(self._name)


#: The metadata key that holds a chunk's text.
_TEXT = "text"


def _record(chunk: str, document: str | None, metadata: Mapping[str, Any] | None) -> Record:
    """A stored chunk as a record: its text from the metadata, or from Chroma's document
    in a collection written before the text moved there."""
    meta = dict(metadata or {})
    text = meta.pop(_TEXT, None)
    return Record(chunk, str(text) if text is not None else document or "", meta)


def _collection_name(name: str) -> str:
    """Chroma wants 3-512 characters of [a-zA-Z0-9._-]: rag's collection names fit."""
    return f"rag_{collection_name(name)}"


def _source_filter(sources: Sequence[str] | None) -> dict[str, Any] | None:
    if sources is None:
        return None
    if len(sources) == 1:
        return {"source": sources[0]}
    return {"source": {"$in": list(sources)}}


def _reader_filter(readers: Collection[str] | None) -> dict[str, Any] | None:
    """Chunks whose access list holds one of ``readers``."""
    if readers is None:
        return None
    terms: list[dict[str, Any]] = [{"access": {"$contains": r}} for r in sorted(readers)]
    return terms[0] if len(terms) == 1 else {"$or": terms}


def _where(*filters: dict[str, Any] | None) -> dict[str, Any] | None:
    given = [f for f in filters if f is not None]
    if not given:
        return None
    return given[0] if len(given) == 1 else {"$and": given}


def _clean(meta: dict[str, Any]) -> dict[str, Any]:
    """Chroma metadata values must be str/int/float/bool: drop the Nones."""
    return {k: v for k, v in meta.items() if v is not None}
