from pathlib import Path

import numpy as np

from rag.retrieval.hybrid import reciprocal_rank_fusion
from rag.retrieval.store import Record


def test_rrf_rewards_agreement_between_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["d", "b", "e"]], k=60)
    ids = [i for i, _ in fused]
    assert ids[0] == "b"  # 2nd in both beats 1st in only one
    assert set(ids) == {"a", "b", "c", "d", "e"}
    assert dict(fused)["b"] == 2 / 62


def test_rrf_of_one_ranking_keeps_its_order() -> None:
    assert [i for i, _ in reciprocal_rank_fusion([["x", "y", "z"]])] == ["x", "y", "z"]


def test_other_versions_of_many_sources_go_in_one_call(tmp_path: Path) -> None:
    """Each source keeps only the chunks of the version named for it, even where an old
    version of one file holds what another file holds now (the same content hash)."""
    from rag.retrieval.chroma import ChromaStore, chroma_client

    store = ChromaStore(chroma_client(path=str(tmp_path)), "versions")
    chunks = [  # (id, source, content hash)
        ("a-old", "/d/a.txt", "h1"),
        ("a-new", "/d/a.txt", "h2"),
        ("b-new", "/d/b.txt", "h1"),  # b now holds what a held before
        ("b-older", "/d/b.txt", "h0"),
        ("c-old", "/d/c.txt", "h9"),  # not in this commit: untouched
    ]
    records = [Record(i, f"text of {i}", {"source": s, "content_hash": h}) for i, s, h in chunks]
    vectors = np.eye(len(records), 8, dtype=np.float32)
    store.upsert(records, vectors)
    assert store.delete_other_versions({"/d/a.txt": "h2", "/d/b.txt": "h1"}) == 2
    assert sorted(r.id for r in store.iter_records()) == ["a-new", "b-new", "c-old"]
    assert store.delete_other_versions({"/d/c.txt": "h9"}) == 0


def test_chunk_text_is_kept_out_of_chromas_full_text_index(tmp_path: Path) -> None:
    """The text is stored in the metadata: Chroma indexes every document for a full-text
    search rag never asks (about half an upsert's time). Chunks a collection holds from
    before, with the text as Chroma's document, read back the same."""
    from rag.retrieval.chroma import ChromaStore, chroma_client

    store = ChromaStore(chroma_client(path=str(tmp_path)), "texts")
    new = Record("new", "The canteen opens at noon.", {"source": "/d/a.txt", "page": 2})
    store.upsert([new], np.eye(1, 8, dtype=np.float32))
    store._col.add(  # as an earlier version wrote it
        ids=["old"],
        documents=["Parking is free after six."],
        metadatas=[{"source": "/d/b.txt"}],
        embeddings=np.eye(1, 8, 1, dtype=np.float32),
    )
    assert store._col.get(ids=["new"], include=["documents"])["documents"] == [None]
    expected = {
        "new": (new.text, new.metadata),
        "old": ("Parking is free after six.", {"source": "/d/b.txt"}),
    }
    for records in (
        store.get(["new", "old"]),
        list(store.iter_records()),
        [h.record for h in store.query(np.eye(1, 8, dtype=np.float32)[0], 2)],
    ):
        assert {r.id: (r.text, r.metadata) for r in records} == expected


def test_equal_fused_scores_go_by_the_ranks_not_the_ids() -> None:
    """First in one list and first in the other tie; the first list's wins, whatever the
    ids (they hash the documents' paths, so a copy of the corpus would break it otherwise)."""
    assert [i for i, _ in reciprocal_rank_fusion([["b"], ["a"]])] == ["b", "a"]
    assert [i for i, _ in reciprocal_rank_fusion([["a"], ["b"]])] == ["a", "b"]
