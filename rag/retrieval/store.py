"""The vector store contract."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

__all__ = ["Hit", "Record", "VectorStore"]

Metadata = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Record:
    """A chunk as stored: id, text, metadata (source, page, content_hash, ...)."""

    id: str
    text: str
    metadata: Metadata = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved chunk and its score (higher is better; meaning depends on the retriever)."""

    record: Record
    score: float

    @property
    def id(self) -> str:
        return self.record.id


class VectorStore(Protocol):
    """A collection of embedded chunks.

    Contract: ids are unique; ``upsert`` replaces a record with the same id;
    ``query`` returns at most ``k`` hits, best first, scored by cosine similarity,
    restricted to chunks whose ``source`` is in ``sources`` when given, and to chunks
    whose ``access`` metadata (a list of principals) meets ``readers`` when given;
    both filters are applied inside the search, never afterwards. ``delete_source``
    removes every chunk of a source; ``delete_other_versions`` those of each source in
    ``keep`` whose ``content_hash`` differs from the one it names; ``set_access``
    replaces the access list of a source's chunks; ``dimension`` is the stored vectors' length (None when empty); ``drop`` deletes the
    whole collection.
    """

    def upsert(self, records: Sequence[Record], embeddings: np.ndarray) -> None: ...

    def query(
        self,
        embedding: np.ndarray,
        k: int,
        sources: Sequence[str] | None = None,
        readers: Collection[str] | None = None,
    ) -> list[Hit]: ...

    def set_access(self, source: str, principals: Sequence[str]) -> int: ...

    def get(self, ids: Sequence[str]) -> list[Record]: ...

    def delete_source(self, source: str) -> int: ...

    def delete_other_versions(self, keep: Mapping[str, str]) -> int: ...

    def iter_records(self, batch: int = 1000) -> Iterator[Record]: ...

    def count(self) -> int: ...

    def dimension(self) -> int | None: ...

    def drop(self) -> None: ...
