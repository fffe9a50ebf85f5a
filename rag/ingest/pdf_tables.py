"""Ruled tables in a PDF's text layer, read row by row.

pdfminer groups text into boxes by proximity, and in a table that means by column: a
cost table came out as "Item Portable cooling hire ... Estimated total cost" and, a
paragraph later, "Cost (GBP) 2,150 9,800 ...", so no passage said what the compressor
cost. Most tables that people write (Word, LibreOffice, report generators) draw their
cell borders, and those lines give the grid exactly: each character goes to the cell
its centre lies in, and the table becomes rows of cells, header first, as a
spreadsheet's does (:func:`rag.ingest.chunk.row_statement` then names each value's
column).

Only ruling is trusted: text aligned in columns without lines (a two-column article)
stays prose, read box by box as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Grid", "grids", "split_page"]

#: Points within which two edges are one (borders drawn as adjacent rectangles).
SNAP = 3.0
#: A rectangle thinner than this is a line.
THIN = 2.0
#: Beyond this many edges on a page, tables are not looked for (a hostile or plotted page).
MAX_EDGES = 1500


@dataclass
class Grid:
    """One ruled table: column boundaries left to right, row boundaries top to bottom."""

    xs: list[float]
    ys: list[float]
    cells: dict[tuple[int, int], list[tuple[float, float, str]]] = field(default_factory=dict)

    def holds(self, x: float, y: float) -> bool:
        return (
            self.xs[0] - SNAP <= x <= self.xs[-1] + SNAP
            and self.ys[-1] - SNAP <= y <= self.ys[0] + SNAP
        )

    def cell(self, x: float, y: float) -> tuple[int, int]:
        col = sum(1 for b in self.xs[1:-1] if x >= b)
        row = sum(1 for b in self.ys[1:-1] if y <= b)
        return row, col

    def rows(self) -> tuple[tuple[str, ...], ...]:
        """The cells' text, rows without any text left out."""
        out = []
        for r in range(len(self.ys) - 1):
            row = tuple(
                " ".join(
                    " ".join(text.split())
                    for _, _, text in sorted(
                        self.cells.get((r, c), []), key=lambda f: (-f[0], f[1])
                    )
                ).strip()
                for c in range(len(self.xs) - 1)
            )
            if any(row):
                out.append(row)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class _Edge:
    horizontal: bool
    at: float  # y of a horizontal edge, x of a vertical one
    lo: float
    hi: float


def _edges(objects: Iterable[Any], page_area: float) -> list[_Edge]:
    from pdfminer.layout import LTCurve, LTLine, LTRect

    out = []
    for o in objects:
        if not isinstance(o, LTCurve):
            continue
        x0, y0, x1, y1 = o.bbox
        w, h = x1 - x0, y1 - y0
        if isinstance(o, LTRect) or (isinstance(o, LTLine) and (w < THIN or h < THIN)):
            if w * h > 0.8 * page_area:
                continue  # a page border
            if h < THIN and w >= THIN:
                out.append(_Edge(True, (y0 + y1) / 2, x0, x1))
            elif w < THIN and h >= THIN:
                out.append(_Edge(False, (x0 + x1) / 2, y0, y1))
            elif w >= THIN and h >= THIN and isinstance(o, LTRect):
                out += [
                    _Edge(True, y0, x0, x1),
                    _Edge(True, y1, x0, x1),
                    _Edge(False, x0, y0, y1),
                    _Edge(False, x1, y0, y1),
                ]
    return out


def _touch(a: _Edge, b: _Edge) -> bool:
    if a.horizontal == b.horizontal:
        return abs(a.at - b.at) <= SNAP and a.lo <= b.hi + SNAP and b.lo <= a.hi + SNAP
    h, v = (a, b) if a.horizontal else (b, a)
    return h.lo - SNAP <= v.at <= h.hi + SNAP and v.lo - SNAP <= h.at <= v.hi + SNAP


def _snapped(values: Iterable[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > SNAP:
            out.append(v)
    return out


def grids(objects: Iterable[Any], page_area: float) -> list[Grid]:
    """The ruled tables among a page's drawn objects: connected edges spanning at least
    two rows and two columns."""
    edges = _edges(objects, page_area)
    if len(edges) > MAX_EDGES:
        return []
    parent = list(range(len(edges)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(edges):
        for j in range(i + 1, len(edges)):
            if _touch(a, edges[j]):
                parent[root(i)] = root(j)
    groups: dict[int, list[_Edge]] = {}
    for i, e in enumerate(edges):
        groups.setdefault(root(i), []).append(e)
    out = []
    for group in groups.values():
        xs = _snapped(e.at for e in group if not e.horizontal)
        ys = _snapped(e.at for e in group if e.horizontal)
        if len(xs) >= 3 and len(ys) >= 3:
            out.append(Grid(xs, ys[::-1]))
    return out


def split_page(page: Any) -> list[str | Grid]:
    """A page's text in reading order: each text box's lines outside any table as one
    string, and each ruled table, filled, where its first line was."""
    return list(_split(page))


def _split(page: Any) -> Iterator[str | Grid]:
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    x0, y0, x1, y1 = page.bbox
    found = grids(page, (x1 - x0) * (y1 - y0))
    placed: set[int] = set()
    for box in page:
        if not isinstance(box, LTTextContainer):
            continue
        if not found:
            yield box.get_text()
            continue
        outside = []
        for line in box if not isinstance(box, LTTextLine) else [box]:
            cx, cy = (line.x0 + line.x1) / 2, (line.y0 + line.y1) / 2
            grid = next((g for g in found if g.holds(cx, cy)), None)
            if grid is None:
                outside.append(line.get_text())
                continue
            if id(grid) not in placed:
                if outside:
                    yield " ".join(outside)
                    outside = []
                placed.add(id(grid))
                yield grid
            current: tuple[int, int] | None = None
            for char in line:
                text = char.get_text()
                if isinstance(char, LTChar):
                    current = grid.cell((char.x0 + char.x1) / 2, (char.y0 + char.y1) / 2)
                elif current is None:
                    continue
                fragments = grid.cells.setdefault(current, [])
                if fragments and fragments[-1][:2] == (line.y1, line.x0):
                    fragments[-1] = (line.y1, line.x0, fragments[-1][2] + text)
                else:
                    fragments.append((line.y1, line.x0, text))
        if outside:
            yield " ".join(outside)
