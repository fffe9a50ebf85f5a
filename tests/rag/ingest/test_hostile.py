"""Hostile and broken files: each fails with a specific reason or is read safely, within
the per-file time and memory limits, and every good file beside them is ingested.

Every file is generated here. One ingest of the whole folder (module scope, the real
pipeline: sandboxed parsing, the bundled embedder, Chroma) is shared by the checks.
"""

from __future__ import annotations

import io
import logging
import os
import random
import signal
import struct
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rag import Assistant, Settings
from rag.errors import ParseError, printable_path
from rag.ingest.sandbox import PARSED, ParseLimits, parse_in_sandbox
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

TIMEOUT_S = 4.0
MEMORY_MB = 300
MAX_FILE_MB = 2

Build = Callable[[Path], object]


# -- file builders ----------------------------------------------------------------------


def data(content: bytes | str | Callable[[], bytes]) -> Build:
    """Writes ``content``; a callable is called only then (collecting the tests stays fast)."""

    def build(path: Path) -> None:
        raw = content() if callable(content) else content
        path.write_bytes(raw.encode() if isinstance(raw, str) else raw)

    return build


def random_bytes(n: int) -> bytes:
    return random.Random(n).randbytes(n)


def pdf_text(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def pdf_raw(stream: bytes) -> bytes:
    """A one-page PDF whose content stream is ``stream``, already Flate-compressed."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def deflated_zeros(size: int, raw: bool = False) -> bytes:
    """``size`` zero bytes, deflated (zlib format unless ``raw``) in well under a second:
    one fully flushed compressed block, repeated. zlib itself needs ~8 ms a MB."""
    block = bytes(1 << 20)
    count = size // len(block)
    packer = zlib.compressobj(9, zlib.DEFLATED, -15 if raw else 15)
    first = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    again = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    end = packer.flush()
    if not raw:
        adler = 1
        for _ in range(count):
            adler = zlib.adler32(block, adler)
        end = end[:-4] + struct.pack(">I", adler)
    return first + again * (count - 1) + end


def zip_of(members: dict[str, bytes], zeros: tuple[str, int] | None = None) -> bytes:
    """A ZIP archive written by hand, so ``zeros`` can add a (name, size) member of zero
    bytes without zlib compressing it: an honest zip bomb, its sizes declared truthfully."""
    entries = []  # (name, deflated, crc32, size)
    for name, content in members.items():
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        packed = packer.compress(content) + packer.flush()
        entries.append((name.encode(), packed, zlib.crc32(content), len(content)))
    if zeros:
        block, crc = bytes(1 << 20), 0
        for _ in range(zeros[1] >> 20):
            crc = zlib.crc32(block, crc)
        entries.append((zeros[0].encode(), deflated_zeros(zeros[1], raw=True), crc, zeros[1]))
    out, central = bytearray(), bytearray()
    for encoded, packed, crc, size in entries:
        central += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 33, crc, len(packed), size,
            len(encoded), 0, 0, 0, 0, 0, len(out),
        ) + encoded  # fmt: skip
        out += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 33, crc, len(packed), size, len(encoded), 0
        ) + encoded + packed  # fmt: skip
    count = len(entries)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, len(central), len(out), 0)
    return bytes(out + central + end)


def docx_text(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_rows(rows: list[list[str]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def pptx_title(text: str) -> bytes:
    import pptx

    deck = pptx.Presentation()
    deck.slides.add_slide(deck.slide_layouts[0]).shapes.title.text = text
    buffer = io.BytesIO()
    deck.save(buffer)
    return buffer.getvalue()


LAUGHS = '<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
)


def with_doctype(package: bytes, part: str, subset: str, marker: str, reference: str) -> bytes:
    """``package`` with a DOCTYPE holding ``subset`` in ``part``, and ``reference`` in place
    of the text ``marker``."""
    members = {}
    with zipfile.ZipFile(io.BytesIO(package)) as source:
        for name in source.namelist():
            members[name] = source.read(name)
    xml = members[part].decode()
    root = xml.index("<", xml.index("?>") + 2 if xml.startswith("<?xml") else 0)
    xml = xml[:root] + f"<!DOCTYPE x [{subset}]>" + xml[root:]
    members[part] = xml.replace(marker, reference).encode()
    return zip_of(members)


def office_encrypted(package: bytes) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(package)).encrypt("secret", out)
    return out.getvalue()


def pdf_encrypted(owner: str, user: str) -> bytes:
    import pikepdf

    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf_text("Minutes of the lantern committee."))) as pdf:
        pdf.save(out, encryption=pikepdf.Encryption(owner=owner, user=user, R=6))
    return out.getvalue()


def sparse_file(size: int) -> Build:
    def build(path: Path) -> None:
        with path.open("wb") as fh:
            fh.truncate(size)

    return build


def symlink(target: str) -> Build:
    return lambda path: path.symlink_to(target)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def in_folder(name: str, build: Build) -> Build:
    """A folder (``path``) holding one file ``name``."""

    def make(path: Path) -> None:
        path.mkdir()
        build(path / name)

    return make


def sparse_sheet() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    book.active["A1"] = "corner"
    book.active["XFD1048576"] = "far corner"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` greyscale pixels and holds almost none:
    a decompression bomb's header (a real one unpacks gigabytes from a few kilobytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (width + 1) * 4)  # the first rows only
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def image_bytes(fmt: str, keep: float = 1.0) -> bytes:
    """A noisy 600 x 400 greyscale image in ``fmt``, cut to its first ``keep`` share."""
    from PIL import Image

    image = Image.frombytes("L", (600, 400), random.Random(7).randbytes(600 * 400))
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    raw = buffer.getvalue()
    return raw[: int(len(raw) * keep)]


def one_line(words: int) -> str:
    """Prose without a line break: common words (one token each, cheap to embed)."""
    vocabulary = "the survey of every harbour found calm water and old boats".split()
    return " ".join(vocabulary[i * 7 % len(vocabulary)] for i in range(words))


# -- the corpus --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    name: str
    build: Build
    expect: str  # a fragment of the failure's reason, or of the ingested text when handled


GOOD = [
    Case("txt", "good.txt", data("The lighthouse keeper logs fog signals every evening."), "lighthouse keeper logs fog signals"),
    Case("docx", "good.docx", data(lambda: docx_text("The walrus enclosure audit found no defects.")), "walrus enclosure audit"),
    Case("pdf", "good.pdf", data(lambda: pdf_text("The zeppelin hangar roof was resurfaced in April.")), "zeppelin hangar roof"),
    Case("xlsx", "good.xlsx", data(lambda: xlsx_rows([["Item", "Owner"], ["Telescope mirror", "Obs"]])), "Telescope mirror"),
    Case("md", "good.md", data("# Beekeeping\n\nHive seven produced heather honey twice.\n"), "heather honey"),
]  # fmt: skip

_LATIN1 = "Señor Müller's crème brûlée recipe, from the café.\n"
_DEEP = 100_000
NOT_UTF8_FILE = os.fsdecode(b"caf\xe9-menu.txt")
NOT_UTF8_FOLDER = os.fsdecode(b"r\xe9sum\xe9s")

BAD = [
    Case("empty-pdf", "empty.pdf", data(b""), "empty file (0 bytes)"),
    Case("empty-docx", "empty.docx", data(b""), "empty file (0 bytes)"),
    Case("empty-txt", "a_empty.txt", data(b""), "empty file (0 bytes)"),
    Case("corrupt-pdf", "corrupt.pdf", data(b"%PDF-1.7\n" + random_bytes(4000)), "corrupt or not a real PDF"),
    Case("truncated-pdf", "truncated.pdf", lambda p: p.write_bytes(pdf_text("Cut short.")[:700]), "corrupt or not a real PDF"),
    Case("text-as-pdf", "letter.pdf", data("Dear Sir, this is a letter, not a PDF."), "corrupt or not a real PDF"),
    Case("encrypted-pdf", "encrypted.pdf", data(lambda: pdf_encrypted("owner", "user")), "encrypted PDF (a password is needed"),
    Case("no-text-pdf", "drawing.pdf", data(lambda: pdf_raw(zlib.compress(b"0 0 m 100 100 l S"))), "no text found"),
    Case("slow-pdf", "slow.pdf", data(lambda: pdf_raw(zlib.compress(b"q Q\n" * 1_000_000, 9))), f"parsing took longer than {TIMEOUT_S:g} s"),
    Case("pdf-bomb", "bomb.pdf", data(lambda: pdf_raw(deflated_zeros(600 << 20))), f"parsing needed more than {MEMORY_MB} MB"),
    Case("not-a-zip-docx", "notzip.docx", data("just text, not a package"), "corrupt or not a real DOCX file"),
    Case("truncated-docx", "truncated.docx", lambda p: p.write_bytes(docx_text("x" * 500)[:3000]), "corrupt or not a real DOCX file"),
    Case("empty-zip-docx", "emptyzip.docx", data(lambda: zip_of({"hello.txt": b"hi"})), "corrupt or not a real DOCX file"),
    Case("zip-bomb-docx", "bomb.docx", data(lambda: zip_of({"[Content_Types].xml": b"<Types/>"}, ("word/document.xml", 300 << 20))), "DOCX expands to 315 MB when unpacked (a zip bomb?)"),
    Case("laughs-docx", "laughs.docx", data(lambda: with_doctype(docx_text("HELLO"), "word/document.xml", LAUGHS, "HELLO", "&lol9;")), "DOCX contains XML entity declarations, which are not allowed"),
    Case("xxe-docx", "xxe.docx", data(lambda: with_doctype(docx_text("HELLO"), "word/document.xml", '<!ENTITY x SYSTEM "file:///etc/passwd">', "HELLO", "&x;")), "DOCX contains XML entity declarations"),
    Case("doctype-docx", "doctype.docx", data(lambda: with_doctype(docx_text("HELLO"), "word/document.xml", "", "HELLO", "HELLO")), "DOCX contains an XML DOCTYPE declaration"),
    Case("laughs-xlsx", "laughs.xlsx", data(lambda: with_doctype(xlsx_rows([["HELLO"]]), "xl/worksheets/sheet1.xml", LAUGHS, "HELLO", "&lol9;")), "XLSX contains XML entity declarations"),
    Case("laughs-pptx", "laughs.pptx", data(lambda: with_doctype(pptx_title("HELLO"), "ppt/slides/slide1.xml", LAUGHS, "HELLO", "&lol9;")), "PPTX contains XML entity declarations"),
    Case("encrypted-docx", "locked.docx", data(lambda: office_encrypted(docx_text("Secret plans."))), "encrypted DOCX (a password is needed"),
    Case("old-xls-as-xlsx", "legacy.xlsx", data(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)), "not a real XLSX file (an old-format"),
    Case("sparse-xlsx", "sparse.xlsx", data(sparse_sheet), "exceeds the maximum of 5,000,000 worksheet cells"),
    Case("random-txt", "random.txt", data(lambda: random_bytes(5000)), "not a text file (binary data)"),
    Case("nul-txt", "nul.txt", data(b"plain words\x00" * 200), "not a text file (binary data)"),
    Case("program-txt", "program.txt", lambda p: p.write_bytes(Path(sys.executable).resolve().read_bytes()[:65536]), "not a text file (binary data)"),
    Case("png-md", "picture.md", data(b"\x89PNG\r\n\x1a\n" + random_bytes(3000)), "not a text file (binary data)"),
    Case("binary-csv", "table.csv", data(lambda: random_bytes(3000)), "not a text file (binary data)"),
    Case("binary-html", "page.html", data(lambda: random_bytes(3001)), "not a text file (binary data)"),
    Case("binary-eml", "mail.eml", data(lambda: random_bytes(3002)), "not a text file (binary data)"),
    Case("bomb-png", "bomb.png", data(lambda: png_header(100_000, 100_000)), "image is 100,000 x 100,000 pixels (10,000 MP), more than the 150 MP rag reads (a decompression bomb?)"),
    Case("bomb-png-2", "wide.png", data(lambda: png_header(1_000_000, 200)), "(a decompression bomb?)"),
    Case("truncated-png", "truncated.png", data(lambda: image_bytes("PNG", 0.5)), "corrupt or truncated image"),
    Case("truncated-jpeg", "truncated.jpg", data(lambda: image_bytes("JPEG", 0.4)), "corrupt or truncated image"),
    Case("truncated-tiff", "truncated.tif", data(lambda: image_bytes("TIFF", 0.3)), "corrupt or truncated image"),
    Case("text-as-png", "notes.png", data("These are meeting notes, not a picture."), "not a real PNG, JPEG or TIFF image"),
    Case("pdf-as-jpeg", "scan.jpeg", data(lambda: pdf_text("A PDF in disguise.")), "not a real PNG, JPEG or TIFF image"),
    Case("random-tiff", "noise.tiff", data(lambda: b"II*\x00" + random_bytes(4000)), "image"),
    Case("blank-txt", "blank.txt", data(" \n\n\t \n" * 50), "no text found"),
    Case("deep-html", "deep.html", data("<html><body>" + "<div>" * _DEEP + "deep" + "</div>" * _DEEP + "</body></html>"), "nested more than 255 elements deep"),
    Case("over-size-cap", "huge.txt", sparse_file(3_000_000), f"over the {MAX_FILE_MB} MB limit"),
    Case("symlink-loop", "loop_a.txt", symlink("loop_b.txt"), "symbolic link loop"),
    Case("symlink-loop-2", "loop_b.txt", symlink("loop_a.txt"), "symbolic link loop"),
    Case("symlink-self", "self.txt", symlink("self.txt"), "symbolic link loop"),
    Case("symlink-dangling", "dangling.pdf", symlink("nowhere.pdf"), "broken symbolic link"),
    Case("named-pipe", "pipe.txt", fifo, "not a regular file (a named pipe)"),
    Case("name-not-utf8", NOT_UTF8_FILE, data("Menu of the day."), "file name is not valid UTF-8"),
    Case("folder-not-utf8", NOT_UTF8_FOLDER, in_folder("cv.txt", data("A CV.")), "folder name is not valid UTF-8"),
    # Deleted by the progress callback while the ingest runs. The indexer stats the file
    # itself before prepare() does, so its reason may be either form.
    Case("vanishes", "zz_vanishes.txt", data("Here one moment."), "file disappeared"),
]  # fmt: skip

HANDLED = [
    Case("latin1-txt", "latin1.txt", data(_LATIN1.encode("latin-1")), "crème brûlée"),
    Case("cp1252-md", "cp1252.md", data("Price: 45 € for “premium” seats.\n".encode("cp1252")), "45 € for “premium”"),
    Case("utf16-txt", "utf16.txt", data("Ünïcode with a byte-order mark.\n".encode("utf-16")), "Ünïcode with a byte-order mark"),
    Case("latin1-csv", "latin1.csv", data("name,city\nJosé,Málaga\n".encode("latin-1")), "Málaga"),
    Case("owner-locked-pdf", "restricted.pdf", data(lambda: pdf_encrypted("owner", "")), "lantern committee"),
    Case("long-line", "one_line.txt", data(one_line(6_000) + " finalwordmarker"), "finalwordmarker"),
    Case("nested-250-html", "nested.html", data("<p>Before.</p>" + "<div>" * 250 + "<p>Deepest ocelot.</p>" + "</div>" * 250), "Deepest ocelot"),
    Case("laughs-html", "laughs.html", data(f"<!DOCTYPE html [{LAUGHS}]><html><body><p>Kept &lol9; quiet.</p></body></html>"), "Kept"),
    Case("headerless-eml", "note.eml", data("No headers here, only a quokka sighting.\n"), "quokka sighting"),
    Case("dots-in-name", "report..final.txt", data("The narwhal survey is final."), "narwhal survey"),
    Case("tab-in-name", "tab\tname.txt", data("Tabbed name about the axolotl."), "axolotl"),
    Case("newline-in-name", "line\nbreak.txt", data("Newline name about the pangolin."), "pangolin"),
    Case("escape-in-name", "esc\x1b[31mred.txt", data("Escape name about the capybara."), "capybara"),
    Case("link-to-good", "link_to_good.txt", symlink("good.txt"), "lighthouse keeper"),
]  # fmt: skip

SKIPPED = ["notes.rtf"]


@dataclass
class Outcome:
    assistant: Assistant
    folder: Path
    failed: dict[str, str]
    added: set[str]
    skipped: set[str]
    parses: dict[str, tuple[float, int, str]]
    """Each file the sandbox parsed: seconds, memory added (MB) as the parent saw it, and
    how it ended."""


class ParseLog(logging.Handler):
    """Collects the sandbox's per-file debug lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.parses: dict[str, tuple[float, int, str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg == PARSED and isinstance(record.args, tuple):
            path, seconds, megabytes, end = record.args
            assert isinstance(seconds, float) and isinstance(megabytes, int)
            self.parses[str(path)] = (seconds, megabytes, str(end))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    folder = tmp_path_factory.mktemp("hostile") / "docs"
    folder.mkdir()
    for case in GOOD + BAD + HANDLED:
        case.build(folder / case.name)
    for name in SKIPPED:
        (folder / name).write_text("{\\rtf1 not ingested}")
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        parse_timeout_s=TIMEOUT_S,
        parse_memory_mb=MEMORY_MB,
        max_file_mb=MAX_FILE_MB,
    )
    assistant = Assistant(settings)
    # The model loads while the parser worker starts (2 cores: a few seconds saved).
    threading.Thread(target=assistant.embedder.embed_query, args=("warm-up",)).start()
    victim = folder / "zz_vanishes.txt"
    logger, handler = logging.getLogger("rag.ingest.sandbox"), ParseLog()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        # The first progress call comes long before the last file is read.
        report = assistant.ingest([folder], progress=lambda *_: victim.unlink(missing_ok=True))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    yield Outcome(
        assistant,
        folder,
        {f.path: f.reason for f in report.failed},
        set(report.added),
        {s.path for s in report.skipped},
        handler.parses,
    )


