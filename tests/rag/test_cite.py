from rag.answer.cite import CitationStream, clean_citations, overlap_attribution
from rag.text import cited_numbers


def test_invalid_numbers_are_dropped_and_valid_kept() -> None:
    text = "Notice is 60 days [2]. Fees are monthly [7]. Both apply [1, 9]. See [3][2]."
    assert (
        clean_citations(text, 3)
        == "Notice is 60 days [2]. Fees are monthly. Both apply [1]. See [3][2]."
    )
    assert cited_numbers(text, 3) == [2, 1, 3]


def test_non_citation_brackets_are_left_alone() -> None:
    assert (
        clean_citations("Use the [HP-Guest] network [1].", 2) == "Use the [HP-Guest] network [1]."
    )


def test_stream_filter_matches_batch_cleaning_however_tokens_split() -> None:
    text = "It is 60 days [1]. Not [12] or [4, 2]. Array[0] stays [2]"
    expected = clean_citations(text, 2)
    for size in (1, 2, 3, 5, len(text)):
        tokens = [text[i : i + size] for i in range(0, len(text), size)]
        assert "".join(CitationStream(2)(tokens)) == expected


def test_overlap_attribution_picks_the_passage_with_the_words() -> None:
    passages = ["The canteen opens at 11:30.", "Notice period is 60 days for Acme."]
    assert overlap_attribution("Acme needs 60 days notice", passages) == 2
    assert overlap_attribution("zzz", passages) is None
