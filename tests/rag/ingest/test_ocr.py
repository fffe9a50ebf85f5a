"""OCR of scanned pages and images, with the real Tesseract on scans made here.

Each scan is rendered from text we know (``tests/scans.py``: fpdf2, pypdfium2, Pillow),
then read by rag's parser, in its sandboxed worker where the pipeline would. No mocks:
what is checked is the text that comes out, its page numbers and its OCR metadata.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image, ImageOps

from rag.errors import ParseError
from rag.ingest.chunk import Chunker
from rag.ingest.ocr import (
    OcrOptions,
    debian_package,
    describe,
    missing_languages,
    skew_angle,
)
from rag.ingest.parse import OCR_OFF, file_type, parse
from rag.ingest.pipeline import prepare
from rag.ingest.sandbox import ParseLimits, Sandbox
from rag.ingest.types import Block
from tests.scans import (
    degrade,
    image_pdf,
    mixed_pdf,
    page_texts,
    photo,
    render,
    text_pdf,
    tiff,
    word_recall,
)

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None,
    reason="needs Debian's tesseract-ocr (make install installs it)",
)

CONTRACT = [
    "SERVICES AGREEMENT between Quillfeather Logistics Ltd and Marrowby Freight plc. "
    "The term of this agreement is thirty-six months from the date of signature. "
    "Quillfeather shall collect and deliver parcels within the Baltic region.",
    "Either party may terminate this agreement by giving ninety days written notice. "
    "Any dispute shall be settled by arbitration in Tallinn under Estonian law.",
]
SIGNED = [
    "Maintenance plan for the Brackenridge pumping station. The pumps are inspected "
    "every spring and the filters are replaced every second year by the duty engineer.",
    "Signed for the Brackenridge Water Board by Ottoline Vasquez, Chief Engineer, "
    "on 14 March 2026 in Dunmore. Witnessed by Cornelius Abernathy.",
    "Appendix: inspection schedule. Pump one in April, pump two in May, the reserve "
    "pump in June. Results are filed with the board secretary.",
]
NOTICE = (
    "NOTICE. The north stairwell of Harrowgate House will be closed for repainting "
    "from 3 to 7 June. Please use the south stairwell during the works."
)
GERMAN = "Die Größe des Gewächshauses beträgt zwölf Quadratmeter. Übergabe am Dienstag."


def scans_of(folder: Path, texts: list[str], dpi: int) -> list[Image.Image]:
    """Each text as its own page, rendered at ``dpi`` (greyscale)."""
    pdf = text_pdf(folder / "twin.pdf", texts)
    return render(pdf, dpi)


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    worker = Sandbox()
    yield worker
    worker.close()


def _page_text(blocks: list[Block], page: int) -> str:
    return " ".join(b.text for b in blocks if b.page == page)


# -- scans through the sandboxed worker ---------------------------------------------


@needs_tesseract
def test_an_image_only_pdf_is_read_page_by_page_with_progress(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    clean, rough = scans_of(tmp_path, CONTRACT, 200)
    rough_jpeg = degrade(rough, 200, np.random.default_rng(1))
    pdf = image_pdf(tmp_path / "contract.pdf", [clean, rough_jpeg], 200)
    assert page_texts(pdf) == ["", ""]  # no text layer at all
    pages: list[tuple[int, int | None, bool]] = []

    blocks = sandbox.parse(pdf, ParseLimits(), OcrOptions(), lambda *p: pages.append(p))

    assert pages == [(1, 2, True), (2, 2, True)]
    assert {b.page for b in blocks} == {1, 2}
    for page, text in enumerate(CONTRACT, start=1):
        assert word_recall(text, _page_text(blocks, page)) >= 0.9
    assert all(b.ocr and b.ocr_confidence is not None and b.ocr_confidence > 70 for b in blocks)
    assert "ninety days written notice" in _page_text(blocks, 2)


@needs_tesseract
def test_a_scanned_page_inside_a_text_pdf_is_ocred_and_the_others_keep_their_layer(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    signature = scans_of(tmp_path, [SIGNED[1]], 200)[0]
    # The scanner stamped its page counter into the text layer: a few characters of junk.
    pdf = mixed_pdf(tmp_path / "plan.pdf", [SIGNED[0], signature, SIGNED[2]], stamp="SCN 0042")
    assert "SCN 0042" in page_texts(pdf)[1]
    pages: list[tuple[int, int | None, bool]] = []

    blocks = sandbox.parse(pdf, ParseLimits(), OcrOptions(), lambda *p: pages.append(p))

    assert pages == [(1, 3, False), (2, 3, True), (3, 3, False)]
    assert [b.page for b in blocks] == sorted(b.page for b in blocks)
    assert _page_text(blocks, 1) == " ".join(SIGNED[0].split())
    assert _page_text(blocks, 3) == " ".join(SIGNED[2].split())
    assert not any(b.ocr for b in blocks if b.page in (1, 3))
    scanned = [b for b in blocks if b.page == 2]
    assert scanned and all(b.ocr_confidence is not None for b in scanned)
    assert word_recall(SIGNED[1], _page_text(blocks, 2)) >= 0.9
    assert "Ottoline Vasquez" in _page_text(blocks, 2)


@needs_tesseract
def test_a_phone_photo_is_straightened_and_read(tmp_path: Path, sandbox: Sandbox) -> None:
    page = scans_of(tmp_path, [NOTICE], 200)[0]
    jpeg = tmp_path / "notice.jpg"
    jpeg.write_bytes(photo(page, np.random.default_rng(2), angle=5.0))
    assert file_type(jpeg) == "image"

    blocks = sandbox.parse(jpeg, ParseLimits(), OcrOptions())

    assert {b.page for b in blocks} == {1}
    assert word_recall(NOTICE, _page_text(blocks, 1)) >= 0.9
    assert all(b.ocr for b in blocks)


@needs_tesseract
def test_a_multi_page_tiff_is_a_document_of_pages_even_one_on_its_side(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    first, second = scans_of(tmp_path, CONTRACT, 200)
    path = tiff(tmp_path / "contract.tiff", [first, second.rotate(90, expand=True)], 200)
    pages: list[tuple[int, int | None, bool]] = []

    blocks = sandbox.parse(path, ParseLimits(), OcrOptions(), lambda *p: pages.append(p))

    assert pages == [(1, 2, True), (2, 2, True)]
    for page, text in enumerate(CONTRACT, start=1):
        assert word_recall(text, _page_text(blocks, page)) >= 0.9


@needs_tesseract
def test_languages_are_configurable(tmp_path: Path) -> None:
    page = scans_of(tmp_path, [GERMAN], 300)[0]
    png = tmp_path / "german.png"
    page.save(png, dpi=(300, 300))
    if missing_languages("deu"):
        pytest.skip("needs tesseract-ocr-deu (make install installs it)")

    text = " ".join(b.text for b in parse(png, OcrOptions(languages="eng+deu")))

    for word in ("Größe", "Gewächshauses", "beträgt", "zwölf", "Übergabe"):
        assert word in text


@needs_tesseract
def test_a_missing_language_pack_names_the_debian_package(tmp_path: Path) -> None:
    png = tmp_path / "page.png"
    scans_of(tmp_path, ["Some text."], 150)[0].save(png)
    absent = next(lang for lang in ("ita", "nld", "pol", "swe", "fin") if missing_languages(lang))

    with pytest.raises(ParseError) as caught:
        parse(png, OcrOptions(languages=f"eng+{absent}"))

    reason = caught.value.reason
    assert f"OCR language {absent} is not installed" in reason
    assert f"apt-get install tesseract-ocr-{absent}" in reason
    assert debian_package("chi_sim") == "tesseract-ocr-chi-sim"
    # rag info says so before any file does.
    assert describe("eng").startswith("tesseract 5")
    assert f"MISSING {absent}: apt-get install tesseract-ocr-{absent}" in describe(absent)


@needs_tesseract
def test_each_ocr_page_has_the_time_limit_and_tesseract_dies_with_it(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    pages = scans_of(tmp_path, CONTRACT, 300)
    pdf = image_pdf(tmp_path / "slow.pdf", pages, 300)
    sandbox.parse(text_pdf(tmp_path / "warm.pdf", ["Warm."]), ParseLimits())  # a ready worker

    with pytest.raises(ParseError, match=r"parsing took longer than 0\.3 s"):
        sandbox.parse(pdf, ParseLimits(timeout_s=0.3), OcrOptions())

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [p for p in psutil.Process().children(recursive=True) if p.name() == "tesseract"]
        if not left:
            break
        time.sleep(0.1)
    assert not left, "a Tesseract outlived the page it was abandoned on"


def test_a_time_limit_reached_while_a_program_starts_still_kills_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's alarm, arriving inside Popen (after the fork), must not lose the child."""
    import os
    import signal
    import subprocess

    import rag.ingest.ocr as ocr

    class OutOfTime(BaseException):
        pass

    def alarm(signum: int, frame: object) -> None:
        raise OutOfTime

    real = subprocess.Popen
    started: list[subprocess.Popen[bytes]] = []

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        process = real(*args, **kwargs)  # type: ignore[call-overload]
        started.append(process)
        os.kill(os.getpid(), signal.SIGALRM)  # the time limit, at the worst moment
        return process

    monkeypatch.setattr(ocr.subprocess, "Popen", popen)
    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        with pytest.raises(OutOfTime):
            ocr._run(["sleep", "30"], b"", "sleep")
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert started and started[0].returncode is not None, "killed and reaped, not left running"