def _source(outcome: Outcome, name: str) -> str:
    return str(outcome.folder / name)


def _text_of(outcome: Outcome, name: str) -> str:
    """The document's chunks, in order."""
    source = _source(outcome, name)
    records = [
        r
        for r in outcome.assistant.collection().store.iter_records()
        if r.metadata["source"] == source
    ]
    return "\n".join(r.text for r in sorted(records, key=lambda r: int(r.metadata["chunk_index"])))


def test_corpus_is_big_enough() -> None:
    assert len(BAD) >= 30 and len({c.name for c in BAD + HANDLED + GOOD}) == len(
        BAD + HANDLED + GOOD
    )


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_bad_file_fails_with_its_reason(outcome: Outcome, case: Case) -> None:
    path = printable_path(outcome.folder / case.name)
    assert path in outcome.failed, f"{case.name!r} was not reported as failed"
    reason = outcome.failed[path]
    assert any(fragment in reason for fragment in case.expect.split("|")), reason


@pytest.mark.parametrize("case", HANDLED + GOOD, ids=[c.id for c in HANDLED + GOOD])
def test_file_is_ingested_with_its_text(outcome: Outcome, case: Case) -> None:
    assert _source(outcome, case.name) in outcome.added
    assert case.expect in _text_of(outcome, case.name)


