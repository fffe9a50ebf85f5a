"""The keyword side of hybrid retrieval: a BM25 index (bm25s) over every chunk.

bm25s cannot add to an index, so the index is rebuilt from the store when the
collection changes (the manifest's generation counter says when) and saved on
disk beside it. Each build goes to its own folder and a ``CURRENT`` file is
switched atomically, so a reader never sees half an index. Source filters are
and access filters are applied inside the search as a weight mask, not by dropping
results afterwards.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.text import stems

__all__ = ["KeywordIndex", "Vocabulary", "tokenize"]

# Words that say what kind of question it is, not what it is about: they do not
# count towards whether the passages cover the question.
_QUESTION_WORDS = frozenset(
    """many much long get got go going want need can could may might happen happened use
    number time tell know please anyone someone thing things way kind sort i'm it's""".split()
)


def tokenize(text: str) -> list[str]:
    """What BM25 indexes of a text: its content words' stems (:func:`rag.text.stems`)."""
    return stems(text)


@lru_cache(maxsize=1)
def _question_terms() -> frozenset[str]:
    return frozenset(tokenize(" ".join(_QUESTION_WORDS)))


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A collection's words as one reader sees them (``Collection.vocabulary``): every
    count is over the chunks that reader may read, so nothing here tells them about a
    document they cannot read."""

    #: The IDF-weighted share of a question's terms that some of the texts contain.
    coverage: Callable[[str, Sequence[str]], float]
    #: Which of the terms no readable chunk contains.
    unseen: Callable[[Sequence[str]], list[str]]
    #: Each stem's inverse document frequency.
    weights: Callable[[Sequence[str]], dict[str, float]]


@dataclass(frozen=True, slots=True)
class KeywordHit:
    id: str
    score: float


class KeywordIndex:
    """A loaded BM25 index: chunk ids, their sources and access lists, and the bm25s model."""

    def __init__(
        self,
        ids: list[str],
        sources: list[str],
        model: Any,
        generation: int,
        access: list[Sequence[str]] | None = None,
    ) -> None:
        self.ids = ids
        self.sources = np.asarray(sources, dtype=object)
        self.generation = generation
        self._model = model
        self.access = [tuple(a) for a in access] if access is not None else [()] * len(ids)
        # Chunks sharing an access list share a row of this matrix: one mask per reader set.
        lists = sorted(set(self.access))
        self._lists = lists
        self._list_of = np.asarray([lists.index(a) for a in self.access], dtype=np.int32)

    @classmethod
    def build(
        cls, records: Iterable[tuple[str, str, str, Sequence[str]]], generation: int
    ) -> KeywordIndex:
        """Index ``(id, source, text, access)`` tuples."""
        import bm25s

        ids: list[str] = []
        sources: list[str] = []
        access: list[Sequence[str]] = []
        tokens: list[list[str]] = []
        for chunk_id, source, text, readers in records:
            ids.append(chunk_id)
            sources.append(source)
            access.append(tuple(readers))
            tokens.append(tokenize(text) or ["\u2205"])
        model = bm25s.BM25()
        if tokens:
            model.index(tokens, show_progress=False)
        return cls(ids, sources, model, generation, access)

    def readable(self, readers: Collection[str]) -> np.ndarray:
        """1.0 for each chunk ``readers`` may see, else 0.0."""
        allowed = np.asarray(
            [not set(a).isdisjoint(readers) for a in self._lists] or [False], dtype=bool
        )
        return allowed[self._list_of].astype(np.float32)

    def search(
        self,
        query: str,
        k: int,
        sources: Sequence[str] | None = None,
        readers: Collection[str] | None = None,
    ) -> list[KeywordHit]:
        """At most ``k`` chunks with a positive BM25 score, best first, among those from
        ``sources`` (when given) that ``readers`` may see (when given)."""
        if not self.ids or (sources is not None and not sources):
            return []
        if readers is not None and not readers:
            return []
        vocab = self._model.vocab_dict
        terms = [t for t in tokenize(query) if t in vocab]
        if not terms:
            return []
        mask = None
        if sources is not None:
            mask = np.isin(self.sources, list(sources)).astype(np.float32)
        if readers is not None:
            allowed = self.readable(readers)
            mask = allowed if mask is None else mask * allowed
            if not mask.any():
                return []
        docs, scores = self._model.retrieve(
            [terms], k=min(k, len(self.ids)), weight_mask=mask, show_progress=False, n_threads=1
        )
        return [
            KeywordHit(self.ids[int(d)], float(s))
            for d, s in zip(docs[0], scores[0], strict=True)
            if s > 0
        ]

    def coverage(
        self, query: str, texts: Sequence[str], readers: Collection[str] | None = None
    ) -> float:
        """Share of the query's content terms, weighted by IDF, that occur in ``texts``.

        Terms the collection has never seen weigh most, so a question about
        something the documents never mention ("jury service") scores low even
        when its other words ("paid leave") are everywhere. With ``readers``, term
        frequencies count only the chunks they may read, so whether a question is
        refused never depends on what other documents say.
        """
        terms = set(tokenize(query)) - _question_terms()
        if not terms:
            return 1.0
        present = {t for text in texts for t in tokenize(text)}
        visible = self.readable(readers) > 0 if readers is not None else None
        weights = {t: self._idf(t, visible) for t in terms}
        return sum(w for t, w in weights.items() if t in present) / sum(weights.values())

    def unseen(self, terms: Sequence[str], readers: Collection[str] | None = None) -> list[str]:
        """The ``terms`` (words, names) with a stem no chunk ``readers`` may read contains."""
        visible = self.readable(readers) > 0 if readers is not None else None
        return [t for t in terms if any(self._df(s, visible) == 0 for s in tokenize(t))]

    def _df(self, term: str, visible: np.ndarray | None) -> int:
        row = self._model.vocab_dict.get(term) if self._model is not None else None
        if row is None:
            return 0
        # bm25s keeps scores term by term: a term's column holds its docs
        indptr = self._model.scores["indptr"]
        if visible is None:
            return int(indptr[row + 1] - indptr[row])
        docs = self._model.scores["indices"][indptr[row] : indptr[row + 1]]
        return int(visible[docs].sum())

    def _idf(self, term: str, visible: np.ndarray | None = None) -> float:
        n = len(self.ids) if visible is None else int(visible.sum())
        df = self._df(term, visible)
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    # -- persistence ------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write to a new sub-folder of ``folder`` and switch ``CURRENT`` to it atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"g{self.generation}-{os.getpid()}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        if self.ids:
            self._model.save(str(target / "bm25"))
        (target / "ids.json").write_text(
            json.dumps(
                {
                    "generation": self.generation,
                    "ids": self.ids,
                    "sources": list(self.sources),
                    "access": [list(a) for a in self.access],
                }
            )
        )
        tmp = folder / f"CURRENT.{os.getpid()}"
        tmp.write_text(target.name)
        os.replace(tmp, folder / "CURRENT")
        for old in folder.iterdir():
            if old.is_dir() and old != target:
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_generation(folder: Path) -> int | None:
        """The generation of the current index in ``folder``, without loading it (its
        sub-folder is named after it), or None if there is none."""
        try:
            name = (folder / "CURRENT").read_text().strip()
            return int(name[1:].split("-")[0]) if name.startswith("g") else None
        except (OSError, ValueError):
            return None

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The current index in ``folder``, or None if there is none (or it is unreadable)."""
        import bm25s

        try:
            target = folder / (folder / "CURRENT").read_text().strip()
            meta = json.loads((target / "ids.json").read_text())
            model = bm25s.BM25.load(str(target / "bm25"), mmap=False) if meta["ids"] else None
        except (OSError, ValueError, KeyError):
            return None
        return cls(meta["ids"], meta["sources"], model, int(meta["generation"]), meta.get("access"))
