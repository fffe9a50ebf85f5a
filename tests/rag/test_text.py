"""The text rules every part of rag reads text with."""

from __future__ import annotations

import pytest

from rag.errors import InvalidInput
from rag.text import (
    cited_numbers,
    collection_name,
    content_words,
    sentence_spans,
    sentences,
    stems,
    strip_markers,
    words,
)


def test_words_keep_numbers_whole_and_any_script() -> None:
    assert words("EUR 2,500 and 2.5 days; Grüße, 東京") == [
        "eur", "2,500", "and", "2.5", "days", "grüße", "東京"
    ]  # fmt: skip


def test_stems_drop_stop_words_and_match_inflections() -> None:
    assert stems("The approvals were approved") == stems("approval approve")
    assert content_words("What is the notice period?") == {"notice", "period"}


def test_sentences_keep_their_markers_and_offsets_point_into_the_text() -> None:
    text = "Trips abroad: £70 a day [2]. Meals e.g. lunch count.\nNext line [1, 3]"
    assert sentences(text) == [
        "Trips abroad: £70 a day [2].",
        "Meals e.g. lunch count.",
        "Next line [1, 3]",
    ]
    for start, end in sentence_spans(text):
        assert text[start:end].strip() == text[start:end]
    assert next(text[a:b] for a, b in sentence_spans(text)) == "Trips abroad: £70 a day [2]."
    assert cited_numbers(text, 2) == [2, 1]
    assert strip_markers("Paid [1][2] in full [3, 4].") == "Paid in full."


@pytest.mark.parametrize("name", ["default", "a-b", "a_b", "HR.2026", "x"])
def test_collection_names_are_kept_as_they_are(name: str) -> None:
    assert collection_name(name) == name


@pytest.mark.parametrize("name", ["", "my docs", "../etc", "a-", "-a", "é", "a" * 64])
def test_other_collection_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidInput, match="letters, digits"):
        collection_name(name)