@pytest.mark.parametrize("case", GOOD, ids=[c.id for c in GOOD])
def test_good_file_is_searchable(outcome: Outcome, case: Case) -> None:
    passages = outcome.assistant.search(case.expect, k=5)
    assert _source(outcome, case.name) in {p.source for p in passages}


def test_nothing_else_happened(outcome: Outcome) -> None:
    """Every file is accounted for: no unexpected failure, nothing missing."""
    assert len(outcome.failed) == len(BAD)
    assert len(outcome.added) == len(GOOD + HANDLED)
    assert outcome.skipped == {_source(outcome, n) for n in SKIPPED}


def test_entities_were_never_expanded(outcome: Outcome) -> None:
    text = _text_of(outcome, "laughs.html")
    assert "lollollol" not in text and "Kept" in text


def test_long_line_is_whole(outcome: Outcome) -> None:
    text = _text_of(outcome, "one_line.txt")
    assert text.startswith(one_line(5)) and "finalwordmarker" in text


def test_an_enormous_line_parses_within_the_limits(outcome: Outcome) -> None:
    """unstructured ran spaCy over all of a paragraph's first 1M characters to classify
    it: 25 s and 2.5 GB for a 1 MB line. The parser now reads this 1.2 MB in a second."""
    path = outcome.folder.parent / "enormous_line.txt"
    path.write_text(one_line(200_000) + " lastword")
    started = time.perf_counter()
    blocks = parse_in_sandbox(path, ParseLimits(timeout_s=TIMEOUT_S, memory_mb=MEMORY_MB))
    assert time.perf_counter() - started < TIMEOUT_S
    assert len(blocks) == 1 and blocks[0].text.endswith("lastword")


