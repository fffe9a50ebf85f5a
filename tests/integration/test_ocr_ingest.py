"""Scanned documents end to end: ``rag ingest`` of a folder of scans, questions about text
that exists only in the scanned pages, and the web UI's upload and citations.

The folder holds a scanned contract (an image-only PDF), a text PDF whose signature page
is a scan, a phone photo of a notice (JPEG), a two-page TIFF (its second page on its
side), and two images that must be refused. Every scan is made here from known text
(``tests/scans.py``) and read by the real Tesseract, in rag's sandboxed parser worker.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rag import Assistant, Settings
from tests.rag.ingest.test_hostile import png_header
from tests.scans import degrade, image_pdf, mixed_pdf, photo, render, text_pdf, tiff
from tests.ui_text import shown

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tesseract") is None,
        reason="needs Debian's tesseract-ocr (make install installs it)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]

CONTRACT = [
    "SERVICES AGREEMENT between Quillfeather Logistics Ltd and Marrowby Freight plc. "
    "The term of this agreement is thirty-six months from the date of signature.",
    "Either party may terminate this agreement with Marrowby Freight by giving ninety days "
    "written notice. Any dispute shall be settled by arbitration in Tallinn.",
]
PLAN = [
    "Maintenance plan for the Brackenridge pumping station. The pumps are inspected every "
    "spring and the filters are replaced every second year by the duty engineer.",
    "Signed for the Brackenridge Water Board by Ottoline Vasquez, Chief Engineer, on "
    "14 March 2026 in Dunmore. Witnessed by Cornelius Abernathy.",
    "Appendix: inspection schedule. The reserve pump is inspected in June; the results are "
    "filed with the board secretary.",
]
NOTICE = (
    "NOTICE. The north stairwell of Harrowgate House will be closed for repainting from "
    "3 to 7 June. Please use the south stairwell during the works."
)
MINUTES = [
    "Minutes of the allotment committee, Tuesday 4 February. Present: the chair, the "
    "treasurer and five plot holders. The water butts will be cleaned in March.",
    "The committee agreed to buy a new greenhouse for the Pemberton plot at a cost of "
    "1,450 pounds, paid from the reserve fund.",
]

#: Questions about text only a scan holds: (question, file, page, words of the answer).
SCANNED = [
    ("How much notice is needed to terminate the agreement with Marrowby Freight?", "contract.pdf", 2, "ninety days"),
    ("Who signed the maintenance plan for the Brackenridge Water Board?", "plan.pdf", 2, "Ottoline Vasquez"),
    ("When is the north stairwell of Harrowgate House closed for repainting?", "notice.jpg", 1, "3 to 7 June"),
    ("What did the allotment committee agree to buy for the Pemberton plot?", "minutes.tiff", 2, "greenhouse"),
]  # fmt: skip


def build_folder(folder: Path) -> Path:
    folder.mkdir()
    work = folder.parent / "twins"
    work.mkdir()
    rng = np.random.default_rng(11)

    def pages(name: str, texts: list[str], dpi: int) -> list:  # type: ignore[type-arg]
        return render(text_pdf(work / f"{name}.pdf", texts), dpi)

    first, second = pages("contract", CONTRACT, 200)
    image_pdf(folder / "contract.pdf", [first, degrade(second, 200, rng)], 200)
    signature = pages("signature", [PLAN[1]], 200)[0]
    mixed_pdf(folder / "plan.pdf", [PLAN[0], signature, PLAN[2]], stamp="SCN 0042")
    (folder / "notice.jpg").write_bytes(photo(pages("notice", [NOTICE], 200)[0], rng))
    one, two = pages("minutes", MINUTES, 200)
    tiff(folder / "minutes.tiff", [one, two.rotate(90, expand=True)], 200)
    (folder / "bomb.png").write_bytes(png_header(60_000, 60_000))
    (folder / "holiday.png").write_text("Not a picture: a list of holiday dates.")
    return folder


def in_a_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with its standard error on a terminal 200 columns wide (its progress
    bar draws only there); its exit status and everything it wrote."""
    main, other = pty.openpty()
    fcntl.ioctl(other, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=other)
    os.close(other)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                data = os.read(main, 1 << 16)
            except OSError:  # the other end closed
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    assert process.stdout is not None
    out = process.stdout.read().decode()
    code = process.wait(timeout=60)
    os.close(main)
    return code, out + b"".join(chunks).decode("utf-8", "replace")


