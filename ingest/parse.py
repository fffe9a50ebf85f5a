"""Files -> blocks of text, through unstructured, offline.

Each supported suffix maps to one unstructured partitioner. PDFs are the
exception in how text is *extracted*: unstructured's ``partition_pdf`` cannot be
imported without ``unstructured-inference`` (which pulls a CUDA torchvision), so
the text layer is read with pdfminer.six, text box by text box and page by
page, exactly as ``strategy="fast"`` does, and each box is classified by
unstructured's own ``element_from_text``. No strategy here needs a layout or OCR
model, and :mod:`ingest.spacy_model` keeps unstructured's spaCy model local.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from ingest.errors import ParseError
from ingest.types import Block

__all__ = ["SUPPORTED_SUFFIXES", "UNSTRUCTURED_ENV", "file_type", "parse"]

_TYPES = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".pptx": "pptx",
    ".xlsx": "xlsx",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".eml": "email",
}
SUPPORTED_SUFFIXES = frozenset(_TYPES)


def file_type(path: Path) -> str:
    """The document type of ``path`` by suffix; ParseError if unsupported."""
    try:
        return _TYPES[path.suffix.lower()]
    except KeyError:
        raise ParseError(path, f"unsupported file type {path.suffix or '(none)'!r}") from None


def parse(path: Path) -> list[Block]:
    """The blocks of ``path`` in reading order; ParseError naming the file and reason."""
    kind = file_type(path)
    _prepare_unstructured()
    try:
        if kind == "pdf":
            return list(_pdf_blocks(path))
        elements = _PARTITIONERS[kind](path)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(path, _reason(kind, exc)) from exc
    return [b for e in elements for b in _blocks(e)]


# -- unstructured partitioners --------------------------------------------------------


#: unstructured reads these before it sends usage data or prints its notice.
UNSTRUCTURED_ENV = {
    "DO_NOT_TRACK": "true",
    "SCARF_NO_ANALYTICS": "true",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}


def _prepare_unstructured() -> None:
    """Opt out of unstructured's telemetry and point it at the local spaCy model."""
    os.environ.update(UNSTRUCTURED_ENV)
    from ingest import spacy_model

    spacy_model.install()


def _docx(path: Path) -> list[Any]:
    from unstructured.partition.docx import partition_docx

    return partition_docx(filename=str(path))


def _pptx(path: Path) -> list[Any]:
    from unstructured.partition.pptx import partition_pptx

    return partition_pptx(filename=str(path))


def _xlsx(path: Path) -> list[Any]:
    from unstructured.partition.xlsx import partition_xlsx

    return partition_xlsx(filename=str(path), find_subtable=False)


def _csv(path: Path) -> list[Any]:
    from unstructured.partition.csv import partition_csv

    return partition_csv(filename=str(path))


def _html(path: Path) -> list[Any]:
    from unstructured.partition.html import partition_html

    return partition_html(filename=str(path))


def _markdown(path: Path) -> list[Any]:
    from unstructured.partition.md import partition_md

    return partition_md(filename=str(path))


def _text(path: Path) -> list[Any]:
    from unstructured.cleaners.core import group_broken_paragraphs
    from unstructured.partition.text import partition_text

    return partition_text(filename=str(path), paragraph_grouper=group_broken_paragraphs)


def _email(path: Path) -> list[Any]:
    from unstructured.documents.elements import Title
    from unstructured.partition.email import partition_email

    elements = partition_email(
        filename=str(path), content_source="text/plain", process_attachments=False
    )
    meta = elements[0].metadata if elements else None
    header = []
    if meta is not None:
        for label, value in (
            ("Subject", meta.subject),
            ("From", meta.sent_from),
            ("To", meta.sent_to),
            ("Date", meta.last_modified),
        ):
            if value:
                header.append(f"{label}: {', '.join(value) if isinstance(value, list) else value}")
    return ([Title("\n".join(header))] if header else []) + list(elements)


_PARTITIONERS: dict[str, Callable[[Path], list[Any]]] = {
    "docx": _docx,
    "pptx": _pptx,
    "xlsx": _xlsx,
    "csv": _csv,
    "html": _html,
    "markdown": _markdown,
    "text": _text,
    "email": _email,
}


# -- PDF ------------------------------------------------------------------------------


def _pdf_blocks(path: Path) -> Iterator[Block]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from unstructured.partition.text import element_from_text

    try:
        for number, page in enumerate(extract_pages(str(path), laparams=LAParams()), start=1):
            for box in page:
                if isinstance(box, LTTextContainer):
                    text = box.get_text().strip()
                    if text:
                        element = element_from_text(" ".join(text.split()))
                        yield Block(element.text, element.category, number)
    except Exception as exc:
        raise ParseError(path, _reason("pdf", exc)) from exc


# -- elements -> blocks ---------------------------------------------------------------


def _blocks(element: Any) -> list[Block]:
    text = (element.text or "").strip()
    meta = element.metadata
    rows = _table_rows(meta.text_as_html) if element.category == "Table" else None
    if not text and not rows:
        return []
    kind = element.category
    if kind == "Title" and _not_a_heading(text):
        kind = "NarrativeText"
    if kind == "Table" and meta.page_name:
        # A spreadsheet's "page" is a sheet: its name becomes the table's heading.
        return [Block(f"Sheet: {meta.page_name}", "Title"), Block(text, kind, None, rows)]
    return [Block(text=text, kind=kind, page=meta.page_number, rows=rows)]


def _not_a_heading(text: str) -> bool:
    """unstructured's title heuristic also fires on short sentences and wrapped lines."""
    return text.endswith((".", ",", ";")) or len(text.split()) > 15


def _table_rows(html: str | None) -> tuple[tuple[str, ...], ...] | None:
    if not html:
        return None
    import lxml.html

    root = lxml.html.fromstring(html)
    rows = []
    for tr in root.iter("tr"):
        cells = tuple(" ".join(c.text_content().split()) for c in tr if c.tag in ("td", "th"))
        if any(cells):
            rows.append(cells)
    return tuple(rows) or None


def _reason(kind: str, exc: BaseException) -> str:
    name = type(exc).__name__
    text = str(exc).strip() or name
    lowered = f"{name} {text}".lower()
    if "password" in lowered or "encrypt" in lowered:
        return f"encrypted {kind.upper()} (a password is needed to read it)"
    if isinstance(exc, UnicodeDecodeError):
        return "text is not valid in any supported encoding"
    if kind in {"docx", "pptx", "xlsx"} and ("zip" in lowered or "package" in lowered):
        return f"corrupt or not a real {kind.upper()} file ({text})"
    if kind == "pdf" and ("pdf" in lowered or "syntax" in lowered or "eof" in lowered):
        return f"corrupt or not a real PDF ({text})"
    return f"cannot parse as {kind}: {name}: {text}"


def blocks_text(blocks: Iterable[Block]) -> str:
    """All text of ``blocks``, one block a line (for tests and debugging)."""
    return "\n".join(b.text for b in blocks)