def test_every_parse_stayed_within_the_limits(outcome: Outcome) -> None:
    assert len(outcome.parses) > 30
    for path, (seconds, megabytes, end) in outcome.parses.items():
        # At its time limit the worker abandons a file by itself; a kill would come 2 s
        # later. Memory is polled every 25 ms: only a file stopped for it may go past.
        assert seconds < TIMEOUT_S + 1, (path, seconds, end)
        if end not in ("killed at the memory limit", "memory"):
            assert megabytes < MEMORY_MB, (path, megabytes, end)


def test_the_limits_were_really_reached(outcome: Outcome) -> None:
    seconds, _, end = outcome.parses[_source(outcome, "slow.pdf")]
    assert end == "timeout" and seconds >= TIMEOUT_S
    seconds, megabytes, end = outcome.parses[_source(outcome, "bomb.pdf")]
    if end != "memory":  # on a busy machine the worker's address-space ceiling may come first
        assert (end, megabytes >= MEMORY_MB) == ("killed at the memory limit", True)
    assert seconds < TIMEOUT_S


def test_nul_in_a_path_is_a_clear_failure(outcome: Outcome) -> None:
    report = outcome.assistant.ingest([f"{outcome.folder}/bad\x00name.txt"])
    assert [f.reason for f in report.failed] == [
        "path contains a NUL byte, so no such file can exist"
    ]
    assert report.failed[0].path.endswith("bad\\x00name.txt")


