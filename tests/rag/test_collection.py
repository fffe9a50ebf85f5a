"""A collection's vector space follows its embedder: re-embedding with vectors of another
length moves the chunks to a new space, and an interruption loses nothing.

The embedders are small deterministic fakes (a real embedded Chroma and manifest, real
files), so the logic runs in a second; tests/integration/test_model_servers.py does the
same with a real embedding server and the real local embedder."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from rag import Assistant, Settings
from rag.retrieval.keyword import KeywordIndex


class HashEmbedder:
    """Unit vectors from a text's hash: equal texts, equal vectors; ``fail_after`` calls
    of ``embed`` succeed, then it raises (an interrupted ingest)."""

    def __init__(self, dim: int, fail_after: int | None = None) -> None:
        self.dim = dim
        self.name = f"hash-{dim}"
        self.fail_after = fail_after
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("interrupted")
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=self.dim).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for n in range(4):
        (folder / f"note{n}.txt").write_text(f"Note {n}: the widget costs {10 * n} euros.")
    return folder


def test_reembedding_into_vectors_of_another_length_survives_an_interruption(
    tmp_path: Path, corpus: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = Assistant(settings, embedder=HashEmbedder(8))
    assert len(first.ingest([corpus]).added) == 4
    assert first.collection().store.dimension() == 8

    # Interrupted after the first document: searches still use the old space.
    broken = Assistant(settings, embedder=HashEmbedder(16, fail_after=2))
    with pytest.raises(KeyboardInterrupt):
        broken.ingest([corpus])
    assert first.manifest.embedder("default") == "hash-8"
    assert first.manifest.pending_space("default") is not None
    assert first.collection().store.dimension() == 8
    assert len(first.search("widget", mode="dense")) == 4

    # The next ingest finishes it, into the same new space; the old one is gone.
    fixed = Assistant(settings, embedder=HashEmbedder(16))
    report = fixed.ingest([corpus])
    assert report.reembedded == 4 and not report.chunks_written
    assert fixed.manifest.embedder("default") == "hash-16"
    assert fixed.manifest.pending_space("default") is None
    assert fixed.collection().store.dimension() == 16 and fixed.check() == []
    hits = fixed.search("Note 2: the widget costs 20 euros.", mode="dense")
    assert hits[0].source.endswith("note2.txt") and hits[0].similarity > 0.99
    # The first process, still holding the old space, follows the switch.
    assert first.collection().store.dimension() == 16
    names = {c.name for c in _chroma(settings).list_collections()}
    assert names == {f"rag_default-v{fixed.manifest.space('default')}"}


def _chroma(settings: Settings):  # type: ignore[no-untyped-def]
    from rag.retrieval.chroma import chroma_client

    return chroma_client(path=str(settings.chroma_dir))


def _postings(index: KeywordIndex) -> dict[str, tuple[str, tuple[str, ...], dict[str, float]]]:
    """Each chunk's source, access list and term counts, by id: the index's content,
    whatever the order of its rows and columns."""
    counts = index._counts
    terms: list[dict[str, float]] = [{} for _ in index.ids]
    for term, (lo, hi) in zip(index._vocabulary, pairwise(counts.indptr), strict=True):
        for row, tf in zip(counts.rows[lo:hi], counts.tf[lo:hi], strict=True):
            terms[row][term] = float(tf)
    return {
        chunk_id: (str(index.sources[row]), tuple(index.access[row]), terms[row])
        for row, chunk_id in enumerate(index.ids)
    }


def test_an_ingest_updates_the_keyword_index_to_what_a_rebuild_makes(
    tmp_path: Path, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the documents an ingest touched are read and tokenized again (a rebuild reads
    every chunk: seconds at tens of thousands); the index is the one a rebuild makes,
    down to each chunk's access list and the terms that left with a removed file."""
    settings = Settings(data_dir=tmp_path / "data")
    assistant = Assistant(settings, embedder=HashEmbedder(8))
    assistant.ingest([corpus])
    collection = assistant.collection()
    rebuilds: list[int] = []
    rebuild = collection._rebuild_keyword
    monkeypatch.setattr(collection, "_rebuild_keyword", lambda: rebuilds.append(1) or rebuild())

    (corpus / "note1.txt").write_text("Note 1: the gadget now costs 99 euros.")  # changed
    (corpus / "note2.txt").unlink()  # removed: "20" leaves the vocabulary
    (corpus / "memo.txt").write_text("Memo: the sprocket ships on Friday.")  # added
    report = assistant.ingest([corpus], access=["group:finance"])  # the rest: new access
    assert report.updated and report.added and report.removed and report.access_changed
    updated = collection.keyword_index()
    assert rebuilds == []  # updated in place, not rebuilt

    rebuilt = collection._rebuild_keyword()
    assert _postings(updated) == _postings(rebuilt)
    assert sorted(updated._vocabulary) == sorted(rebuilt._vocabulary)
    assert "20" not in updated._vocabulary and "sprocket" in updated._vocabulary
    for readers in (None, {"group:finance"}, {"everyone"}):
        for query in ("gadget euros", "sprocket Friday", "widget costs"):
            a = updated.search(query, 10, None, readers)
            b = rebuilt.search(query, 10, None, readers)
            assert [(h.id, round(h.score, 5)) for h in a] == [(h.id, round(h.score, 5)) for h in b]


def test_an_upload_that_cannot_be_ingested_is_not_kept(tmp_path: Path) -> None:
    """A file someone uploaded that could not be read stays nowhere: no front end lists it
    and none could delete it. An upload whose earlier version is indexed is kept, as the
    document's source, when its new version fails."""
    a = Assistant(Settings(data_dir=tmp_path / "data"), embedder=HashEmbedder(8))
    good, bad = a.save_uploads(
        [("notes.txt", b"The boiler in room 4 was serviced."), ("scan.pdf", b"%PDF-1.4 junk")]
    )
    assert good.path is not None and bad.path is not None
    report = a.ingest([good.path, bad.path])
    assert [f.path for f in report.failed] == [str(bad.path)]
    assert not bad.path.exists() and not bad.path.parent.exists()
    assert good.path.exists() and report.added == [str(good.path)]
    good.path.write_bytes(b"\x00\x01binary now" * 100)
    assert [f.path for f in a.ingest([good.path]).failed] == [str(good.path)]
    assert good.path.exists() and a.documents()[0].source == str(good.path)
