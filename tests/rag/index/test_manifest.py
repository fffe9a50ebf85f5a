from pathlib import Path

from rag.index.manifest import DocumentRecord, Manifest


def record(source: str, digest: str = "h1", collection: str = "c") -> DocumentRecord:
    return DocumentRecord(collection, source, digest, 10, 1, 3, None, "text", "2026-01-01T00:00:00")


def test_put_get_prefix_delete_and_generation(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "m.sqlite3")
    assert m.generation("c") == 0
    m.put(record("/docs/a.txt"))
    m.put(record("/docs/sub/b.txt"))
    m.put(record("/docs-other/c.txt"))
    m.put(record("/docs/a.txt", collection="other"))
    assert m.get("c", "/docs/a.txt") == record("/docs/a.txt")
    assert [d.source for d in m.documents("c", "/docs/")] == ["/docs/a.txt", "/docs/sub/b.txt"]
    generation = m.generation("c")
    m.touch("c", "/docs/a.txt", 99)
    assert m.generation("c") == generation, "a touch is not a change"
    assert m.get("c", "/docs/a.txt").mtime_ns == 99  # type: ignore[union-attr]
    m.delete("c", "/docs/a.txt")
    assert m.get("c", "/docs/a.txt") is None and m.generation("c") == generation + 1
    assert m.get("other", "/docs/a.txt") is not None


def test_prefix_is_literal_not_a_pattern(tmp_path: Path) -> None:
    m = Manifest(tmp_path / "m.sqlite3")
    m.put(record("/a_b/x.txt"))
    m.put(record("/a%b/y.txt"))
    assert [d.source for d in m.documents("c", "/a_b/")] == ["/a_b/x.txt"]
