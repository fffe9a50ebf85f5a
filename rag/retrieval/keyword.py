"""The keyword side of hybrid retrieval: BM25 over every chunk, scored per reader.

Each reader's BM25 statistics count only the chunks that reader may read. BM25 weighs a
term by how rare it is (IDF: the number of chunks N and the chunks holding the term,
df) and a chunk by its length against the mean (avgdl). Were these counted over every
chunk, a user's scores and ranks would move with words found only in documents they
cannot read: planting a probe document and watching its rank would tell whether any
word occurs in a secret document. So the index keeps raw term counts (a sparse chunks x
terms matrix) and the chunk lengths, and each search computes N, df and avgdl over the
reader's chunks; with no reader restriction they are those of the whole collection and
the scores are those of the Lucene BM25 variant (k1=1.5, b=0.75) that the bm25s library
computed here before (equal to float32 rounding: tests/rag/test_keyword.py). A source
filter does not change the statistics (they stay those of everything the reader may
read); it only says which chunks may be returned. A reader
set's chunk count, total length and mask of chunks are computed at its first search and
kept with the index (which is replaced, not changed, when the collection changes); a
term's df is a sum over the access lists holding it. So a search costs one pass over the
postings of its terms plus one over the chunks, whoever asks.

An index is never changed in place. When an ingest changes the collection (the
manifest's generation counter says when), a new one is made from the old one with the
touched documents' chunks taken out and their new ones put in (:meth:`KeywordIndex.updated`),
or built from the store when there is no old one to start from, and saved on disk
beside it. Each goes to its own folder and a ``CURRENT`` file is switched atomically, so
a reader never sees half an index. An index saved in an older format loads as None, and
the collection then rebuilds it.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import os
import shutil
import zipfile
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.text import stem as stem_each
from rag.text import stems, words

__all__ = ["KeywordIndex", "Vocabulary", "question_terms", "tokenize"]

# Words that say what kind of question it is, not what it is about: they do not
# count towards whether the passages cover the question.
_QUESTION_WORDS = frozenset(
    """many much long get got go going want need can could may might happen happened use
    number time tell know please anyone someone thing things way kind sort i'm it's""".split()
)

#: English irregular verbs' past forms and their base form: "gave" is no stem of "give"
#: (Snowball strips suffixes), so "a supplier gave me ..." missed "gifts they give you".
#: Forms that are also other words ("left", "found", "saw", "felt", "won") are left out.
_IRREGULAR = {
    form: base.strip()
    for base, forms in (
        line.split(":")
        for line in """arise:arose arisen|become:became|begin:began begun|bring:brought|
        build:built|buy:bought|catch:caught|choose:chose chosen|come:came|deal:dealt|
        do:did done|draw:drew drawn|drink:drank drunk|drive:drove driven|eat:ate eaten|
        fall:fallen|feed:fed|fight:fought|fly:flew flown|forbid:forbade forbidden|
        forget:forgot forgotten|forgive:forgave forgiven|freeze:froze frozen|get:got gotten|
        give:gave given|go:went gone|grow:grew grown|have:had|hear:heard|hide:hid hidden|
        hold:held|keep:kept|know:knew known|lend:lent|lose:lost|make:made|meet:met|
        pay:paid|ride:rode ridden|ring:rang rung|rise:risen|run:ran|say:said|see:seen|
        seek:sought|sell:sold|send:sent|shake:shook shaken|sing:sang sung|sink:sank sunk|
        sleep:slept|speak:spoken|spend:spent|stand:stood|steal:stolen|stick:stuck|
        strike:struck|swear:swore sworn|sweep:swept|swim:swam swum|take:took taken|
        teach:taught|tear:tore torn|tell:told|think:thought|throw:threw thrown|
        understand:understood|undertake:undertook undertaken|wake:woke woken|wear:wore worn|
        withdraw:withdrew withdrawn|write:wrote written""".split("|")
    )
    for form in forms.split()
}

# BM25 parameters: bm25s's defaults (method "lucene"), which this index used to be built
# with, so scores without a reader restriction are unchanged.
_K1 = 1.5
_B = 0.75

#: What ``meta.json`` says about the files beside it; another value loads as None.
_FORMAT = "rag-keyword-tf-csc/2"  # 2: file names' words count in each chunk

#: How many reader sets' statistics an index remembers (then it forgets them all).
_SCOPES = 256
#: A word no chunk holds, this long or longer, may be short for longer ones the chunks
#: hold ("defib"); shorter ones ("gym", "dev") start too many words to say which.
_SHORTEST_ABBREVIATION = 4
#: Words starting with such a word that are looked at; past them it says too little.
_MOST_COMPLETIONS = 50


def tokenize(text: str) -> list[str]:
    """What BM25 indexes of a text: its content words' stems (:func:`rag.text.stems`)."""
    return stems(text)


