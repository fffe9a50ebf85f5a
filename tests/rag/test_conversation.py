"""Follow-up questions are retrieved together with the question before them."""

from __future__ import annotations

import pytest

from rag.answer.conversation import is_follow_up, standalone_query


@pytest.mark.parametrize(
    "question",
    ["And abroad?", "and for abroad?", "What about Leeds?", "Why?", "How much?", "Is it paid?"],
)
def test_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is the per diem for trips abroad?",
        "How many users were affected by the March server room outage?",
        "Who approves expense claims over 500 pounds?",
        "What is the notice period in the Acme contract?",
    ],
)
def test_self_contained_questions(question: str) -> None:
    assert not is_follow_up(question)


def test_standalone_query() -> None:
    history = ["What is the per diem for UK trips?"]
    assert (
        standalone_query("And abroad?", history) == "What is the per diem for UK trips? And abroad?"
    )
    assert standalone_query("And abroad?", []) == "And abroad?"
    topic_change = "How many users were affected by the outage?"
    assert standalone_query(topic_change, history) == topic_change
