"""Files -> blocks of text, offline.

HTML, Markdown and plain text are read by :mod:`rag.ingest.markup` (lxml and layout
rules). A PDF's text layer is read with pdfminer.six, text box by text box and page by
page, as unstructured's ``strategy="fast"`` does (its ``partition_pdf`` cannot be
imported without ``unstructured-inference``, which pulls a CUDA torchvision), ruled
tables row by row (:mod:`rag.ingest.pdf_tables`), and each
box is classified by the same rules as a text file's paragraphs
(:func:`rag.ingest.markup.text_kind`). Office files, CSV and mail go through
unstructured's partitioners; :mod:`rag.ingest.spacy_model` keeps its spaCy model local.

Scans are read by OCR (:mod:`rag.ingest.ocr`, Tesseract): a PDF page without a usable
text layer that shows an image, and PNG, JPEG and TIFF files (a TIFF's frames are its
pages). Their blocks carry the page's mean word confidence.
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import logging
import re
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rag.errors import ParseError
from rag.ingest.markup import (
    html_blocks,
    markdown_blocks,
    text_blocks,
    text_kind,
    without_bullet,
)
from rag.ingest.ocr import IMAGE_SUFFIXES, OcrOptions, OnPage
from rag.ingest.types import VANISHED, Block
from rag.privacy import lock_down

__all__ = [
    "BINARY_DATA",
    "IMAGE_SUFFIXES",
    "OCR_OFF",
    "SUPPORTED_SUFFIXES",
    "check_package",
    "file_type",
    "parse",
    "text_encoding",
    "warm_up",
]

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
    **dict.fromkeys(IMAGE_SUFFIXES, "image"),
}
SUPPORTED_SUFFIXES = frozenset(_TYPES)

#: Why an image is not read when OCR is switched off.
OCR_OFF = "an image, and OCR is off (RAG_OCR=false)"


def file_type(path: Path) -> str:
    """The document type of ``path`` by suffix; ParseError if unsupported."""
    try:
        return _TYPES[path.suffix.lower()]
    except KeyError:
        raise ParseError(path, f"unsupported file type {path.suffix or '(none)'!r}") from None


def parse(path: Path, ocr: OcrOptions | None = None, progress: OnPage | None = None) -> list[Block]:
    """The blocks of ``path`` in reading order; ParseError naming the file and reason.

    Hostile input is refused with a specific reason before a parser sees it: binary
    data under a text name, an Office package that unpacks to far more than its
    size (a zip bomb) or declares XML entities, HTML nested past what lxml reads, an
    image of absurd size (a decompression bomb), a file that is no image under an
    image's name. Time and memory limits are :mod:`rag.ingest.sandbox`'s job.

    ``ocr`` says how scans are read (default: English, on); ``progress`` is called
    after each page of a PDF or TIFF.
    """
    kind = file_type(path)
    ocr = ocr or OcrOptions()
    if kind in _PARTITIONERS:
        _prepare_unstructured()
    try:
        if kind == "pdf":
            return _pdf_blocks(path, ocr, progress)
        if kind == "image":
            return list(_image_blocks(path, ocr, progress))
        if kind in _PACKAGE_KINDS:
            check_package(path, kind)
        encoding = text_encoding(path, kind) if kind in _TEXT_KINDS else None
        if kind in _READERS:
            return _READERS[kind](path, encoding)
        elements = _PARTITIONERS[kind](path, encoding)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:
        raise ParseError(path, _reason(kind, exc)) from exc
    return [b for e in elements for b in _blocks(e)]


#: Formats read without unstructured (:mod:`rag.ingest.markup`).
_READERS: dict[str, Callable[[Path, str | None], list[Block]]] = {
    "html": html_blocks,
    "markdown": markdown_blocks,
    "text": text_blocks,
}


def warm_up(kind: str | None = None) -> bool:
    """Import the parsers for files of ``kind`` (a :func:`file_type`; None: all) now,
    not during a file; whether there was anything left to import. Only Office files,
    CSV and mail need unstructured and its spaCy model (~3 s, ~300 MB)."""
    warmed = _warm(("lxml.etree", "markdown"))
    if kind in (None, "pdf", "image"):
        warmed = _warm(("pdfminer.high_level", "pypdfium2", "PIL.Image", "numpy")) or warmed
    if (kind is None or kind in _PARTITIONERS) and _warm(_PARTITIONER_MODULES):
        _prepare_unstructured()
        from unstructured.partition.text import partition_text

        # The first partition loads language profiles and more (~60 MB): not a file's cost.
        partition_text(text="Warm-up.\n\nThe engineer inspected the bridge and wrote a report.")
        warmed = True
    return warmed


_warmed: set[tuple[str, ...]] = set()


def _warm(modules: tuple[str, ...]) -> bool:
    """Import ``modules`` once; False if that was done before."""
    import importlib

    if modules in _warmed:
        return False
    for module in modules:
        importlib.import_module(module)
    _warmed.add(modules)
    return True


# -- unstructured partitioners --------------------------------------------------------


#: unstructured runs spaCy over an element's whole text (up to 1M characters, three
#: times) only to guess whether it is a title or prose. On one 1 MB line that took 25 s
#: and 2.5 GB; the first 8,000 characters (a few pages) decide it as well, in 0.3 s.
_SPACY_MAX_CHARS = 8_000


#: unstructured detects each document's language (langdetect: 60-80 % of a small text
#: file's parse) only to label its elements, a label rag drops; ``[""]`` skips it. The
#: title/narrative heuristics take English either way.
_NO_LANGUAGE = [""]


@functools.lru_cache(maxsize=128)
def _sentences(text: str) -> tuple[str, ...]:
    """Sentences by punctuation rules (spaCy's ``sentencizer``), for unstructured's
    title/narrative heuristics, which only count them: its default ran the dependency
    parser over every element for that (70 % of an HTML page's parse). On the manual
    and the samples 1 block in 2,561 changes its kind."""
    return tuple(s.text for s in _sentencizer()(text[:_SPACY_MAX_CHARS]).sents)


@functools.cache
def _sentencizer() -> Any:
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.max_length = _SPACY_MAX_CHARS
    return nlp


@functools.cache
def _prepare_unstructured() -> None:
    """Once per process: opt out of unstructured's telemetry (the parser worker gets the
    switches in its environment; this covers a parse in any other process) and point it
    at the local spaCy model."""
    lock_down()
    from unstructured.nlp import tokenize

    from rag.ingest import spacy_model

    spacy_model.install()
    nlp = tokenize._get_nlp()
    nlp.max_length = _SPACY_MAX_CHARS
    # Part-of-speech tags (is there a verb?) stay the model's; sentences come by rule.
    if "parser" in nlp.pipe_names:
        nlp.disable_pipe("parser")
    tokenize._tokenize_for_cache = _sentences
    # Its one warning is about that truncation, which is wanted.
    logging.getLogger(tokenize.__name__).setLevel(logging.ERROR)


def _docx(path: Path, encoding: str | None) -> list[Any]:
    from unstructured.partition.docx import partition_docx

    return partition_docx(filename=str(path), languages=_NO_LANGUAGE)


def _pptx(path: Path, encoding: str | None) -> list[Any]:
    from unstructured.partition.pptx import partition_pptx

    return partition_pptx(filename=str(path), languages=_NO_LANGUAGE)


def _xlsx(path: Path, encoding: str | None) -> list[Any]:
    from unstructured.partition.xlsx import partition_xlsx

    return partition_xlsx(filename=str(path), find_subtable=False, languages=_NO_LANGUAGE)


def _csv(path: Path, encoding: str | None) -> list[Any]:
    from unstructured.partition.csv import partition_csv

    return partition_csv(filename=str(path), encoding=encoding, languages=_NO_LANGUAGE)


def _email(path: Path, encoding: str | None) -> list[Any]:
    from unstructured.documents.elements import Title
    from unstructured.partition.email import partition_email

    elements = partition_email(
        filename=str(path),
        content_source="text/plain",
        process_attachments=False,
        languages=_NO_LANGUAGE,
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


_PARTITIONERS: dict[str, Callable[[Path, str | None], list[Any]]] = {
    "docx": _docx,
    "pptx": _pptx,
    "xlsx": _xlsx,
    "csv": _csv,
    "email": _email,
}
_PARTITIONER_MODULES = tuple(
    f"unstructured.partition.{name}" for name in ("docx", "pptx", "xlsx", "csv", "text", "email")
)


# -- PDF ------------------------------------------------------------------------------


def _pdf_blocks(path: Path, ocr: OcrOptions, progress: OnPage | None) -> list[Block]:
    """The text layer, page by page; a page whose layer is unusable (none, or a few
    characters of junk) and that shows an image is OCRed instead. Running headers and
    footers are left out."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams

    from rag.ingest.ocr import PdfScans, usable_chars
    from rag.ingest.pdf_tables import split_page

    scans = PdfScans(path)
    read: list[list[Block]] = []
    try:
        pages = len(scans) or None
        for number, page in enumerate(extract_pages(str(path), laparams=LAParams()), start=1):
            blocks: list[Block] = []
            for item in split_page(page):
                if isinstance(item, str):
                    text = " ".join(item.split())
                    if text:
                        blocks.append(_classified(text, number))
                elif rows := item.rows():
                    blocks.append(Block.table(rows, number))
            scanned = (
                ocr.enabled
                and usable_chars(" ".join(b.text for b in blocks)) < ocr.min_text_chars
                and scans.shows_image(number - 1)
            )
            if scanned:
                image, dpi = scans.render(number - 1, ocr.dpi)
                blocks = list(_ocr_blocks(path, image, dpi, number, ocr))
            read.append(blocks)
            if progress is not None:
                progress(number, pages, scanned)
    except (ParseError, MemoryError):
        raise
    except Exception as exc:
        raise ParseError(path, _reason("pdf", exc)) from exc
    finally:
        scans.close()
    return without_running_lines(read)


#: How many blocks at each end of a page may be a running header or footer.
_PAGE_EDGE = 2


def without_running_lines(pages: list[list[Block]]) -> list[Block]:
    """The pages' blocks less their running headers and footers: a short line at the
    top or bottom of at least half the pages (at least two; three when it differs in its
    digits, "Page 3 of 4"), and not a sentence. Repeated on every page, such a line was
    a passage of its own or the heading of the page's first section, and matched every
    question about the company's name."""

    def key(block: Block) -> str | None:
        text = block.text.casefold()
        if block.kind == "Table" or len(text) > 100 or text.endswith((".", "!", "?")):
            return None  # a sentence is the page's own, however often it is said
        return re.sub(r"\d+", "#", text)

    def edges(blocks: list[Block]) -> list[Block]:
        return blocks[:_PAGE_EDGE] + blocks[_PAGE_EDGE:][-_PAGE_EDGE:]

    seen: dict[str, int] = {}
    for blocks in pages:
        for k in {k for k in map(key, edges(blocks)) if k is not None}:
            seen[k] = seen.get(k, 0) + 1
    texts = sum(1 for blocks in pages if blocks)
    running = {k for k, n in seen.items() if n >= (3 if "#" in k else 2) and n * 2 >= texts}
    out = []
    for blocks in pages:
        edge = {id(b) for b in edges(blocks)}
        out += [b for b in blocks if id(b) not in edge or key(b) not in running]
    return out


def _classified(text: str, page: int, ocr_confidence: float | None = None) -> Block:
    kind = text_kind(text)
    if kind == "ListItem":  # the glyph says nothing a list item does not
        text = without_bullet(text)
    return Block(text, kind, page, ocr_confidence=ocr_confidence)


def _ocr_blocks(
    path: Path, image: Any, dpi: float | None, page: int, ocr: OcrOptions
) -> Iterator[Block]:
    from rag.ingest.ocr import recognise

    read = recognise(path, image, ocr, dpi)
    for paragraph in read.paragraphs:
        yield _classified(paragraph, page, read.confidence)


def _image_blocks(path: Path, ocr: OcrOptions, progress: OnPage | None) -> Iterator[Block]:
    """An image file's text by OCR, a TIFF's frames as pages."""
    from rag.ingest.ocr import image_pages

    if not ocr.enabled:
        raise ParseError(path, OCR_OFF)
    pages = _frames(path)
    for number, (image, dpi) in enumerate(image_pages(path), start=1):
        yield from _ocr_blocks(path, image, dpi, number, ocr)
        if progress is not None:
            progress(number, pages, True)


def _frames(path: Path) -> int | None:
    """How many pages an image file has (a TIFF's frames), without decoding any."""
    from PIL import Image

    with contextlib.suppress(Exception), Image.open(path, formats=("TIFF",)) as image:
        return int(getattr(image, "n_frames", 1))
    return 1


# -- pre-checks -----------------------------------------------------------------------

_PACKAGE_KINDS = frozenset({"docx", "pptx", "xlsx"})
_TEXT_KINDS = frozenset({"text", "markdown", "csv", "html", "email"})

#: An Office package may unpack to 256 MB, or 20 times its own size if that is more.
#: Text-heavy XML compresses 5-15 times and images not at all (the sample documents
#: unpack to under 1 MB), while a zip bomb reaches 1,000 times. lxml needs several
#: times a part's size in memory, so a bigger package would only hit the memory limit
#: later, with a vaguer reason; zipfile never unpacks more than the sizes declared.
_UNPACKED_FLOOR = 256_000_000
_UNPACKED_RATIO = 20
_MAX_PARTS = 10_000
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTION_INFO = "EncryptionInfo".encode("utf-16-le")

BINARY_DATA = "not a text file (binary data)"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# C0 and C1 control characters other than tab, line breaks, form feed and escape.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def check_package(path: Path, kind: str) -> None:
    """ParseError unless ``path`` is a ZIP package of sane unpacked size whose XML
    declares no DOCTYPE (entity expansion, external entities: Office never writes one)."""
    label = kind.upper()
    with path.open("rb") as fh:
        if fh.read(len(_OLE_MAGIC)) == _OLE_MAGIC:
            encrypted = _ENCRYPTION_INFO in fh.read()
            raise ParseError(
                path,
                f"encrypted {label} (a password is needed to read it)"
                if encrypted
                else f"not a real {label} file (an old-format .doc/.xls/.ppt file, renamed?)",
            )
    try:
        package = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise ParseError(path, f"corrupt or not a real {label} file (not a ZIP package)") from exc
    with package:
        parts = package.infolist()
        if len(parts) > _MAX_PARTS:
            raise ParseError(path, f"{label} holds {len(parts):,} files (a zip bomb?)")
        unpacked = sum(p.file_size for p in parts)
        cap = max(_UNPACKED_FLOOR, _UNPACKED_RATIO * path.stat().st_size)
        if unpacked > cap:
            raise ParseError(
                path,
                f"{label} expands to {unpacked / 1e6:,.0f} MB when unpacked (a zip bomb?); "
                f"at most {cap / 1e6:,.0f} MB is allowed for this file",
            )
        for part in parts:
            declared = _xml_declarations(package, part)
            if declared:
                raise ParseError(path, f"{label} contains {declared}")


class _EndOfProlog(Exception):
    """Stops expat at the root element: a DOCTYPE can only come before it."""


def _xml_declarations(package: zipfile.ZipFile, part: zipfile.ZipInfo) -> str | None:
    """What ``part``'s prolog declares: entities, a DOCTYPE, or None (also when the
    part is no XML or is corrupt: the parser proper will say so)."""
    from xml.parsers import expat

    found: list[str] = []
    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = lambda *_: found.append(
        "an XML DOCTYPE declaration, which is not allowed"
    )
    parser.EntityDeclHandler = lambda *_: found.append(
        "XML entity declarations, which are not allowed"
    )

    def stop(*_: object) -> None:
        raise _EndOfProlog

    parser.StartElementHandler = stop
    parser.EndDoctypeDeclHandler = stop
    try:
        with package.open(part) as stream:
            chunk = stream.read(1 << 16)
            if not chunk.lstrip(b"\xef\xbb\xbf\xff\xfe\x00 \t\r\n").startswith(b"<"):
                return None
            while chunk:
                parser.Parse(chunk, False)
                chunk = stream.read(1 << 16)
    except _EndOfProlog:
        pass
    except (expat.ExpatError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError):
        return None
    return found[-1] if found else None


def text_encoding(path: Path, kind: str) -> str | None:
    """The encoding to read a text file with (None: leave it to the parser), or
    ParseError if it holds binary data.

    UTF-8 and text with a byte-order mark are read as such, HTML by its declared
    charset; other text is taken as Windows-1252, the superset of Latin-1 that
    Western-European systems wrote, and Latin-1 where that does not fit.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name
    declared = _META_CHARSET.search(head) if kind == "html" else None
    candidates = [declared.group(1).decode("ascii")] if declared else []
    for encoding in ["utf-8", *candidates, "cp1252", "latin-1"]:
        sample = _decoded_start(path, encoding)
        if sample is not None:
            break
    if sample is None or len(_CONTROL.findall(sample)) * 10 > len(sample):
        raise ParseError(path, BINARY_DATA)
    return None if kind == "email" else encoding


def _decoded_start(path: Path, encoding: str) -> str | None:
    """The first 64K characters of ``path`` in ``encoding``, or None where the file does
    not decode; ParseError at a NUL. Read in pieces: a text file may be big."""
    sample = ""
    try:
        decoder = codecs.getincrementaldecoder(encoding)()
        with path.open("rb") as fh:
            while piece := fh.read(1 << 20):
                text = decoder.decode(piece)
                if "\x00" in text:
                    raise ParseError(path, BINARY_DATA)
                sample += text[: (1 << 16) - len(sample)]
            decoder.decode(b"", final=True)
    except (UnicodeDecodeError, LookupError):
        return None
    return sample


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
    if isinstance(exc, FileNotFoundError):
        return VANISHED
    if isinstance(exc, OSError) and exc.strerror:
        return f"cannot read file: {exc.strerror}"
    if "password" in lowered or "encrypt" in lowered:
        return f"encrypted {kind.upper()} (a password is needed to read it)"
    if isinstance(exc, UnicodeDecodeError):
        return "text is not valid in any supported encoding"
    if isinstance(exc, RecursionError):
        return f"{kind.upper()} is nested too deeply to read"
    if kind in _PACKAGE_KINDS and (
        isinstance(exc, KeyError) or any(w in lowered for w in ("zip", "package", "not a valid"))
    ):
        return f"corrupt or not a real {kind.upper()} file ({text})"
    if kind == "image":
        return f"corrupt or not a real image ({text})"
    if kind == "pdf" and ("pdf" in lowered or "syntax" in lowered or "eof" in lowered):
        return f"corrupt or not a real PDF ({text})"
    if name == "UnprocessableEntityError":  # unstructured's messages are written for users
        return f"cannot parse as {kind}: {text}"
    return f"cannot parse as {kind}: {name}: {text}"


def blocks_text(blocks: Iterable[Block]) -> str:
    """All text of ``blocks``, one block a line (for tests and debugging)."""
    return "\n".join(b.text for b in blocks)
