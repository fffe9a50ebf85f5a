"""Scanned pages and images -> text, with Tesseract (Debian's ``tesseract-ocr``).

How it is driven was measured (``bench/ocr.py --drivers``): each page is rendered with
pypdfium2 (PDFs) or decoded with Pillow (PNG, JPEG, TIFF), straightened here, and read
by the ``tesseract`` program on a pipe, its words and their confidences coming back as
TSV. Nothing is written to disk, no model is downloaded (the language data are Debian
packages), and the program runs as a child of the confined parser worker, so it is
confined the same way (:mod:`rag.ingest.confine`): the worker's time limit kills it
(:func:`_run`), and its memory counts towards the worker's (:mod:`rag.ingest.sandbox`).

- Rotation by quarter turns: Tesseract's orientation detection (``--psm 1``: OSD, then
  automatic page segmentation) reads a page lying on its side or upside down.
- Skew: Tesseract copes with about 3 degrees; beyond that its accuracy falls away (at
  8 degrees it read nothing). :func:`skew_angle` finds the angle of the text lines (up
  to 15 degrees, projection profiles of the dark pixels) and the page is turned back.
- One OpenMP thread per Tesseract: with two (its default on two cores) a page took 50 s
  instead of 1.5 s on a shared machine, its threads spinning against each other.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from rag.errors import ParseError
from rag.text import OCR_LANGUAGES

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_IMAGE_PIXELS",
    "OcrOptions",
    "OcrText",
    "OnPage",
    "debian_package",
    "describe",
    "image_pages",
    "missing_languages",
    "recognise",
    "skew_angle",
    "usable_chars",
]

#: Image files read with OCR (a multi-page TIFF is a document of pages).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff"})
#: Larger images are refused (a decompression bomb?): 150 MP is an A2 sheet at 600 dpi.
MAX_IMAGE_PIXELS = 150_000_000
#: Larger pages are scaled down before OCR: an A2 sheet at 300 dpi. Tesseract's memory
#: grows with the pixels; text this size needs no more.
_OCR_PIXELS = 36_000_000
#: Smaller images hold nothing to read (a TIFF's thumbnails, tracking pixels).
_MIN_SIDE = 16
#: Only these decoders are tried: no other image format is taken, whatever the file says.
_FORMATS = ("PNG", "JPEG", "TIFF")  # a JPEG may open as MPO (phones write those)
#: Skew below this is left to Tesseract (turning a page blurs it a little).
_MIN_SKEW = 0.3
_MAX_SKEW = 15.0

#: Called after each page: (page number, number of pages or None, whether it was OCRed).
OnPage = Callable[[int, int | None, bool], None]


@dataclass(frozen=True, slots=True)
class OcrOptions:
    """How scanned pages and images are read.

    ``languages``: Tesseract's codes joined by ``+`` (``eng+deu``), each needing its
    Debian package (``tesseract-ocr-deu``). ``min_text_chars``: a PDF page whose text
    layer holds fewer letters and digits than this (none, or a few characters of junk)
    and that shows an image is OCRed; other pages keep their text layer. ``dpi``: the
    resolution PDF pages are rendered at for OCR.
    """

    enabled: bool = True
    languages: str = "eng"
    min_text_chars: int = 50
    dpi: int = 300

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> OcrOptions:
        return cls(
            enabled=bool(fields["enabled"]),
            languages=str(fields["languages"]),
            min_text_chars=int(fields["min_text_chars"]),
            dpi=int(fields["dpi"]),
        )


@dataclass(frozen=True, slots=True)
class OcrText:
    """What OCR read on one page: its paragraphs in reading order, the mean confidence
    of its words (0-100; None when it read none) and the skew it straightened."""

    paragraphs: list[str]
    confidence: float | None
    words: int
    skew: float = 0.0


# -- Tesseract ------------------------------------------------------------------------


_NO_TESSERACT = (
    "OCR needs Tesseract, which is not installed: install the Debian package tesseract-ocr "
    "(make install does), or set RAG_OCR=false"
)


def debian_package(language: str) -> str:
    """The Debian package holding Tesseract's data for ``language`` (``chi_sim`` ->
    ``tesseract-ocr-chi-sim``)."""
    return "tesseract-ocr-" + language.lower().replace("_", "-")


def _tesseract() -> str:
    found = shutil.which("tesseract")
    if found is None:
        raise _Unavailable(_NO_TESSERACT)
    return found


class _Unavailable(Exception):
    """OCR cannot run here; the message says what to install."""


@functools.cache
def _installed() -> frozenset[str]:
    """The languages Tesseract has data for (asked once per process)."""
    out = _run([_tesseract(), "--list-langs"], b"", "list its languages")
    # The first line says where the data are ("List of available languages in ...").
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())


def missing_languages(languages: str) -> list[str]:
    """The languages of ``languages`` that Tesseract has no data for; _Unavailable
    without Tesseract."""
    installed = _installed()
    return [lang for lang in languages.split("+") if lang not in installed]


def describe(languages: str, enabled: bool = True) -> str:
    """One line on OCR here (for ``rag info``): off, missing, or Tesseract's version with
    the languages asked for and those installed."""
    if not enabled:
        return "off (RAG_OCR=false): images are skipped, scanned pages yield nothing"
    try:
        version = _run([_tesseract(), "--version"], b"", "say its version").split("\n")[0]
        installed = sorted(_installed() - {"osd"})
    except (_Unavailable, RuntimeError, OSError) as exc:
        return str(exc)
    missing = [lang for lang in languages.split("+") if lang not in installed]
    line = f"{version.strip()}, languages {languages} (installed: {' '.join(installed)})"
    if missing:
        packages = " ".join(debian_package(lang) for lang in missing)
        line += f"; MISSING {', '.join(missing)}: apt-get install {packages}"
    return line


def _check_languages(path: Path, languages: str) -> None:
    if not OCR_LANGUAGES.fullmatch(languages):
        raise ParseError(path, f"OCR languages {languages!r} are not Tesseract codes like eng+deu")
    try:
        missing = missing_languages(languages)
    except _Unavailable as exc:
        raise ParseError(path, str(exc)) from None
    if missing:
        packages = " ".join(debian_package(lang) for lang in missing)
        raise ParseError(
            path,
            f"OCR language {', '.join(missing)} is not installed: install the Debian "
            f"package {packages} (apt-get install {packages}), or change RAG_OCR_LANGUAGES",
        )


def _run(argv: list[str], data: bytes, what: str) -> str:
    """``argv``'s standard output, fed ``data``; it is killed if this process is
    interrupted (the worker's time limit raises in here), never left running."""
    process, late = _start(argv)
    try:
        if late is not None:
            late()  # the time limit, reached while the process started: raised here
        out, err = process.communicate(data)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(
            f"Tesseract could not {what} (exit code {process.returncode}): {last[0]}"
        )
    return out.decode("utf-8", "replace")


def _start(argv: list[str]) -> tuple[subprocess.Popen[bytes], Callable[[], None] | None]:
    """Start ``argv`` (one OpenMP thread); with it, the alarm that came meanwhile, if any.

    The worker's time limit is an alarm whose handler raises wherever Python is. Raised
    inside Popen, after the fork, it would lose the child (left running, then a zombie),
    so while it starts an alarm is only noted, and the caller raises it once the process
    is in hand (and killed in its ``finally``)."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    handler = signal.getsignal(signal.SIGALRM)
    deferred = callable(handler) and threading.current_thread() is threading.main_thread()
    fired: list[tuple[int, FrameType | None]] = []
    if deferred:
        signal.signal(signal.SIGALRM, lambda signum, frame: fired.append((signum, frame)))
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
    except FileNotFoundError:
        raise _Unavailable(_NO_TESSERACT) from None
    finally:
        if deferred:
            signal.signal(signal.SIGALRM, handler)
    if not (fired and callable(handler)):
        return process, None
    alarm = handler

    def late() -> None:
        alarm(*fired[0])

    return process, late


def recognise(
    path: Path, image: PILImage.Image, options: OcrOptions, dpi: float | None = None
) -> OcrText:
    """Read ``image`` (one page of ``path``) with Tesseract; ParseError naming the file
    where OCR cannot run (no Tesseract, a language not installed) or fails."""
    from PIL import Image

    _check_languages(path, options.languages)
    image = _grey(image)
    image, dpi = _fit(image, dpi)
    skew = skew_angle(image)
    if abs(skew) >= _MIN_SKEW:
        image = image.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    buffer = io.BytesIO()
    image.save(buffer, format="BMP")  # uncompressed, and Leptonica reads it fastest
    argv = [_tesseract(), "stdin", "stdout", "--psm", "1", "-l", options.languages]
    if dpi is not None:
        argv += ["--dpi", str(round(dpi))]
    try:
        tsv = _run([*argv, "tsv"], buffer.getvalue(), "read the page")
    except (RuntimeError, _Unavailable) as exc:
        raise ParseError(path, f"OCR failed: {exc}") from None
    paragraphs, confidence, words = _read_tsv(tsv)
    return OcrText(paragraphs, confidence, words, skew if abs(skew) >= _MIN_SKEW else 0.0)


def _read_tsv(tsv: str) -> tuple[list[str], float | None, int]:
    """Tesseract's TSV -> paragraphs (lines joined, words broken at a line's end joined
    again), the mean word confidence, the number of words."""
    # Paragraph (block, paragraph) -> line number -> words, all in Tesseract's order.
    paragraphs: dict[tuple[int, int], dict[int, list[str]]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) != 12 or cells[0] != "5":
            continue
        text = cells[11].strip()
        try:
            confidence = float(cells[10])
            block, par, line = int(cells[2]), int(cells[3]), int(cells[4])
        except ValueError:
            continue
        if not text or confidence < 0:
            continue
        confidences.append(confidence)
        paragraphs.setdefault((block, par), {}).setdefault(line, []).append(text)
    texts = []
    for lines in paragraphs.values():
        joined = ""
        for words in lines.values():
            piece = " ".join(words)
            if joined.endswith("-") and piece[:1].islower() and joined[-2:-1].isalpha():
                joined = joined[:-1] + piece  # "docu-" + "ment"
            else:
                joined = f"{joined} {piece}" if joined else piece
        texts.append(joined)
    mean = round(sum(confidences) / len(confidences), 1) if confidences else None
    return texts, mean, len(confidences)


# -- images ---------------------------------------------------------------------------


def _grey(image: PILImage.Image) -> PILImage.Image:
    """8-bit greyscale; transparency laid on white, 16-bit scaled down."""
    from PIL import Image

    if image.mode == "L":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        background = Image.new("RGBA", image.size, "white")
        background.alpha_composite(image.convert("RGBA"))
        return background.convert("L")
    if image.mode.startswith("I") or image.mode == "F":
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        top = float(values.max()) or 1.0
        return Image.fromarray(np.clip(values * (255.0 / top), 0, 255).astype(np.uint8))
    return image.convert("L")


def _fit(image: PILImage.Image, dpi: float | None) -> tuple[PILImage.Image, float | None]:
    """Scaled to what OCR needs: down to at most ``_OCR_PIXELS``; a scan of known low
    resolution up to 300 dpi (Tesseract reads small print better at that size)."""
    from PIL import Image

    pixels = image.width * image.height
    scale = 1.0
    if dpi is not None and dpi < 250:
        scale = 300 / dpi
    scale = min(scale, math.sqrt(_OCR_PIXELS / pixels))
    if abs(scale - 1.0) < 0.05:
        return image, dpi
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS), (dpi * scale if dpi else None)


def skew_angle(image: PILImage.Image) -> float:
    """The angle (degrees, counter-clockwise) to turn ``image`` by so that its lines of
    text run straight, within 15 degrees; 0.0 when it holds too little ink to tell.

    The ink of a copy about 1,000 pixels across is projected onto the vertical
    (and the horizontal, for a page lying on its side) at each candidate angle: lines
    of text make the sharpest profile (the largest sum of squares) when level.
    """
    import numpy as np
    from PIL import Image, ImageFilter

    small = image if image.mode == "L" else image.convert("L")
    factor = 1000 / max(small.size)
    if factor < 1:
        size = (max(1, round(small.width * factor)), max(1, round(small.height * factor)))
        small = small.resize(size, Image.Resampling.BILINEAR)
    # Ink: pixels well below their neighbourhood's mean. Unlike one global threshold,
    # this leaves out what is merely dark (a wall around a photographed sheet, a shadow).
    pixels = np.asarray(small, dtype=np.int16)
    local = np.asarray(small.filter(ImageFilter.BoxBlur(8)), dtype=np.int16)
    ys, xs = np.nonzero(_without_long_lines(pixels < local - 30))
    if len(xs) < 200 or len(xs) > 0.5 * pixels.size:
        return 0.0
    if len(xs) > 40_000:
        pick = np.random.default_rng(0).choice(len(xs), 40_000, replace=False)
        ys, xs = ys[pick], xs[pick]
    y, x = ys.astype(np.float64), xs.astype(np.float64)

    def sharpness(angle: float) -> float:
        r = math.radians(angle)
        best = 0.0
        for along in (y * math.cos(r) - x * math.sin(r), x * math.cos(r) + y * math.sin(r)):
            counts = np.bincount((along - along.min()).astype(np.int64))
            best = max(best, float(np.dot(counts, counts)))
        return best

    coarse = np.arange(-_MAX_SKEW, _MAX_SKEW + 1e-9, 0.5)
    best = float(coarse[int(np.argmax([sharpness(a) for a in coarse]))])
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.05)
    scores = [sharpness(a) for a in fine]
    if max(scores) <= sharpness(0.0) * 1.02:
        return 0.0  # no clear winner over leaving it be: text too sparse or not in lines
    return round(float(fine[int(np.argmax(scores))]), 2)


def _without_long_lines(ink: Any, share: float = 0.08) -> Any:
    """``ink`` less its straight runs longer than ``share`` of the image, across or down:
    the edge of a scanner's lid or of a photographed sheet, a table's rules. They run
    square to the image whatever the text does, and would outweigh a few lines of it."""
    import numpy as np

    keep = ink.copy()
    for grid in (ink, ink.T):
        cols = grid.shape[1]
        run = max(int(cols * share), 8)
        if run >= cols:
            continue
        # full[r, s]: the run of ``run`` pixels starting at s in row r is all ink.
        prefix = np.cumsum(np.pad(grid, ((0, 0), (1, 0))), axis=1, dtype=np.int32)
        full = (prefix[:, run:] - prefix[:, :-run]) == run
        starts = np.cumsum(np.pad(full, ((0, 0), (1, 0))), axis=1, dtype=np.int32)
        at = np.arange(cols)
        high = np.minimum(at, cols - run) + 1
        low = np.maximum(at - run + 1, 0)
        covered = (starts[:, high] - starts[:, low]) > 0
        if grid is ink:
            keep &= ~covered
        else:
            keep &= ~covered.T
    return keep


def image_pages(path: Path) -> Iterator[tuple[PILImage.Image, float | None]]:
    """Each page of an image file (a TIFF's frames; one for PNG and JPEG), upright by
    its EXIF orientation, with its resolution when the file gives a believable one.

    Refused with a reason, before anything large is decoded: a file that is no PNG, JPEG
    or TIFF (whatever its name), one over ``MAX_IMAGE_PIXELS`` (a decompression bomb),
    a corrupt or truncated one."""
    # Importing a decoder registers it: these three are all that is ever tried.
    from PIL import (  # noqa: F401
        Image,
        ImageOps,
        JpegImagePlugin,
        PngImagePlugin,
        TiffImagePlugin,
        UnidentifiedImageError,
    )

    # Opening reads the header, not the pixels. Pillow's own bomb check is off meanwhile:
    # the size is checked below, and the reason then gives it.
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Corrupt EXIF data" and such: not for a terminal
            image = Image.open(path, formats=_FORMATS)
    except UnidentifiedImageError:
        raise ParseError(path, _NOT_AN_IMAGE) from None
    except (MemoryError, FileNotFoundError):
        raise
    except Exception as exc:
        raise ParseError(path, f"corrupt or truncated image ({_said(exc)})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    with image, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = getattr(image, "n_frames", 1) if image.format == "TIFF" else 1
        for index in range(frames):
            try:
                image.seek(index)
            except EOFError:
                break
            except Exception as exc:
                raise ParseError(path, f"corrupt or truncated image ({_said(exc)})") from None
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ParseError(path, _bomb((width, height)))
            if min(width, height) < _MIN_SIDE:
                continue
            if image.format in ("JPEG", "MPO") and width * height > _OCR_PIXELS:
                # Decoded at a half, quarter or eighth of its size: far less memory.
                scale = math.sqrt(_OCR_PIXELS / (width * height))
                image.draft("L", (round(width * scale), round(height * scale)))
            try:
                frame = ImageOps.exif_transpose(image) or image.copy()
                frame.load()
            except (MemoryError, ParseError):
                raise
            except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError...
                raise ParseError(path, f"corrupt or truncated image ({_said(exc)})") from None
            yield frame, _resolution(image)


_NOT_AN_IMAGE = "not a real PNG, JPEG or TIFF image (unreadable image data)"


def _bomb(size: tuple[int, int]) -> str:
    width, height = size
    return (
        f"image is {width:,} x {height:,} pixels ({width * height / 1e6:,.0f} MP), more than "
        f"the {MAX_IMAGE_PIXELS / 1e6:g} MP rag reads (a decompression bomb?)"
    )


def _said(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _resolution(image: PILImage.Image) -> float | None:
    """The image's resolution if it states one that fits a scan (cameras write 72)."""
    dpi: Any = image.info.get("dpi")
    with contextlib.suppress(TypeError, ValueError, IndexError):
        value = float(dpi[0])
        if 100 <= value <= 1200:
            return value
    return None


# -- PDF pages ------------------------------------------------------------------------

_CID = re.compile(r"\(cid:\d+\)")


def usable_chars(text: str) -> int:
    """Letters and digits in a page's text layer, not counting pdfminer's ``(cid:N)``
    (glyphs of a font that does not say which characters they are)."""
    return sum(c.isalnum() for c in _CID.sub("", text))


class PdfScans:
    """A PDF opened with pypdfium2 (on first use), to find and render its scanned pages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pdf: Any = None
        self._failed = False

    def _document(self) -> Any:
        if self._pdf is None and not self._failed:
            import pypdfium2

            try:
                self._pdf = pypdfium2.PdfDocument(str(self.path))
            except Exception:  # pdfminer read it; pdfium cannot: its text layer stands
                self._failed = True
        return self._pdf

    def __len__(self) -> int:
        pdf = self._document()
        return len(pdf) if pdf is not None else 0

    def close(self) -> None:
        if self._pdf is not None:
            self._pdf.close()
            self._pdf = None

    def shows_image(self, index: int, share: float = 0.1) -> bool:
        """Whether images cover at least ``share`` of page ``index`` (from 0): a scan, a
        photo, a signature pasted in; never a page of text and lines alone."""
        import pypdfium2.raw as pdfium_c

        pdf = self._document()
        if pdf is None or not 0 <= index < len(pdf):
            return False
        page = pdf[index]
        try:
            width, height = page.get_size()
            area = max(width * height, 1.0)
            covered = 0.0
            for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4):
                left, bottom, right, top = obj.get_bounds()
                w = min(right, width) - max(left, 0.0)
                h = min(top, height) - max(bottom, 0.0)
                covered += max(w, 0.0) * max(h, 0.0)
                if covered >= share * area:
                    return True
            return False
        finally:
            page.close()

    def render(self, index: int, dpi: int) -> tuple[PILImage.Image, float]:
        """Page ``index`` as a greyscale image at ``dpi`` (less for a page so large that
        it would exceed what OCR reads), and the resolution it was rendered at."""
        pdf = self._document()
        page = pdf[index]
        try:
            width, height = page.get_size()
            dpi_used = min(float(dpi), 72 * math.sqrt(_OCR_PIXELS / max(width * height, 1.0)))
            bitmap = page.render(scale=dpi_used / 72, grayscale=True)
            try:
                return bitmap.to_pil().copy(), dpi_used
            finally:
                bitmap.close()
        finally:
            page.close()
