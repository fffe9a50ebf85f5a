"""Every supported format parses offline into real text, with pages and tables kept."""

from pathlib import Path

import pytest

from rag.errors import ParseError
from rag.ingest.parse import parse
from tests.conftest import SAMPLE_DOCS

# (file, phrases that must come out as text)
CASES = [
    ("incident_report_2026-03.pdf", ["14 March 2026", "212", "CRAC unit 2"]),
    ("acme_services_agreement.docx", ["60 days", "Acme Logistics plc", "England and Wales"]),
    ("employee_handbook.docx", ["25 days", "10:00"]),
    ("q3_review.pptx", ["78%", "12 engineers"]),
    ("price_list_2026.xlsx", ["SE-101", "Structural survey", "950"]),
    ("office_locations.csv", ["Leeds", "0113 496 0720"]),
    ("intranet_faq.html", ["11:30", "FAC-07"]),
    ("travel_expense_policy.md", ["£45", "£70"]),
    ("it_security_notes.txt", ["14 characters", "security@halvorsenpike.example"]),
    ("board_update.eml", ["£4.2m", "Manchester", "Subject:"]),
]


@pytest.mark.parametrize(("name", "phrases"), CASES, ids=[c[0] for c in CASES])
def test_format_yields_real_text(name: str, phrases: list[str]) -> None:
    blocks = parse(SAMPLE_DOCS / name)
    text = "\n".join(b.text for b in blocks)
    assert len(text) > 300, f"{name}: almost no text came out"
    for phrase in phrases:
        assert phrase in text, f"{name}: {phrase!r} missing"


def test_pdf_keeps_page_numbers() -> None:
    blocks = parse(SAMPLE_DOCS / "incident_report_2026-03.pdf")
    by_page: dict[int | None, str] = {}
    for b in blocks:
        by_page[b.page] = by_page.get(b.page, "") + " " + b.text
    assert set(by_page) == {1, 2, 3, 4}
    assert "212" in by_page[2] and "CRAC unit 2" in by_page[3]
    assert "212 users" not in by_page[1]


def test_pptx_keeps_slide_numbers() -> None:
    blocks = parse(SAMPLE_DOCS / "q3_review.pptx")
    slides = {b.page for b in blocks}
    assert slides == {1, 2, 3, 4, 5, 6}
    assert any("78%" in b.text and b.page == 3 for b in blocks)


@pytest.mark.parametrize("name", ["price_list_2026.xlsx", "office_locations.csv"])
def test_tables_come_out_as_rows(name: str) -> None:
    tables = [b for b in parse(SAMPLE_DOCS / name) if b.kind == "Table"]
    assert tables and all(t.rows for t in tables)
    rows = tables[0].rows or ()
    assert len(rows) > 3 and len({len(r) for r in rows}) == 1, "ragged rows: not a table"


def test_a_pdf_ruled_table_comes_out_row_by_row() -> None:
    """pdfminer reads a table column by column; the ruling gives its rows back."""
    blocks = parse(SAMPLE_DOCS / "incident_report_2026-03.pdf")
    costs = next(b for b in blocks if b.kind == "Table" and b.page == 4)
    assert costs.rows is not None and costs.rows[0] == ("Item", "Cost (GBP)")
    assert ("Replacement compressor, parts and labour", "9,800") in costs.rows
    actions = next(b for b in blocks if b.kind == "Table" and b.page == 3)
    assert actions.rows is not None and len(actions.rows) == 6
    assert actions.rows[4][2:] == ("Marcus Webb", "30 June 2026", "Open"), actions.rows[4]
    # Cells pdfminer ran into one line ("Priya Nandakumar 10 April 2026") are apart.
    assert actions.rows[2][2:4] == ("Priya Nandakumar", "10 April 2026"), actions.rows[2]


def test_running_headers_and_footers_are_dropped() -> None:
    text = [b.text for b in parse(SAMPLE_DOCS / "incident_report_2026-03.pdf")]
    assert not [t for t in text if "CONFIDENTIAL" in t or "Page 1 of 4" in t], text


def test_pdf_columns_without_ruling_stay_prose(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in (1, 2):
        pdf.add_page()
        y = pdf.get_y()
        pdf.multi_cell(85, 6, f"Page {page}: the boiler is serviced every spring.")
        pdf.set_xy(110, y)
        pdf.multi_cell(85, 6, f"Page {page}: the lift is inspected every autumn.")
        # A ruled two-by-two table below the columns.
        pdf.set_xy(10, 120)
        for row in (("Plan", "Price"), ("Pro", "49")):
            for cell in row:
                pdf.cell(40, 8, cell, border=1)
            pdf.ln()
    path = tmp_path / "columns.pdf"
    pdf.output(str(path))
    blocks = parse(path)
    tables = [b for b in blocks if b.kind == "Table"]
    assert [t.rows for t in tables] == [(("Plan", "Price"), ("Pro", "49"))] * 2
    prose = " ".join(b.text for b in blocks if b.kind != "Table")
    for page in (1, 2):
        assert f"Page {page}: the boiler is serviced every spring." in prose, prose
        assert f"Page {page}: the lift is inspected every autumn." in prose, prose


def test_spreadsheet_sheets_are_headings() -> None:
    blocks = parse(SAMPLE_DOCS / "price_list_2026.xlsx")
    assert [b.text for b in blocks if b.kind == "Title"] == [
        "Sheet: Price list 2026",
        "Sheet: Discounts",
    ]


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage", "PDF"),
        ("broken.docx", b"PK\x03\x04 this is not really a zip", "DOCX"),
        ("broken.pptx", b"not a presentation at all", "PPTX"),
        ("broken.xlsx", b"\x00\x01\x02 nope", "XLSX"),
    ],
)
def test_corrupt_files_raise_parse_error_naming_file(
    tmp_path: Path, name: str, data: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ParseError) as info:
        parse(path)
    assert info.value.path == str(path)
    assert reason in info.value.reason


def test_unsupported_type_is_a_parse_error(tmp_path: Path) -> None:
    path = tmp_path / "picture.bmp"
    path.write_bytes(b"BM....")
    with pytest.raises(ParseError, match="unsupported file type"):
        parse(path)


def test_site_navigation_is_dropped_and_the_page_kept(tmp_path: Path) -> None:
    """The manual's "Prev | Up | Home | Next" tables, <nav> menus and breadcrumbs repeat
    on every page: dropped, with the text around them and the page's own tables kept."""
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><nav><a href='/'>Home</a> | <a href='/docs'>Docs</a></nav>"
        "<div class='navheader'><table summary='Navigation header'><tr><td>Prev</td>"
        "<td>Up</td><td>Next</td></tr></table></div>"
        "<h2>1.2. Architectural Fundamentals</h2>"
        "<p>PostgreSQL uses a client/server model of processes.</p>"
        "<ul class='breadcrumb'><li>Manual</li><li>Chapter 1</li></ul> after the crumbs."
        "<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>49</td></tr></table>"
        "<div class='navfooter'>Prev Up Next</div></body></html>",
        encoding="utf-8",
    )
    blocks = parse(page)
    text = "\n".join(b.text for b in blocks)
    assert "Architectural Fundamentals" in text
    assert "client/server model" in text
    assert "after the crumbs" in text
    assert [b.rows for b in blocks if b.rows] == [(("Plan", "Price"), ("Pro", "49"))]
    for gone in ("Prev", "Next", "Docs", "Chapter 1"):
        assert gone not in text
