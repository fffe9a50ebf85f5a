"""Incremental, faithful ingest on the real models and a real Chroma."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag import Assistant, Settings
from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.slow

FILES = ["travel_expense_policy.md", "it_security_notes.txt", "office_locations.csv"]


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    (folder / "sub").mkdir(parents=True)
    for name in FILES[:2]:
        shutil.copy(SAMPLE_DOCS / name, folder / name)
    shutil.copy(SAMPLE_DOCS / FILES[2], folder / "sub" / FILES[2])
    return folder


def chunk_ids(a: Assistant, source: Path) -> set[str]:
    return {
        r.id for r in a.collection().store.iter_records() if r.metadata["source"] == str(source)
    }


def test_reingest_changed_and_deleted_files(corpus: Path, tmp_path: Path) -> None:
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    first = a.ingest([corpus])
    assert len(first.added) == 3 and not first.failed and first.chunks_written > 0
    total = a.collection().store.count()
    assert total == first.chunks_written == sum(d.chunks for d in a.documents())

    again = a.ingest([corpus])
    assert (len(again.unchanged), again.chunks_written, again.added, again.updated) == (
        3,
        0,
        [],
        [],
    )
    assert a.collection().store.count() == total

    # Touched but identical content: still nothing re-embedded.
    policy = corpus / FILES[0]
    policy.write_bytes(policy.read_bytes())
    assert a.ingest([corpus]).chunks_written == 0

    # A changed file: its old chunks are replaced, never duplicated.
    notes = corpus / FILES[1]
    old_ids = chunk_ids(a, notes)
    notes.write_text(notes.read_text() + "\nNEW RULE: USB sticks are banned from 1 May 2026.\n")
    changed = a.ingest([corpus])
    assert changed.updated == [str(notes)] and changed.chunks_written > 0
    new_ids = chunk_ids(a, notes)
    assert new_ids and not (new_ids & old_ids)
    assert a.collection().store.count() == total - len(old_ids) + len(new_ids)
    hits = a.search("Are USB sticks allowed?", k=3)
    assert any("USB sticks are banned" in p.text for p in hits)

    # A deleted file in an ingested folder disappears from the index.
    csv = corpus / "sub" / FILES[2]
    csv.unlink()
    removed = a.ingest([corpus])
    assert removed.removed == [str(csv)]
    assert not chunk_ids(a, csv) and a.manifest.get("default", str(csv)) is None
    assert all(p.source != str(csv) for p in a.search("Leeds office phone number", k=10))


def test_bad_files_are_reported_and_the_rest_ingested(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(SAMPLE_DOCS / "travel_expense_policy.md", folder)
    (folder / "empty.txt").write_bytes(b"")
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.7\nthis is not a pdf body")
    (folder / "fake.docx").write_bytes(b"not a zip at all")
    (folder / "blank.md").write_text("   \n\n  ")
    (folder / "image.png").write_bytes(b"\x89PNG....")  # an image (read by OCR), broken
    (folder / "song.mp3").write_bytes(b"ID3\x04")  # skipped: not a document type
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    report = a.ingest([folder, tmp_path / "missing.txt"])
    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) == {
        "empty.txt",
        "corrupt.pdf",
        "fake.docx",
        "blank.md",
        "image.png",
        "missing.txt",
    }
    assert "empty" in failed["empty.txt"] and "PDF" in failed["corrupt.pdf"]
    assert "no such file" in failed["missing.txt"]
    assert "not a real PNG, JPEG or TIFF image" in failed["image.png"]
    assert [Path(s).name for s in report.added] == ["travel_expense_policy.md"]
    assert [Path(s.path).name for s in report.skipped] == ["song.mp3"]


def test_remove_a_document_and_list(assistant: Assistant, tmp_path: Path) -> None:
    a = Assistant(Settings(data_dir=tmp_path / "data"), embedder=assistant.embedder)
    source = tmp_path / "note.txt"
    source.write_text("The rooftop garden is open to staff on Fridays from 12:00 to 14:00.")
    a.ingest([source])
    assert [d.source for d in a.documents()] == [str(source)]
    assert a.remove(source) == [str(source)]
    assert a.documents() == [] and a.collection().store.count() == 0
    assert a.search("rooftop garden", k=3) == []


def test_a_new_embedder_re_embeds_the_collection_without_parsing(
    corpus: Path, tmp_path: Path
) -> None:
    """Vectors from two embedders must not be mixed: switching the backend makes the next
    ingest give every stored chunk a new vector, from its stored text."""
    data = tmp_path / "data"
    old = Assistant(Settings(data_dir=data, embed_backend="torch"))
    first = old.ingest([corpus])
    assert first.chunks_written > 0 and old.manifest.embedder("default") == old.embedder.name

    new = Assistant(Settings(data_dir=data))  # the default: the ONNX graph
    assert new.embedder.name != old.embedder.name
    assert any("re-embeds" in p for p in new.check())
    records = list(new.collection().store.iter_records())
    stale = new.collection().store.embeddings([r.id for r in records])

    # Only the embedder changed: no file is parsed or rewritten, every vector is replaced.
    again = new.ingest([corpus])
    assert again.reembedded == first.chunks_written
    assert (len(again.unchanged), again.chunks_written) == (3, 0)
    fresh = new.collection().store.embeddings([r.id for r in records])
    assert np.allclose(fresh, new.embedder.embed([r.text for r in records]), atol=1e-5)
    assert not np.allclose(fresh, stale, atol=1e-3)
    assert new.manifest.embedder("default") == new.embedder.name
    assert new.check() == []
    assert new.ingest([corpus]).reembedded == 0

    # With nothing to do, an ingest never opens the vector store (nor imports chromadb).
    idle = Assistant(Settings(data_dir=data))
    assert idle.ingest([corpus]).unchanged and not idle.collection().opened


def test_a_crash_inside_a_batch_commit_leaves_a_clean_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small files are stored several to a commit. A crash after the batch's chunks are
    in the store but before its manifest rows are (here: killed right after the store's
    upsert) leaves every file of the batch journalled; the next ingest wipes and redoes
    them all, and the index is exactly a clean ingest's."""
    from rag.retrieval.chroma import ChromaStore
    from rag.retrieval.store import Record

    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(6):
        (folder / f"note-{i}.txt").write_text(f"Note {i}: the boiler in room {i} was serviced.")
    data = tmp_path / "data"
    real = ChromaStore.upsert
    batches = []

    def crash(self: ChromaStore, records: Sequence[Record], embeddings: Any) -> None:
        real(self, records, embeddings)
        batches.append({r.metadata["source"] for r in records})
        raise KeyboardInterrupt("killed mid-batch")

    monkeypatch.setattr(ChromaStore, "upsert", crash)
    with pytest.raises(KeyboardInterrupt):
        Assistant(Settings(data_dir=data)).ingest([folder])
    monkeypatch.setattr(ChromaStore, "upsert", real)
    assert len(batches) == 1 and len(batches[0]) == 6  # one commit held every file

    again = Assistant(Settings(data_dir=data))
    report = again.ingest([folder])
    assert len(report.repaired) == 6  # the whole batch was journalled
    assert len(report.added) == 6 and not report.failed
    assert again.collection().check() == []
    clean = Assistant(Settings(data_dir=tmp_path / "clean"))
    clean.ingest([folder])
    assert again.collection().store.count() == clean.collection().store.count()
    assert [d.source for d in again.documents()] == [d.source for d in clean.documents()]