@dataclass
class Ingested:
    folder: Path
    data: Path
    code: int
    output: str


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    folder = build_folder(tmp_path_factory.mktemp("scans") / "inbox")
    data = tmp_path_factory.mktemp("scans-data")
    env = {**os.environ, "RAG_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    code, output = in_a_terminal([sys.executable, "-m", "rag.cli", "ingest", str(folder)], env)
    return Ingested(folder, data, code, output)


@pytest.fixture(scope="module")
def assistant(ingested: Ingested) -> Assistant:
    return Assistant(Settings(data_dir=ingested.data))


def test_rag_ingest_reads_every_scan_and_refuses_bad_images(ingested: Ingested) -> None:
    out = ingested.output
    assert "added 4," in out and "failed 2," in out, out[-2000:]
    assert ingested.code == 1  # some files failed; the rest went in
    bomb = next(
        line for line in out.splitlines() if line.startswith("FAILED") and "bomb.png" in line
    )
    assert "60,000 x 60,000 pixels" in bomb and "decompression bomb" in bomb
    fake = next(line for line in out.splitlines() if "FAILED" in line and "holiday.png" in line)
    assert "not a real PNG, JPEG or TIFF image" in fake


def test_rag_ingest_shows_the_page_it_has_reached(ingested: Ingested) -> None:
    for shown_page in (
        "contract.pdf: page 2/2 (OCR)",
        "plan.pdf: page 2/3 (OCR)",
        "minutes.tiff: page 2/2 (OCR)",
    ):
        assert shown_page in ingested.output, ingested.output[-2000:]


def test_chunk_metadata_says_which_pages_were_ocred(
    ingested: Ingested, assistant: Assistant
) -> None:
    pages = {Path(d.source).name: d.pages for d in assistant.documents()}
    assert pages == {"contract.pdf": 2, "plan.pdf": 3, "notice.jpg": 1, "minutes.tiff": 2}
    seen: dict[tuple[str, int], set[object]] = {}
    for record in assistant.collection().store.iter_records():
        meta = record.metadata
        key = (Path(str(meta["source"])).name, int(meta["page"]))
        seen.setdefault(key, set()).add((meta["ocr"], meta.get("ocr_confidence") is not None))
        if meta["ocr"]:
            assert 50 <= float(meta["ocr_confidence"]) <= 100
    assert seen[("plan.pdf", 1)] == seen[("plan.pdf", 3)] == {(False, False)}
    ocred = {k for k, v in seen.items() if v == {(True, True)}}
    assert ocred == {
        ("contract.pdf", 1),
        ("contract.pdf", 2),
        ("plan.pdf", 2),
        ("notice.jpg", 1),
        ("minutes.tiff", 1),
        ("minutes.tiff", 2),
    }


@pytest.mark.parametrize(
    ("question", "name", "page", "words"), SCANNED, ids=[s[1] for s in SCANNED]
)
def test_a_question_about_a_scan_is_answered_and_cited_with_file_and_page(
    assistant: Assistant, question: str, name: str, page: int, words: str
) -> None:
    answer = assistant.ask(question, answer_mode="extractive")
    assert not answer.refused
    assert words in answer.text
    top = answer.citations[0]
    assert (Path(top.source).name, top.page) == (name, page)
    assert top.ocr and top.ocr_confidence is not None and top.ocr_confidence > 50
    assert answer.to_json()["citations"][0]["ocr_confidence"] == top.ocr_confidence


def test_a_question_about_the_text_layer_cites_it_as_such(assistant: Assistant) -> None:
    answer = assistant.ask("When is the reserve pump inspected?", answer_mode="extractive")
    top = answer.citations[0]
    assert (Path(top.source).name, top.page) == ("plan.pdf", 3)
    assert top.ocr_confidence is None and "June" in answer.text


def test_turning_ocr_on_or_changing_its_languages_reads_pdfs_again(tmp_path: Path) -> None:
    """A PDF ingested before OCR was on lost its scanned page: it is read again once OCR
    is on, though its content is the same. Other languages read again only the documents
    that held OCR text."""
    folder = tmp_path / "docs"
    folder.mkdir()
    signature = render(text_pdf(tmp_path / "signature.pdf", [PLAN[1]]), 200)[0]
    plan = str(mixed_pdf(folder / "plan.pdf", [PLAN[0], signature, PLAN[2]], stamp="SCN 0042"))
    typed = str(text_pdf(folder / "typed.pdf", [NOTICE]))
    data = tmp_path / "data"
    question = "Who signed the maintenance plan for the Brackenridge Water Board?"

    before = Assistant(Settings(data_dir=data, ocr=False))
    assert sorted(before.ingest([folder]).added) == [plan, typed]
    assert not any("Ottoline" in p.text for p in before.search(question, k=5))

    a = Assistant(Settings(data_dir=data), embedder=before.embedder)
    assert sorted(a.ingest([folder]).updated) == [plan, typed]
    assert any("Ottoline Vasquez" in p.text for p in a.search(question, k=5))
    assert sorted(a.ingest([folder]).unchanged) == [plan, typed]

    deu = Assistant(Settings(data_dir=data, ocr_languages="eng+deu"), embedder=a.embedder)
    german = deu.ingest([folder])
    assert (german.updated, german.unchanged) == ([plan], [typed])


def test_a_background_job_says_which_page_of_a_scan_it_has_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``rag serve``'s ``GET /v1/jobs/{id}`` shows while a scan is read: the job as
    saved for other processes to read, watched as it is written."""
    from rag.index.jobs import Jobs

    pages = render(text_pdf(tmp_path / "twin.pdf", CONTRACT[:1]), 150)
    scan = image_pdf(tmp_path / "contract.pdf", pages, 150)
    seen: list[dict[str, object]] = []
    save = Jobs.save

    def watched(self: Jobs, job: object) -> None:
        save(self, job)  # type: ignore[arg-type]
        seen.append(self.get(job.id).to_json())  # type: ignore[attr-defined,union-attr]

    monkeypatch.setattr(Jobs, "save", watched)
    a = Assistant(Settings(data_dir=tmp_path / "data"))
    job = a.start_ingest([scan], names={str(scan): "Contract (signed).pdf"})
    deadline = time.monotonic() + 300
    while a.job(job.id).state in ("queued", "running"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert a.job(job.id).state == "done" and a.job(job.id).to_json().get("page") is None
    shown_pages = [j["page"] for j in seen if "page" in j]
    assert {"name": "Contract (signed).pdf", "source": str(scan), "page": 1, "pages": 1,
            "ocr": True} in shown_pages, seen  # fmt: skip


# -- the web UI --------------------------------------------------------------------------


@pytest.fixture()
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "ui-data"))
    monkeypatch.setenv("RAG_ANSWER_MODE", "extractive")
    at = AppTest.from_file(str(ROOT / "ui" / "app.py"), default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    yield at


def test_ui_upload_of_a_scan_and_its_citation_says_it_was_ocred(app, ingested: Ingested) -> None:  # type: ignore[no-untyped-def]
    app.switch_page("pages/library.py").run()
    assert not app.exception, app.exception
    scans = [
        ("plan.pdf", (ingested.folder / "plan.pdf").read_bytes(), "application/pdf"),
        ("notice.jpg", (ingested.folder / "notice.jpg").read_bytes(), "image/jpeg"),
    ]
    app.file_uploader[0].set_value(scans)
    next(b for b in app.button if b.label == "Add to library").click().run()
    assert not app.exception, app.exception
    assert any("added 2" in shown(s.value) for s in app.success), [
        shown(e.value) for e in app.error
    ]

    app.switch_page("pages/chat.py").run()
    app.chat_input[0].set_value(
        "Who signed the maintenance plan for the Brackenridge Water Board?"
    ).run()
    assert not app.exception, app.exception
    labels = [shown(e.label) for e in app.expander]
    assert labels and "plan.pdf, page 2" in labels[0], labels
    assert "scanned page, OCR confidence" in labels[0] and labels[0].rstrip().endswith("%")
    notes = [shown(c.value) for c in app.caption]
    assert any("may contain OCR errors" in n for n in notes), notes