# -- the worker process ------------------------------------------------------------------


def _worker_of(pid: int, timeout: float = 60) -> int:
    """The pid of the parser worker process started by process ``pid``."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(pid).children():
            if "rag.ingest.sandbox" in " ".join(child.cmdline()):
                return int(child.pid)
        time.sleep(0.05)
    raise AssertionError("no parser worker process appeared")


def _gone(pid: int, timeout: float) -> bool:
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.05)
    return False


def test_a_crashed_worker_is_a_clear_error_and_is_replaced(outcome: Outcome) -> None:
    from rag.ingest.sandbox import set_workers

    # One worker, the one killed: the ingest above may have started a second one while
    # the first was stuck on a slow file.
    set_workers(1)
    limits = ParseLimits(timeout_s=60, memory_mb=MEMORY_MB)
    slow = outcome.folder / "slow.pdf"
    parse_in_sandbox(outcome.folder / "good.txt", limits)  # a worker is running
    worker = _worker_of(os.getpid())
    killer = threading.Timer(0.5, os.kill, (worker, signal.SIGSEGV))
    killer.start()
    with pytest.raises(ParseError, match=r"the parser crashed on this file \(killed by SIGSEGV\)"):
        parse_in_sandbox(slow, limits)
    blocks = parse_in_sandbox(outcome.folder / "good.txt", limits)
    assert "lighthouse keeper" in blocks[0].text
    assert _worker_of(os.getpid()) != worker


_PARENT = """
import sys
from pathlib import Path
from rag.ingest.sandbox import PARSED, ParseLimits, parse_in_sandbox
limits = ParseLimits(timeout_s=120, memory_mb=1000)
parse_in_sandbox(Path(sys.argv[1]), limits)
print("ready", flush=True)
parse_in_sandbox(Path(sys.argv[2]), limits)
"""


def test_no_worker_outlives_its_parent(outcome: Outcome) -> None:
    """Ctrl-C (SIGINT to the process group) and a killed parent (no atexit) alike: the
    worker goes too, even in the middle of a file. Both cases run at once. Its scratch
    folder goes with an interrupted parent; a killed one can only have it emptied."""
    import psutil

    good, slow = outcome.folder / "good.txt", outcome.folder / "slow.pdf"
    parents = {
        how: subprocess.Popen(
            [sys.executable, "-c", _PARENT, good, slow],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a shell gives a command
        )
        for how in ("ctrl-c", "killed")
    }
    try:
        workers, scratch = {}, {}
        for how, parent in parents.items():
            assert parent.stdout is not None and parent.stdout.readline() == b"ready\n"
            workers[how] = _worker_of(parent.pid)
            scratch[how] = Path(psutil.Process(workers[how]).cmdline()[-1])
        time.sleep(0.3)  # both busy with slow.pdf now
        os.killpg(parents["ctrl-c"].pid, signal.SIGINT)  # what a terminal does on Ctrl-C
        parents["killed"].kill()
        assert parents["ctrl-c"].wait(timeout=10) != 0
        for how, worker in workers.items():
            assert _gone(worker, timeout=5), f"{how}: the parser worker outlived its parent"
        assert not scratch["ctrl-c"].exists()
        assert not list(scratch["killed"].iterdir())
        scratch["killed"].rmdir()
    finally:
        for parent in parents.values():
            parent.kill()
            parent.wait()


def test_a_worker_started_ahead_is_the_one_that_parses(tmp_path: Path) -> None:
    """``rag ingest`` starts the worker before its own imports; the first file then waits
    only for what is left of the worker's start, and no second worker is started."""
    from rag.ingest.sandbox import Sandbox

    good = tmp_path / "good.txt"
    good.write_text("The lighthouse keeper logged every passing ship.\n")
    sandbox = Sandbox()
    try:
        sandbox.prestart()
        sandbox.prestart()  # idempotent
        assert sandbox.starts == 1
        blocks = sandbox.parse(good, ParseLimits(timeout_s=60, memory_mb=MEMORY_MB))
        assert "lighthouse keeper" in blocks[0].text
        assert sandbox.starts == 1
    finally:
        sandbox.close()
