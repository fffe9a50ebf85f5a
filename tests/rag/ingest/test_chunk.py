"""Chunking keeps headings, pages and tables, within the token budget (fast: a word tokenizer)."""

import itertools

from rag.ingest.chunk import Chunker, row_statement
from rag.ingest.types import Block


def words(text: str) -> list[str]:
    return text.split()


def prose(n: int, word: str = "lorem") -> str:
    return ". ".join(" ".join([word] * 9) for _ in range(n // 10)) + "."


def test_small_sections_on_one_page_are_packed_together() -> None:
    blocks = [
        Block("Leave", "Title"),
        Block("You get 25 days.", "NarrativeText"),
        Block("Sick leave", "Title"),
        Block("Call by 10:00.", "NarrativeText"),
    ]
    chunks = Chunker(words, chunk_size=50, chunk_overlap=5).chunk(blocks)
    assert len(chunks) == 1
    assert "Leave" in chunks[0].text and "Call by 10:00." in chunks[0].text
    assert chunks[0].heading == "Leave"


def test_long_section_repeats_heading_in_every_chunk_and_respects_budget() -> None:
    blocks = [Block("Termination", "Title"), Block(prose(400), "NarrativeText")]
    chunker = Chunker(words, chunk_size=60, chunk_overlap=10)
    chunks = chunker.chunk(blocks)
    assert len(chunks) > 5
    for c in chunks:
        assert c.text.startswith("Termination\n")
        assert c.heading == "Termination"
        assert chunker.count(c.text) <= 60
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_pages_are_never_mixed() -> None:
    blocks = [
        Block("Page one text.", "NarrativeText", 1),
        Block("Page two text.", "NarrativeText", 2),
    ]
    chunks = Chunker(words, 100, 10).chunk(blocks)
    assert [(c.page, c.text) for c in chunks] == [(1, "Page one text."), (2, "Page two text.")]


def test_tables_split_by_rows_each_naming_its_columns() -> None:
    rows = (
        ("code", "service", "price"),
        *tuple((f"S{i}", f"service {i}", str(i)) for i in range(40)),
    )
    blocks = [Block("Prices", "Title"), Block("table", "Table", rows=rows)]
    chunks = Chunker(words, chunk_size=40, chunk_overlap=5).chunk(blocks)
    assert len(chunks) > 3
    for c in chunks:
        assert c.kind == "Table" and c.text.splitlines()[0] == "Prices"
    body = [line for c in chunks for line in c.text.splitlines()[1:]]
    assert body == [f"code: S{i}; service: service {i}; price: {i}" for i in range(40)], (
        "every row exactly once, in order, a statement naming its columns"
    )


def test_a_row_statement_leaves_out_empty_cells() -> None:
    header = ("Tier", "From", "To", "Discount", "Notes")
    assert row_statement(header, ("Tier 2", "25000", "99999", "5%", "")) == (
        "Tier: Tier 2; From: 25000; To: 99999; Discount: 5%"
    )
    assert row_statement(("a",), ("1", "extra")) == "a: 1; extra"


def test_lone_heading_before_table_is_not_its_own_chunk() -> None:
    rows = (("a", "b"), ("1", "2"))
    chunks = Chunker(words, 50, 5).chunk(
        [Block("Sheet: X", "Title"), Block("t", "Table", rows=rows)]
    )
    assert len(chunks) == 1 and chunks[0].heading == "Sheet: X"


def test_title_slide_of_headings_is_kept() -> None:
    blocks = [Block("Q3 Review", "Title", 1), Block("Exec meeting, 7 October", "Title", 1)]
    chunks = Chunker(words, 50, 5).chunk(blocks)
    assert len(chunks) == 1 and "7 October" in chunks[0].text


def test_empty_input_gives_no_chunks() -> None:
    assert Chunker(words, 50, 5).chunk([Block("   ", "NarrativeText")]) == []


def test_chunks_carry_their_pages_ocr_confidence_and_never_mix_it() -> None:
    from rag.ingest.types import Block

    chunker = Chunker(str.split, chunk_size=64, chunk_overlap=8)
    blocks = [
        Block("Maintenance plan.", "Title", 1),
        Block("The pumps are inspected every spring.", "NarrativeText", 1),
        Block("Signed by Ottoline Vasquez.", "NarrativeText", 2, ocr_confidence=91.4),
        Block("Witnessed by Cornelius Abernathy.", "NarrativeText", 2, ocr_confidence=91.4),
        # The same page, text from another source: never in the same chunk.
        Block("Page 2 of 3", "NarrativeText", 2),
    ]
    chunks = chunker.chunk(blocks)
    assert [(c.page, c.ocr_confidence) for c in chunks] == [(1, None), (2, 91.4), (2, None)]
    assert "Ottoline Vasquez" in chunks[1].text and "Abernathy" in chunks[1].text
    assert chunks[1].ocr and not chunks[0].ocr


def test_a_long_text_splits_between_sentences_with_an_overlap_of_whole_sentences() -> None:
    sentences = [f"Sentence {n} says {'much ' * (n % 5)}here." for n in range(60)]
    text = " ".join(sentences)
    chunker = Chunker(words, chunk_size=40, chunk_overlap=10)
    pieces = list(chunker.split(text, 40))
    assert len(pieces) > 5
    for piece in pieces:
        assert chunker.count(piece) <= 40
        assert piece.startswith("Sentence ") and piece.endswith("here.")  # whole sentences
    for before, after in itertools.pairwise(pieces):
        first = after.split(" here.")[0] + " here."
        assert first in before  # the next piece starts with the last sentence(s) before it
    assert all(s in text for s in sentences) and all(any(s in p for p in pieces) for s in sentences)


def test_a_sentence_longer_than_a_chunk_is_cut_between_words() -> None:
    text = " ".join(f"w{n}" for n in range(500))  # no sentence end at all
    chunker = Chunker(words, chunk_size=64, chunk_overlap=8)
    pieces = list(chunker.split(text, 64))
    assert all(chunker.count(p) <= 64 for p in pieces)
    assert " ".join(pieces).split() == text.split()  # every word once, in order
