"""A progress bar with ETA for ingestion, shown only on a terminal."""

from __future__ import annotations

from pathlib import PurePath
from types import TracebackType
from typing import Any, TextIO

__all__ = ["FileProgress"]


class FileProgress:
    """Callable progress sink for :meth:`rag.Assistant.ingest` (tqdm on a TTY, else silent)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._bar: Any = None
        self._enabled = stream.isatty()

    def __enter__(self) -> FileProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.close()

    def __call__(self, path: str, outcome: str, done: int, total: int) -> None:
        if not self._enabled:
            return
        bar = self._ensure(total)
        if bar.total is None:
            bar.total = total
        bar.set_postfix_str(f"{outcome}: {PurePath(path).name}"[:60], refresh=False)
        bar.update(1)

    def page(self, path: str, page: int, pages: int | None, ocr: bool) -> None:
        """The page the file being parsed has reached: ``scan.pdf: page 37/300 (OCR)``
        (for :meth:`rag.Assistant.ingest`'s ``page_progress``)."""
        if not self._enabled:
            return
        of = f"/{pages}" if pages else ""
        name = PurePath(path).name[-40:]
        text = f"{name}: page {page}{of}" + (" (OCR)" if ocr else "")
        self._ensure(None).set_postfix_str(text, refresh=True)

    def _ensure(self, total: int | None) -> Any:
        if self._bar is None:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="file", file=self._stream, dynamic_ncols=True)
        return self._bar
