"""Scans made from text we know, for the OCR tests and ``bench/ocr.py``.

A page of known text is set as a born-digital PDF (fpdf2, its core fonts), rendered to
an image at a given resolution (pypdfium2), and degraded the way a scanner or a phone
would (Pillow, numpy): a slight rotation, blur, noise, JPEG artefacts, uneven light. The
images become image-only PDFs (fpdf2: PNG-like pages kept lossless, JPEG pages kept as
JPEG), image files, or a page inside an otherwise born-digital PDF. The born-digital
PDF's own text layer is the ground truth, page by page. Nothing is downloaded.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

__all__ = [
    "cer",
    "degrade",
    "image_pdf",
    "latin1",
    "mixed_pdf",
    "normalise",
    "page_texts",
    "photo",
    "render",
    "text_pdf",
    "tiff",
    "wer",
    "word_recall",
]

_QUOTES = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})


def latin1(text: str) -> str:
    """``text`` as fpdf2's core fonts can set it (Latin-1): typographic quotes and dashes
    made plain, other characters outside Latin-1 dropped."""
    text = unicodedata.normalize("NFC", text.translate(_QUOTES))
    return text.encode("latin-1", "ignore").decode("latin-1")


def text_pdf(path: Path, pages: Sequence[str], font: str = "helvetica", size: float = 11) -> Path:
    """A born-digital A4 PDF: each text starts a page (a long one runs onto more)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=20)
    pdf.set_margins(20, 20, 20)
    for text in pages:
        pdf.add_page()
        pdf.set_font(font, size=size)
        for paragraph in latin1(text).split("\n\n"):
            pdf.multi_cell(0, size * 0.5, " ".join(paragraph.split()))
            pdf.ln(size * 0.3)
    pdf.output(str(path))
    return path


def page_texts(path: Path) -> list[str]:
    """The text layer of each page of a PDF (pypdfium2), whitespace made single spaces."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        texts = []
        for page in pdf:
            textpage = page.get_textpage()
            texts.append(normalise(textpage.get_text_range()))
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()


def render(path: Path, dpi: int) -> list[Image.Image]:
    """Each page of a PDF as a greyscale image at ``dpi``, as a flatbed scanner sees it."""
    import pypdfium2

    pdf = pypdfium2.PdfDocument(str(path))
    try:
        images = []
        for page in pdf:
            bitmap = page.render(scale=dpi / 72, grayscale=True)
            images.append(bitmap.to_pil().copy())
            bitmap.close()
            page.close()
        return images
    finally:
        pdf.close()


def degrade(
    image: Image.Image,
    dpi: int,
    rng: np.random.Generator,
    angle: float | None = None,
    noise: float = 10.0,
    quality: int = 60,
) -> bytes:
    """A poor scan of ``image``, as JPEG bytes: turned by ``angle`` degrees (else 0.5 to
    2 either way), blurred (about a third of a point), speckled with Gaussian noise and
    compressed hard."""
    if angle is None:
        angle = float(rng.uniform(0.5, 2.0) * rng.choice([-1, 1]))
    turned = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    blurred = turned.filter(ImageFilter.GaussianBlur(radius=0.5 * dpi / 150))
    pixels = np.asarray(blurred, dtype=np.float64)
    pixels = pixels + rng.normal(0.0, noise, pixels.shape)
    noisy = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    out = io.BytesIO()
    noisy.save(out, format="JPEG", quality=quality, dpi=(dpi, dpi))
    return out.getvalue()


def photo(image: Image.Image, rng: np.random.Generator, angle: float = 4.0) -> bytes:
    """A phone photo of a printed notice, as JPEG bytes: colour, the sheet turned and lit
    unevenly on a darker wall, blurred, noisy, no resolution stated (cameras write 72)."""
    width, height = image.size
    wall = Image.new("L", (width + 160, height + 160), 110)
    wall.paste(image, (80, 80))
    turned = wall.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=110)
    pixels = np.asarray(turned, dtype=np.float64)
    light = (
        np.linspace(1.0, 0.75, pixels.shape[1])[None, :]
        * np.linspace(1.0, 0.9, pixels.shape[0])[:, None]
    )
    pixels = pixels * light + rng.normal(0.0, 8.0, pixels.shape)
    grey = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    grey = grey.filter(ImageFilter.GaussianBlur(radius=1.0))
    colour = Image.merge(
        "RGB", (grey, grey.point(lambda v: v * 0.97), grey.point(lambda v: v * 0.92))
    )
    out = io.BytesIO()
    colour.save(out, format="JPEG", quality=75, dpi=(72, 72))
    return out.getvalue()


def image_pdf(path: Path, pages: Sequence[Image.Image | bytes], dpi: int) -> Path:
    """An image-only PDF, one image a page, each page the image's size at ``dpi``:
    images kept lossless, JPEG bytes embedded as they are."""
    from fpdf import FPDF

    pdf = FPDF(unit="pt")
    for page in pages:
        size = Image.open(io.BytesIO(page)).size if isinstance(page, bytes) else page.size
        width, height = (72 * side / dpi for side in size)
        pdf.add_page(format=(width, height))
        pdf.image(io.BytesIO(page) if isinstance(page, bytes) else page, 0, 0, width, height)
    pdf.output(str(path))
    return path


def mixed_pdf(
    path: Path, pages: Sequence[str | Image.Image], stamp: str = "", font: str = "helvetica"
) -> Path:
    """An A4 PDF of text pages (a text layer) and scanned pages (an image filling the
    page; ``stamp``, if given, set small in its corner as a text layer: a scanner's page
    counter, a few characters of junk)."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(20, 20, 20)
    for page in pages:
        pdf.add_page()
        if isinstance(page, str):
            pdf.set_font(font, size=11)
            for paragraph in latin1(page).split("\n\n"):
                pdf.multi_cell(0, 5.5, " ".join(paragraph.split()))
                pdf.ln(3)
            continue
        pdf.image(page, 0, 0, 210, 297)
        if stamp:
            pdf.set_font(font, size=6)
            pdf.set_xy(5, 290)
            pdf.cell(0, 3, stamp)
    pdf.output(str(path))
    return path


def tiff(path: Path, pages: Sequence[Image.Image], dpi: int) -> Path:
    """A multi-page TIFF (LZW), one frame a page."""
    first, *rest = pages
    first.save(
        path,
        format="TIFF",
        save_all=True,
        append_images=rest,
        dpi=(dpi, dpi),
        compression="tiff_lzw",
    )
    return path


_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text compared as a reader would: NFKC, one space between words."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text)).strip()


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate: edits to turn ``hypothesis`` into ``reference``, per
    character of ``reference`` (both normalised)."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = normalise(reference), normalise(hypothesis)
    return Levenshtein.distance(ref, hyp) / max(len(ref), 1)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate: word edits per word of ``reference``."""
    from rapidfuzz.distance import Levenshtein

    ref, hyp = normalise(reference).split(), normalise(hypothesis).split()
    return Levenshtein.distance(ref, hyp) / max(len(ref), 1)


_WORD = re.compile(r"\w+")


def word_recall(expected: str, got: str) -> float:
    """The share of ``expected``'s words (lower case, with repeats) that ``got`` holds."""
    want = [w.lower() for w in _WORD.findall(expected)]
    have: dict[str, int] = {}
    for w in _WORD.findall(got):
        have[w.lower()] = have.get(w.lower(), 0) + 1
    found = 0
    for w in want:
        if have.get(w, 0) > 0:
            have[w] -= 1
            found += 1
    return found / max(len(want), 1)