@lru_cache(maxsize=1)
def question_terms() -> frozenset[str]:
    """The stems of words that ask rather than say what a question is about ("how
    many", "need", "tell")."""
    return frozenset(tokenize(" ".join(_QUESTION_WORDS)))


@lru_cache(maxsize=1)
def _bases() -> dict[str, str]:
    """:data:`_IRREGULAR` as stems: each past form's stem to its base form's."""
    return dict(zip(stem_each(list(_IRREGULAR)), stem_each(list(_IRREGULAR.values())), strict=True))


def _idf(df: int, n: int) -> float:
    """Lucene's IDF (never negative): log(1 + (N - df + 0.5) / (df + 0.5))."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """A collection's words as one reader sees them (``Collection.vocabulary``): every
    count is over the chunks that reader may read, so nothing here tells them about a
    document they cannot read."""

    #: The IDF-weighted share of a question's terms that some of the texts contain.
    coverage: Callable[[str, Sequence[str]], float]
    #: Which of the terms no readable chunk contains.
    unseen: Callable[[Sequence[str]], list[str]]
    #: Each stem's inverse document frequency, the stems read as :meth:`KeywordIndex.search`
    #: reads them given the words as written (a compound the chunks write as two words,
    #: "headcount", as those two: "head", "count").
    weights: Callable[[Sequence[str], Collection[str]], dict[str, float]]
    #: Whether a document (its source) says a word (a name): some chunk of it holds each
    #: of the word's stems.
    mentions: Callable[[str, str], bool]
    #: How many documents say a word (as :attr:`mentions` reads it), and of how many.
    spread: Callable[[str], tuple[int, int]]


@dataclass(frozen=True, slots=True)
class KeywordHit:
    id: str
    score: float


@dataclass(frozen=True, slots=True)
class _Scope:
    """The chunks one search's statistics count: those its readers may read."""

    lists: np.ndarray | None  # per access list, whether it is readable; None: every chunk
    chunks: np.ndarray | None  # per chunk, the same
    n: int  # chunks counted
    avgdl: float  # their mean length, in terms


