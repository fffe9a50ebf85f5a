"""HTML, Markdown and plain text read without unstructured: headings, list items, tables
and line breaks as a reader sees them, and nothing a reader does not see."""

from pathlib import Path

from rag.ingest.parse import parse
from rag.ingest.types import Block


def _blocks(tmp_path: Path, name: str, text: str) -> list[tuple[str, str]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return [(b.kind, b.text) for b in parse(path)]


def test_html_headings_paragraphs_lists_and_line_breaks(tmp_path: Path) -> None:
    page = """<html><head><title>Ignored</title><style>p {color: red}</style></head><body>
    <h2>Parking
      permits</h2>
    <p>Bristol has <b>22</b> spaces,
       allocated by permit.<br>Apply with form <code>FAC-07</code>.</p>
    <ul><li>Leeds: no parking</li><li>Manchester: <a href="#">see the map</a></li></ul>
    <script>alert("never text")</script><noscript>nor this</noscript>
    <div>Outer text <p>inner paragraph</p> tail text</div>
    <footer>Site footer</footer></body></html>"""
    assert _blocks(tmp_path, "p.html", page) == [
        ("Title", "Parking permits"),
        ("NarrativeText", "Bristol has 22 spaces, allocated by permit.\nApply with form FAC-07."),
        ("ListItem", "Leeds: no parking"),
        ("ListItem", "Manchester: see the map"),
        ("NarrativeText", "Outer text"),
        ("NarrativeText", "inner paragraph"),
        ("NarrativeText", "tail text"),
    ]


def test_html_tables_keep_rows_and_one_column_tables_are_lines(tmp_path: Path) -> None:
    page = """<body><table><caption>Rates</caption>
      <thead><tr><th>Plan</th><th>Price</th></tr></thead>
      <tbody><tr><td>Pro</td><td>49</td></tr><tr><td>Team</td><td>99</td></tr></tbody></table>
      <table><tr><th>Column Type Description</th></tr>
      <tr><td><p>oid <code>oid</code></p><p>Row identifier</p></td></tr></table>
      <pre>SELECT 1;
  -- indented</pre></body>"""
    path = tmp_path / "t.html"
    path.write_text(page, encoding="utf-8")
    blocks = parse(path)
    assert blocks[0] == Block("Rates", "Title")
    assert blocks[1].kind == "Table"
    assert blocks[1].rows == (("Plan", "Price"), ("Pro", "49"), ("Team", "99"))
    assert [(b.kind, b.text) for b in blocks[2:]] == [
        ("NarrativeText", "Column Type Description"),
        ("NarrativeText", "oid oid Row identifier"),
        ("NarrativeText", "SELECT 1;\n  -- indented"),
    ]


def test_markdown_is_read_as_its_html(tmp_path: Path) -> None:
    text = "# Hotels\n\nRates per night:\n\n| Location | Cap |\n|---|---|\n| London | £160 |\n\n- Book early\n- Ask first\n"
    path = tmp_path / "m.md"
    path.write_text(text, encoding="utf-8")
    blocks = parse(path)
    assert [(b.kind, b.text) for b in blocks if b.kind != "Table"] == [
        ("Title", "Hotels"),
        ("NarrativeText", "Rates per night:"),
        ("ListItem", "Book early"),
        ("ListItem", "Ask first"),
    ]
    assert [b.rows for b in blocks if b.kind == "Table"] == [
        (("Location", "Cap"), ("London", "£160"))
    ]


def test_plain_text_headings_bullets_and_wrapped_lines(tmp_path: Path) -> None:
    text = (
        "Security notes\n\n"
        "1. PASSWORDS\n"
        "-------------\n"
        "- Minimum password length is 14 characters. Use a passphrase of three or\n"
        "  four random words.\n"
        "* Never reuse a password.\n\n"
        "These notes summarise the rules that every member of staff must follow, and\n"
        "the full policy is on the intranet.\n\n"
        "Halvorsen & Pike\n"
        "1 Anchor Road\n"
        "Bristol\n"
    )
    assert _blocks(tmp_path, "n.txt", text) == [
        ("Title", "Security notes"),
        ("Title", "1. PASSWORDS"),
        (
            "ListItem",
            "Minimum password length is 14 characters. Use a passphrase of three or four random words.",
        ),
        ("ListItem", "Never reuse a password."),
        (
            "NarrativeText",
            "These notes summarise the rules that every member of staff must follow, and "
            "the full policy is on the intranet.",
        ),
        ("NarrativeText", "Halvorsen & Pike\n1 Anchor Road\nBristol"),
    ]


def test_invisible_break_hints_inside_words_are_removed(tmp_path: Path) -> None:
    """The manual breaks long identifiers with zero-width spaces; a search for the
    identifier must find it whole."""
    page = "<p>Set BGWORKER_BACKEND_\u200bDATABASE_CONNECTION or use hyphen\u00adation.</p>"
    assert _blocks(tmp_path, "z.html", page) == [
        ("NarrativeText", "Set BGWORKER_BACKEND_DATABASE_CONNECTION or use hyphenation.")
    ]
