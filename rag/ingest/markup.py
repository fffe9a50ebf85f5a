"""HTML, Markdown and plain text -> blocks, with lxml and a few rules of layout.

unstructured guessed each element's kind (title or prose) with spaCy, which was most of
an HTML page's parse, and its import and models took a parser worker 3 s and ~300 MB
to load before the first file. These formats say what their parts are without a model:
HTML by its tags (headings, list items, tables), Markdown once rendered to HTML, plain
text by blank lines, underlines and bullets. The blocks have the kinds unstructured
gave (``Title``, ``NarrativeText``, ``ListItem``, ``Table`` with its rows), so the
chunker treats them alike.

The caller has already refused binary data and HTML nested too deeply for lxml
(:mod:`rag.ingest.parse`); time and memory limits are the sandbox's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.errors import ParseError
from rag.ingest.types import Block

__all__ = [
    "NAVIGATION",
    "html_blocks",
    "markdown_blocks",
    "text_blocks",
    "text_kind",
    "without_bullet",
]

#: Site navigation repeated on every page ("Prev | Up | Home | Next", menus, breadcrumbs):
#: about 20 % of the PostgreSQL manual's chunks, each a near-duplicate that crowds out
#: real passages. Elements marked as navigation by tag, role or class are dropped.
NAVIGATION = (
    "//nav | //*[@role='navigation'] | //table[starts-with(@summary, 'Navigation')]"
    " | //*[contains(concat(' ', normalize-space(@class), ' '), ' navheader ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' navfooter ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' breadcrumbs ')"
    " or contains(concat(' ', normalize-space(@class), ' '), ' breadcrumb ')]"
)

# -- HTML ---------------------------------------------------------------------------------

#: Never text a reader sees, or a site's footer (repeated on every page).
_SKIP = frozenset(
    "head footer script style noscript template svg math canvas iframe object embed select "
    "option button input textarea map area audio video source track".split()
)
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
#: Elements that start a block of their own; any other element's text runs on in the
#: block around it (``<b>``, ``<a>``, ``<code>``, ``<span>``...).
_BLOCK = frozenset(
    "address article aside blockquote body center dd details dialog dir div dl dt "
    "fieldset figcaption figure form header hgroup hr html legend li main menu "
    "nav ol p pre section summary table tbody td tfoot th thead tr ul caption".split()
)
#: A one-column table's cell up to this long is one line; a longer one is a page's layout.
_SHORT_CELL = 400
_SPACE = re.compile(r"[ \t\r\f\v\u00a0]+")
#: Zero-width space, soft hyphen, word joiner: where a long word may break, not a space.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u00ad\u2060"))


def html_blocks(path: Path, encoding: str | None, markup: bytes | None = None) -> list[Block]:
    """The blocks of an HTML page (``markup`` if given, else the file), navigation dropped."""
    from lxml import etree, html

    parser = html.HTMLParser(encoding=encoding, remove_comments=True, remove_pis=True)
    root = etree.fromstring(path.read_bytes() if markup is None else markup, parser)
    if any("depth" in entry.message.lower() for entry in parser.error_log):
        # lxml stops reading there and drops the rest silently.
        raise ParseError(
            path, "HTML is nested more than 255 elements deep; the text below that cannot be read"
        )
    if root is None:
        return []
    for element in root.xpath(NAVIGATION):
        _remove_keeping_tail(element)
    reader = _HtmlReader()
    reader.read(root, "NarrativeText")
    reader.flush("NarrativeText")
    return reader.blocks


def _remove_keeping_tail(element: Any) -> None:
    """Remove ``element``; the text after it (lxml's ``tail``) stays in the page."""
    parent = element.getparent()
    if parent is None:
        return
    tail, previous = element.tail, element.getprevious()
    parent.remove(element)
    if tail and tail.strip():
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail


class _HtmlReader:
    """Walks the tree in document order; inline text gathers in ``_pending`` until a
    block-level element starts or ends, then becomes one block of the enclosing kind."""

    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._pending: list[str] = []

    def read(self, element: Any, kind: str) -> None:
        if element.text:
            self._pending.append(element.text.replace("\n", " "))
        for child in element:
            tag = child.tag.lower() if isinstance(child.tag, str) else ""
            if tag in _SKIP or not tag:
                pass
            elif tag == "br":
                self._pending.append("\n")
            elif tag == "table":
                self.flush(kind)
                self._table(child)
            elif tag == "pre":
                self.flush(kind)
                self._emit(_preformatted(child.text_content()), "NarrativeText")
            elif tag in _HEADINGS or tag == "li" or tag in _BLOCK:
                own = "Title" if tag in _HEADINGS else "ListItem" if tag == "li" else kind
                self.flush(kind)
                self.read(child, own)
                self.flush(own)
            else:
                self.read(child, kind)
            if child.tail:
                self._pending.append(child.tail.replace("\n", " "))

    def flush(self, kind: str) -> None:
        text = _lines("".join(self._pending))  # source line breaks are spaces; <br>s are not
        self._pending.clear()
        if kind == "Title" and len(text.split()) > 30:
            kind = "NarrativeText"  # a heading tag around a paragraph is still a paragraph
        self._emit(text, kind)

    def _emit(self, text: str, kind: str) -> None:
        if text:
            self.blocks.append(Block(text, kind))

    def _table(self, table: Any) -> None:
        caption = table.find("caption")
        if caption is not None:
            self._emit(_flat(caption), "Title")
        cells = [
            [c for c in tr if isinstance(c.tag, str) and c.tag.lower() in ("td", "th")]
            for tr in table.xpath("./tr | ./thead/tr | ./tbody/tr | ./tfoot/tr")
        ]
        if max(map(len, cells), default=0) <= 1:
            # One column: a list in a table's clothes (a term and its description in one
            # cell: one line each), or a table used for layout (read as any other text).
            for cell in (c for row in cells for c in row):
                text = _flat(cell)
                if len(text) <= _SHORT_CELL:
                    self._emit(text, "NarrativeText")
                else:
                    self.read(cell, "NarrativeText")
                    self.flush("NarrativeText")
            return
        rows = [tuple(_flat(c) for c in row) for row in cells]
        rows = [row for row in rows if any(row)]
        if rows:
            self.blocks.append(Block.table(tuple(rows)))


def _flat(element: Any) -> str:
    """An element's text on one line, its blocks (paragraphs in a cell) one space apart."""
    reader = _HtmlReader()
    reader.read(element, "NarrativeText")
    reader.flush("NarrativeText")
    return " ".join(" ".join(b.text.split()) for b in reader.blocks)


def _lines(text: str) -> str:
    """Whitespace collapsed within lines, blank lines dropped (``<br>`` made the lines),
    and the invisible break hints inside long words removed (the manual writes
    ``BGWORKER_BACKEND_<zero-width space>DATABASE_CONNECTION``), so a search for the
    word finds it."""
    text = text.translate(_INVISIBLE)
    lines = (_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _preformatted(text: str) -> str:
    """Code and other preformatted text keeps its lines and indentation."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


# -- Markdown -----------------------------------------------------------------------------


def markdown_blocks(path: Path, encoding: str | None) -> list[Block]:
    """A Markdown file, rendered to HTML (with pipe tables) and read as HTML."""
    import markdown

    source = path.read_text(encoding=encoding or "utf-8", errors="replace")
    page = markdown.markdown(source, extensions=["tables", "fenced_code"])
    return html_blocks(path, "utf-8", f"<html><body>{page}</body></html>".encode())


# -- plain text ---------------------------------------------------------------------------

_UNDERLINE = re.compile(r"^\s*([-=_~*#+])\1{2,}\s*$")
#: Bullet glyphs: dashes and stars in plain text, and what word processors put in PDFs
#: (Word's Symbol-font bullet is U+F0B7).
_GLYPHS = "-*+\u2022\u2023\u25e6\u00b7\u2013\u2043\u2219\u25aa\u25cf\u25cb\u25a0\u27a2\uf0b7"
_BULLET = re.compile(rf"^\s*(?:[{re.escape(_GLYPHS)}]|\(?\d{{1,3}}[.)]|\(?[a-zA-Z][.)])\s+")
#: A bullet that is only a glyph (a number or letter says something: it stays).
_SYMBOL = re.compile(rf"^\s*[{re.escape(_GLYPHS)}]\s+")
_SENTENCE_END = (".", ",", ";", ":", "!", "?")
#: A paragraph whose lines are all shorter than this keeps its line breaks (an address,
#: a list of names); longer lines are prose wrapped by an editor, joined again.
_SHORT_LINE = 40


def text_blocks(path: Path, encoding: str | None) -> list[Block]:
    """Plain text: paragraphs split at blank lines, wrapped lines joined again, bullet
    and numbered lines as list items, a line underlined by ``---``/``===`` or a short
    paragraph of one line without a closing stop as a heading."""
    text = path.read_text(encoding=encoding or "utf-8", errors="replace")
    return [b for paragraph in _paragraphs(text) for b in _paragraph_blocks(paragraph)]


def _paragraphs(text: str) -> Iterator[list[str]]:
    lines: list[str] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            lines.append(line.rstrip())
        elif lines:
            yield lines
            lines = []
    if lines:
        yield lines


def _paragraph_blocks(lines: list[str]) -> Iterator[Block]:
    items: list[tuple[str, list[str]]] = []  # (kind, lines) in order
    for line in lines:
        if _UNDERLINE.match(line):
            if items and len(items[-1][1]) == 1:
                items[-1] = ("Title", items[-1][1])
            continue  # a rule between parts says nothing itself
        if _BULLET.match(line):
            items.append(("ListItem", [without_bullet(line).strip()]))
        elif items and items[-1][0] != "Title":
            items[-1][1].append(line.strip())
        else:
            items.append(("NarrativeText", [line.strip()]))
    for kind, item in items:
        if kind == "NarrativeText" and len(items) == 1 and len(item) == 1:
            kind = text_kind(item[0])
        short = kind != "ListItem" and all(len(line) < _SHORT_LINE for line in item)
        yield Block(("\n" if short else " ").join(item), kind)


def without_bullet(text: str) -> str:
    """``text`` without a leading bullet glyph (``• Item`` -> ``Item``)."""
    return _SYMBOL.sub("", text, count=1)


def text_kind(text: str) -> str:
    """What a paragraph standing alone is (a PDF's text box, an OCRed paragraph, a text
    file's paragraph of one line): ``ListItem`` after a bullet or number, ``Title`` when
    it is short, mostly letters and ends without a stop, else ``NarrativeText``."""
    if _BULLET.match(text):
        return "ListItem"
    glyphs = [c for c in text if not c.isspace()]
    letters = sum(c.isalpha() for c in glyphs)
    if (
        "\n" not in text
        and len(text.split()) <= 12
        and not text.endswith(_SENTENCE_END)
        and letters * 2 >= len(glyphs) > 0
    ):
        return "Title"
    return "NarrativeText"