class KeywordIndex:
    """A loaded BM25 index: chunk ids, their sources and access lists, and the term counts
    (a sparse chunks x terms matrix) from which each search computes its statistics."""

    def __init__(
        self,
        ids: list[str],
        sources: list[str],
        counts: _Counts,
        vocabulary: list[str],
        generation: int,
        access: list[Sequence[str]] | None = None,
    ) -> None:
        self.ids = ids
        self.sources = np.asarray(sources, dtype=object)
        self.generation = generation
        self.access = [tuple(a) for a in access] if access is not None else [()] * len(ids)
        self._vocabulary = vocabulary
        self._column = {term: i for i, term in enumerate(vocabulary)}
        self._sorted_vocabulary: list[str] | None = None  # for :meth:`_completed`, on first use
        # Sources as small integers, so a source filter is an integer lookup.
        names = sorted(set(sources))
        self._source_code = {s: i for i, s in enumerate(names)}
        self._source_of = np.asarray([self._source_code[s] for s in sources], dtype=np.int64)
        # Each chunk's place in (source, id) order: equal scores rank by source path, then
        # chunk, so ties break the same way whatever else the index holds, in whatever
        # order it was built, and wherever the corpus lies (ids hash the path: a copy of
        # the same files elsewhere would break them another way).
        order = sorted(range(len(ids)), key=lambda i: (sources[i], ids[i][-5:], ids[i]))
        self._id_rank = np.empty(len(ids), dtype=np.int64)
        self._id_rank[np.asarray(order, dtype=np.int64)] = np.arange(len(ids))
        self._index_postings(counts)
        self._index_access()
        # Statistics per reader set, computed on first use; an index is immutable (the
        # collection loads a new one when its generation moves), so they never go stale.
        self._scopes: dict[frozenset[str], _Scope] = {}

    def _index_postings(self, counts: _Counts) -> None:
        """Keep the counts and their arrays: a term's column lists the chunks holding it."""
        self._counts = counts
        self._indptr = counts.indptr
        self._rows = counts.rows
        self._tf = counts.tf
        # An empty chunk counts as one term long, as in the bm25s index this replaces
        # (it held a placeholder token), so the mean length is unchanged.
        lengths = np.bincount(self._rows, self._tf, minlength=len(self.ids))
        self._lengths = np.maximum(lengths, 1).astype(np.int64)
        # Each posting's chunk length, beside its count: a search reads both in order.
        self._posting_length = self._lengths.astype(np.float32)[self._rows]

    def _index_access(self) -> None:
        """Chunks sharing an access list share its readability, chunk count and total
        length, so a reader's N and avgdl are sums over the lists they may read; and each
        term's document frequency per list, so their df is one too."""
        lists = sorted(set(self.access))
        number = {a: i for i, a in enumerate(lists)}
        self._lists = lists
        self._list_of = np.asarray([number[a] for a in self.access], dtype=np.int64)
        self._list_chunks = np.bincount(self._list_of, minlength=len(lists))
        self._list_length = np.bincount(self._list_of, self._lengths, minlength=len(lists))
        # Per term, the access lists holding it and how many of its chunks each has.
        width = max(len(lists), 1)
        pairs, self._df_count = np.unique(
            self._counts.columns() * width + self._list_of[self._rows], return_counts=True
        )
        self._df_list = pairs % width
        self._df_indptr = _starts(pairs // width, len(self._vocabulary))

    @classmethod
    def build(cls, records: Iterable[Entry], generation: int) -> KeywordIndex:
        """Index ``(id, source, text, access)`` tuples (the text may come counted)."""
        new = TermCounts(records)
        counts = _Counts.of(*new.entries(), n_rows=len(new.ids), n_columns=len(new.column))
        return cls(new.ids, new.sources, counts, list(new.column), generation, new.access)

    def updated(
        self, keep: Collection[str], records: Iterable[Entry] | TermCounts, generation: int
    ) -> KeywordIndex:
        """This index with the chunks of the sources in ``keep`` and the ``(id, source,
        text, access)`` tuples of ``records`` added (or chunks counted already): what
        :meth:`build` makes of the whole collection after an ingest that changed only the
        other sources, for the cost of those alone (a rebuild reads and tokenizes every
        chunk: 2 s at 11,500 chunks). Terms no chunk holds any more leave the vocabulary,
        as in a rebuild."""
        new = records if isinstance(records, TermCounts) else TermCounts(records)
        kept = np.asarray([source in keep for source in self.sources], dtype=bool)
        rows = np.flatnonzero(kept)
        # The new chunks' terms numbered after this index's, in the order they came.
        column = dict(self._column)
        renamed = np.asarray([column.setdefault(t, len(column)) for t in new.column], np.int64)
        new_rows, new_columns, new_tf = new.entries()
        new_columns = renamed[new_columns]
        ids = [self.ids[i] for i in rows] + new.ids
        sources = [str(self.sources[i]) for i in rows] + new.sources
        access = [self.access[i] for i in rows] + new.access
        # The kept chunks' postings, renumbered in order (so each column's rows still
        # ascend), then the new chunks' after them.
        renumber = np.cumsum(kept) - 1
        held = kept[self._rows]
        counts = _Counts.of(
            np.concatenate([renumber[self._rows[held]], new_rows + len(rows)]),
            np.concatenate([self._counts.columns()[held], new_columns]),
            np.concatenate([self._tf[held], new_tf]),
            n_rows=len(ids),
            n_columns=len(column),
        )
        used, counts = counts.without_empty_columns()
        vocabulary = list(column)
        return KeywordIndex(ids, sources, counts, [vocabulary[i] for i in used], generation, access)

    def _readable_lists(self, readers: Collection[str]) -> np.ndarray:
        """Per access list, whether ``readers`` may read its chunks."""
        return np.asarray([not set(a).isdisjoint(readers) for a in self._lists], dtype=bool)

    def _scope(self, readers: Collection[str] | None) -> _Scope:
        """The statistics' ground for ``readers``: the chunks they may read (all: None).
        Sums of whole numbers, so they never depend on the order of unreadable chunks."""
        key = frozenset(readers) if readers is not None else None
        scope = self._scopes.get(key) if key is not None else None
        if scope is not None:
            return scope
        lists: np.ndarray | None = None
        n, total = len(self.ids), int(self._lengths.sum())
        if key is not None:
            lists = self._readable_lists(key)
            n = int(self._list_chunks[lists].sum())
            total = int(self._list_length[lists].sum())
            if lists.all():  # the same statistics as no restriction, found faster
                lists = None
        chunks = lists[self._list_of] if lists is not None else None
        scope = _Scope(lists, chunks, n, total / n if n else 0.0)
        if key is not None:
            if len(self._scopes) >= _SCOPES:
                self._scopes.clear()  # atomic, unlike dropping the oldest: searches share it
            self._scopes[key] = scope
        return scope

    def _df(self, column: int, scope: _Scope) -> int:
        """How many chunks in ``scope`` hold the term of ``column``."""
        if scope.lists is None:
            return int(self._indptr[column + 1] - self._indptr[column])
        lo, hi = self._df_indptr[column], self._df_indptr[column + 1]
        return int(self._df_count[lo:hi][scope.lists[self._df_list[lo:hi]]].sum())

    def search(
        self,
        query: str,
        k: int,
        sources: Sequence[str] | None = None,
        readers: Collection[str] | None = None,
    ) -> list[KeywordHit]:
        """At most ``k`` chunks with a positive BM25 score, best first (equal scores: by
        chunk id), among those from ``sources`` (when given) that ``readers`` may see
        (when given). The statistics count what ``readers`` may read, whatever ``sources``."""
        if not self.ids or k <= 0 or (sources is not None and not sources):
            return []
        if readers is not None and not readers:
            return []
        scope = self._scope(readers)
        if scope.n == 0:
            return []
        scores = self._scores(self._read(query, scope), scope)
        keep = scores > 0
        if scope.chunks is not None:
            keep &= scope.chunks
        found = np.flatnonzero(keep)
        if sources is not None:
            wanted = [self._source_code[s] for s in sources if s in self._source_code]
            found = found[np.isin(self._source_of[found], wanted)]
        top = self._top(found, scores[found], self._id_rank[found], k)
        return [KeywordHit(self.ids[int(i)], float(scores[i])) for i in top]

    def _scores(self, terms: list[str], scope: _Scope) -> np.ndarray:
        """Each chunk's BM25 score for ``terms`` with ``scope``'s statistics, a repeated
        term counting as often as it is repeated (as bm25s counted it). Chunks outside
        ``scope`` get scores too, which the caller drops: filtering every term's postings
        first would cost more than scoring them."""
        # float32 sums, as bm25s's: the same precision its scores had.
        scores = np.zeros(len(self.ids), dtype=np.float32)
        c0, c1 = _K1 * (1.0 - _B), _K1 * _B / scope.avgdl
        for term, times in Counter(terms).items():
            column = self._column.get(term)
            df = self._df(column, scope) if column is not None else 0
            if column is None or df == 0:
                continue
            lo, hi = self._indptr[column], self._indptr[column + 1]
            tf = self._tf[lo:hi]
            # idf * tf / (tf + k1 * (1 - b + b * length / avgdl)), in place in float32.
            weight = self._posting_length[lo:hi] * np.float32(c1)
            weight += tf
            weight += np.float32(c0)
            np.divide(tf, weight, out=weight)
            weight *= np.float32(times * _idf(df, scope.n))
            # A column holds each chunk once, so this adds one weight per chunk; numpy
            # indexes faster with its own integer type than with the stored int32.
            scores[self._rows[lo:hi].astype(np.intp)] += weight
        return scores

    @staticmethod
    def _top(found: np.ndarray, scores: np.ndarray, ranks: np.ndarray, k: int) -> np.ndarray:
        """The ``k`` best of ``found`` by score, ties by ``ranks`` (the ids' order): the
        same chunks in the same order whatever else the index holds."""
        if len(found) > k:
            # Everything tying with the k-th best stays in, so the cut is deterministic.
            kth = np.partition(scores, len(scores) - k)[len(scores) - k]
            keep = scores >= kth
            found, scores, ranks = found[keep], scores[keep], ranks[keep]
        return found[np.lexsort((ranks, -scores))][:k]

    def coverage(
        self, query: str, texts: Sequence[str], readers: Collection[str] | None = None
    ) -> float:
        """Share of the query's content terms, weighted by IDF, that occur in ``texts``.

        Terms the collection has never seen weigh most, so a question about
        something the documents never mention ("jury service") scores low even
        when its other words ("paid leave") are everywhere. With ``readers``, document
        frequencies count only the chunks they may read, as in :meth:`search`, so whether
        a question is refused never depends on what other documents say.
        """
        scope = self._scope(readers)
        terms = set(self._read(query, scope)) - question_terms()
        if not terms:
            return 1.0
        present = {t for text in texts for t in tokenize(text)}
        weights = self.idf(terms, readers)
        return sum(w for t, w in weights.items() if t in present) / sum(weights.values())

    def idf(self, terms: Iterable[str], readers: Collection[str] | None = None) -> dict[str, float]:
        """Each (stemmed) term's inverse document frequency, as :meth:`search` weighs it
        for ``readers``: counted over the chunks they may read (None: every chunk)."""
        scope = self._scope(readers)
        columns = {t: self._column.get(t) for t in terms}
        return {
            t: _idf(self._df(c, scope) if c is not None else 0, scope.n) for t, c in columns.items()
        }

    def unseen(self, terms: Sequence[str], readers: Collection[str] | None = None) -> list[str]:
        """The ``terms`` (words, names) with a stem no chunk ``readers`` may read contains."""
        scope = self._scope(readers)
        return [t for t in terms if not all(self._held(s, scope) for s in self._read(t, scope))]

    def mentions(self, source: str, word: str, readers: Collection[str] | None = None) -> bool:
        """Whether a chunk of ``source`` that ``readers`` may read holds each stem of
        ``word`` (as :meth:`search` reads it: "headcount" as "head count")."""
        scope = self._scope(readers)
        code = self._source_code.get(source)
        return code is not None and code in self._saying(self._read(word, scope), scope)

    def spread(self, word: str, readers: Collection[str] | None = None) -> tuple[int, int]:
        """How many of the documents ``readers`` may read (of a chunk) say ``word``, that
        is hold each of its stems as :meth:`mentions` reads them, and how many they may
        read."""
        scope = self._scope(readers)
        if scope.chunks is None:
            documents = len(self._source_code)
        else:
            documents = len(np.unique(self._source_of[scope.chunks]))
        return len(self._saying(self._read(word, scope), scope)), documents

    def _saying(self, terms: Sequence[str], scope: _Scope) -> set[int]:
        """The documents (source codes) in ``scope`` each of whose ``terms`` some chunk of
        theirs holds; none for no terms."""
        saying: set[int] | None = None
        for term in terms:
            column = self._column.get(term)
            if column is None:
                return set()
            rows = self._rows[self._indptr[column] : self._indptr[column + 1]]
            if scope.chunks is not None:
                rows = rows[scope.chunks[rows]]
            found = set(np.unique(self._source_of[rows]).tolist())
            saying = found if saying is None else saying & found
            if not saying:
                return set()
        return saying or set()

    def _read(self, text: str, scope: _Scope) -> list[str]:
        """``text``'s stems as :meth:`search` reads them (see :meth:`_joined`), knowing
        how its words were written."""
        return self._joined(tokenize(text), scope, set(words(text)))

    def _held(self, stem: str, scope: _Scope) -> bool:
        column = self._column.get(stem)
        return column is not None and self._df(column, scope) > 0

    def joined(
        self,
        stems: Sequence[str],
        readers: Collection[str] | None = None,
        written: Collection[str] | None = None,
    ) -> list[str]:
        """``stems`` as :meth:`search` and :meth:`coverage` read them, for ``readers``:
        see :meth:`_joined`."""
        return self._joined(stems, self._scope(readers), written)

    def _joined(
        self, stems: Sequence[str], scope: _Scope, written: Collection[str] | None = None
    ) -> list[str]:
        """``stems``, each one no chunk holds that is an irregular past form of a verb they
        hold taken as the verb ("gave": "give"), else one that is two words the chunks
        hold written as one ("headcount": "head count", "wifi": "Wi-Fi") taken as those
        two, else one that is the start of words the chunks hold ("defib", "info") taken
        as the most common of them: people shorten words the documents write in full. With
        ``written`` (the words as written), only a stem written as it is may be short for
        another: "surge" (stem "surg") is no "surgery"."""
        out = []
        for stem in stems:
            if self._held(stem, scope) or not stem.isalpha():  # "2022" is no "20 22"
                out.append(stem)
                continue
            base = _bases().get(stem)
            if base is not None and self._held(base, scope):
                out.append(base)
                continue
            parts: tuple[str, ...] | None = next(
                (
                    (stem[:i], stem[i:])
                    for i in range(len(stem) - 2, 1, -1)
                    if self._held(stem[:i], scope) and self._held(stem[i:], scope)
                ),
                None,
            )
            if parts is None and (written is None or stem in written):
                parts = (self._completed(stem, scope) or stem,)
            out.extend(parts or (stem,))
        return out

    def _completed(self, stem: str, scope: _Scope) -> str | None:
        """The most common held term that ``stem`` (4 letters or more) starts, or None."""
        if len(stem) < _SHORTEST_ABBREVIATION:
            return None
        if self._sorted_vocabulary is None:
            self._sorted_vocabulary = sorted(self._vocabulary)
        terms = self._sorted_vocabulary
        best, most = None, 0
        at = bisect.bisect_left(terms, stem)
        for word in itertools.islice(terms, at, at + _MOST_COMPLETIONS):
            if not word.startswith(stem):
                break
            df = self._df(self._column[word], scope)
            if df > most:
                best, most = word, df
        return best

    # -- persistence ------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write to a new sub-folder of ``folder`` and switch ``CURRENT`` to it atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"g{self.generation}-{os.getpid()}"
        if target.exists():
            shutil.rmtree(target)
        target.mkdir()
        self._counts.save(target / "counts.npz")
        meta = {
            "format": _FORMAT,
            "generation": self.generation,
            "ids": self.ids,
            "sources": list(self.sources),
            "access": [list(a) for a in self.access],
            "vocabulary": self._vocabulary,
        }
        (target / "meta.json").write_text(json.dumps(meta))
        tmp = folder / f"CURRENT.{os.getpid()}"
        tmp.write_text(target.name)
        os.replace(tmp, folder / "CURRENT")
        for old in folder.iterdir():
            if old.is_dir() and old != target:
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def saved_generation(folder: Path) -> int | None:
        """The generation of the current index in ``folder``, without loading it (its
        sub-folder is named after it), or None if there is none. An index in an older
        format (no ``meta.json``) counts as none, so the next ingest rebuilds it."""
        try:
            name = (folder / "CURRENT").read_text().strip()
            if not name.startswith("g") or not (folder / name / "meta.json").is_file():
                return None
            return int(name[1:].split("-")[0])
        except (OSError, ValueError):
            return None

    @classmethod
    def load(cls, folder: Path) -> KeywordIndex | None:
        """The current index in ``folder``, or None if there is none, it is unreadable or
        it is in another format (the bm25s one before per-reader statistics)."""
        try:
            target = folder / (folder / "CURRENT").read_text().strip()
            meta = json.loads((target / "meta.json").read_text())
            if meta.get("format") != _FORMAT:
                return None
            ids, vocabulary = meta["ids"], meta["vocabulary"]
            counts = _Counts.load(target / "counts.npz", len(ids), len(vocabulary))
            if counts is None:
                return None
            return cls(
                ids, meta["sources"], counts, vocabulary, int(meta["generation"]), meta["access"]
            )
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            return None


def count_terms(text: str, source: str | None = None) -> dict[str, int]:
    """How often each term (:func:`tokenize`) occurs in ``text``, in order of first use.

    With ``source`` (the chunk's document), the words of its file name count once more:
    a slide deep in ``q3_review.pptx`` never says "Q3 review", and a question about "the
    Q3 review's overdue invoices" should find it; people name files for what they hold."""
    counts = Counter(tokenize(text))
    if source:
        counts.update(dict.fromkeys(tokenize(Path(source).stem), 1))
    return dict(counts)


#: A chunk as the index takes it: id, source, text (or its :func:`count_terms`), access.
Entry = tuple[str, str, "str | Mapping[str, int]", Sequence[str]]


class TermCounts:
    """Chunks' term counts, gathered one chunk at a time (an ingest adds each batch as it
    commits it, counted beforehand in the parsing threads), to become an index or be
    added to one: ids, sources, access lists, and one (row, column, count) entry per
    term a chunk holds, in row order, its terms numbered in order of first use."""

    def __init__(self, records: Iterable[Entry] = ()) -> None:
        self.ids: list[str] = []
        self.sources: list[str] = []
        self.access: list[Sequence[str]] = []
        self.column: dict[str, int] = {}
        self._rows = array("q")
        self._columns = array("q")
        self._tf = array("f")
        for record in records:
            self.add(*record)

    def add(
        self, chunk_id: str, source: str, text: str | Mapping[str, int], readers: Sequence[str]
    ) -> None:
        terms = count_terms(text, source) if isinstance(text, str) else text
        row = len(self.ids)
        self.ids.append(chunk_id)
        self.sources.append(source)
        self.access.append(tuple(readers))
        column = self.column
        self._rows.extend([row] * len(terms))
        self._columns.extend([column.setdefault(term, len(column)) for term in terms])
        self._tf.extend(terms.values())

    def entries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows, columns and counts, as arrays."""
        return (
            np.frombuffer(self._rows, dtype=np.int64),
            np.frombuffer(self._columns, dtype=np.int64),
            np.frombuffer(self._tf, dtype=np.float32),
        )


def _starts(groups: np.ndarray, n: int) -> np.ndarray:
    """Where each of the groups ``0..n-1`` starts in the sorted ``groups``, and the end."""
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(groups, minlength=n), out=starts[1:])
    return starts


@dataclass(frozen=True, slots=True)
class _Counts:
    """Term counts, chunks x terms, stored by term (the CSC layout): the chunks holding
    term ``j`` are ``rows[indptr[j]:indptr[j + 1]]``, ascending, with their counts in
    ``tf``. Saved as scipy's ``save_npz`` saves a CSC matrix, so either reads the other."""

    indptr: np.ndarray  # int64, one more than there are terms
    rows: np.ndarray  # int32
    tf: np.ndarray  # float32
    n_rows: int  # chunks, some of which may hold no term

    @classmethod
    def of(
        cls, rows: np.ndarray, columns: np.ndarray, tf: np.ndarray, n_rows: int, n_columns: int
    ) -> _Counts:
        """The ``n_rows`` x ``n_columns`` counts of entries with distinct (row, column)
        pairs, listed so that each column's rows ascend (row order does)."""
        order = np.argsort(columns, kind="stable")
        return cls(
            _starts(columns, n_columns),
            rows[order].astype(np.int32),
            tf[order].astype(np.float32),
            n_rows,
        )

    def columns(self) -> np.ndarray:
        """Each entry's column."""
        return np.repeat(np.arange(len(self.indptr) - 1), np.diff(self.indptr))

    def without_empty_columns(self) -> tuple[np.ndarray, _Counts]:
        """The columns some chunk holds, and the counts of those alone."""
        used = np.flatnonzero(np.diff(self.indptr))
        indptr = np.append(self.indptr[used], len(self.rows))
        return used, _Counts(indptr, self.rows, self.tf, self.n_rows)

    def save(self, path: Path) -> None:
        # Uncompressed: loading is a plain read, and the counts compress poorly anyway.
        shape = np.array([self.n_rows, len(self.indptr) - 1])
        with path.open("wb") as out:
            np.savez(
                out, indices=self.rows, indptr=self.indptr, format=b"csc", shape=shape, data=self.tf
            )

    @classmethod
    def load(cls, path: Path, n_rows: int, n_columns: int) -> _Counts | None:
        """The counts saved at ``path``, or None if they are not ``n_rows`` x ``n_columns``
        CSC counts or do not hold together."""
        with np.load(path, allow_pickle=False) as saved:
            if saved["format"].item() != b"csc":
                return None
            if tuple(saved["shape"]) != (n_rows, n_columns):
                return None
            indptr = saved["indptr"].astype(np.int64)
            rows = saved["indices"].astype(np.int32)
            tf = saved["data"].astype(np.float32)
        if len(indptr) != n_columns + 1 or indptr[0] != 0 or indptr[-1] != len(rows):
            return None
        if len(tf) != len(rows) or np.any(np.diff(indptr) < 0):
            return None
        if len(rows) and (rows.min() < 0 or rows.max() >= n_rows):
            return None
        return cls(indptr, rows, tf, n_rows)