def test_parallel_workers_report_every_file_once_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parser workers finish files out of order; progress still counts each file
    once against the right total, and the report lists them in the order found. (The
    second worker starts at once here, though nine files would not repay its start.)"""
    from rag.ingest import sandbox

    monkeypatch.setattr(sandbox._SHARED, "lazy", False)
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("employee_handbook.docx", "travel_expense_policy.md", "intranet_faq.html"):
        shutil.copy(SAMPLE_DOCS / name, folder)
    for i in range(5):
        (folder / f"small-{i}.txt").write_text(f"Small note {i} about the car park.")
    (folder / "empty.txt").write_bytes(b"")
    seen: list[tuple[str, str, int, int]] = []
    a = Assistant(Settings(data_dir=tmp_path / "data", parse_workers=2))
    report = a.ingest([folder], progress=lambda *event: seen.append(event))
    names = sorted(p.name for p in folder.iterdir())
    # Written files are reported when their batch is stored, after any failure found meanwhile.
    assert sorted(Path(path).name for path, *_ in seen) == names
    assert [(done, total) for *_, done, total in seen] == [(i + 1, 9) for i in range(9)]
    assert [Path(p).name for p in report.added] == [n for n in names if n != "empty.txt"]
    assert [Path(f.path).name for f in report.failed] == ["empty.txt"]


def test_a_file_named_twice_is_ingested_once(corpus: Path, tmp_path: Path) -> None:
    """``rag ingest docs docs/notes.txt``: the folder holds the file named beside it.
    Both copies once went into one batch and Chroma refused the repeated chunk ids."""
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    notes = corpus / FILES[1]
    report = a.ingest([corpus, notes, str(notes)])
    assert sorted(report.added) == sorted(str(p) for p in corpus.rglob("*.*"))
    assert not report.failed
    assert sum(d.chunks for d in a.documents()) == a.collection().store.count()
    assert [d.source for d in a.documents()].count(str(notes)) == 1