# -- settings, switches and straightening ------------------------------------------------


def test_with_ocr_off_images_are_refused_and_scans_have_no_text(tmp_path: Path) -> None:
    page = scans_of(tmp_path, [NOTICE], 150)[0]
    png = tmp_path / "notice.png"
    page.save(png)
    pdf = image_pdf(tmp_path / "scan.pdf", [page], 150)
    off = OcrOptions(enabled=False)

    with pytest.raises(ParseError, match="OCR is off"):
        parse(png, off)
    assert OCR_OFF == "an image, and OCR is off (RAG_OCR=false)"
    assert parse(pdf, off) == []
    chunker = Chunker(str.split)
    with pytest.raises(ParseError, match=r"no text found .*OCR is off"):
        prepare(pdf, chunker, 10**8, ocr=off)


def test_skew_is_measured_within_a_few_tenths_of_a_degree(tmp_path: Path) -> None:
    page = scans_of(tmp_path, [" ".join(CONTRACT * 3)], 150)[0]
    notice = scans_of(tmp_path, [NOTICE], 150)[0]
    assert skew_angle(page) == 0.0
    for turn in (-6.0, 2.5, 11.0):
        turned = page.rotate(turn, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        # The angle to turn it back by.
        assert skew_angle(turned) == pytest.approx(-turn, abs=0.3)
        # A scanner's dark border runs square to the image, not to the text.
        framed = ImageOps.expand(
            turned.crop((40, 40, turned.width - 40, turned.height - 40)), 30, 20
        )
        assert skew_angle(framed) == pytest.approx(-turn, abs=0.3)
        # Two lines of text on a sheet lying square on a darker wall.
        sheet = notice.rotate(turn, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
        wall = Image.new("L", (sheet.width + 100, sheet.height + 100), 110)
        wall.paste(sheet, (50, 50))
        assert skew_angle(wall) == pytest.approx(-turn, abs=0.3)
    assert skew_angle(Image.new("L", (800, 1000), 255)) == 0.0  # a blank page


def test_settings_take_tesseract_language_codes_only() -> None:
    from pydantic import ValidationError

    from rag.config import Settings

    assert Settings(ocr_languages="eng+deu+fra").ocr_languages == "eng+deu+fra"
    for bad in ("eng deu", "eng;rm -rf /", "-l", "eng+", "../eng"):
        with pytest.raises(ValidationError):
            Settings(ocr_languages=bad)
