"""What a question asks for, and the rules that tell the answer from its neighbours."""

from __future__ import annotations

import pytest

from rag.answer.facts import (
    asked_each,
    asked_for,
    brackets,
    fact_kinds,
    head_noun,
    negates,
    spelled_out,
    states_asked,
)

TIERS = [
    "Tier: Tier 1; Annual spend from (GBP): 0; Annual spend to (GBP): 24999; Discount: 0%",
    "Tier: Tier 2; Annual spend from (GBP): 25000; Annual spend to (GBP): 99999; Discount: 5%",
    "Tier: Tier 3; Annual spend from (GBP): 100000; Annual spend to (GBP): 249999; Discount: 7.5%",
]


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("How long is the notice period?", "duration"),
        ("How many days of holiday can I carry over?", "number"),
        ("When does the agreement start, and how long is it for?", "date"),
        # the cue after the question word leads, not the first cue
        ("a client spends 120k a year with us - what discount do they get?", "percent"),
        ("Which client has overdue invoices?", "name"),
        # "how much" time off, leave or notice is a duration, however paid
        ("how much paid time off do new dads get?", "duration"),
        ("How much annual leave do I get?", "duration"),
        ("how much do we charge for a drone survey?", "money"),
        # a rate is a percentage, though the question never says "percent"
        ("what was utilisation in the leeds office?", "percent"),
    ],
)
def test_the_kind_asked_for_comes_first(question: str, first: str) -> None:
    assert asked_for(question)[0] == first


@pytest.mark.parametrize(
    "question",
    [
        # "when" inside the sentence is no question word
        "which services went down when the leeds server room overheated?",
        # a unit the question counts itself asks for no duration
        "do I have to change my password every 90 days?",
        # "last" asks how long only as the verb ("how long did it last?")
        "what was our NPS last quarter?",
    ],
)
def test_words_that_only_look_like_cues_ask_for_nothing(question: str) -> None:
    assert asked_for(question) == ()


def test_a_table_row_holds_an_amount_only_between_its_from_and_to_cells() -> None:
    held = [brackets(row, "a client spends 120k a year - what discount?") for row in TIERS]
    assert held == [False, False, True]
    assert brackets("Claims over £5,000 need a director's approval.", "a claim of six grand")
    assert not brackets("Claims over £5,000 need a director's approval.", "a £1,200 claim")


def test_a_year_the_question_names_is_no_amount_in_a_range() -> None:
    """ "the 2026 price list" picked the price list's "up to 10,000 m2" row and the
    discount tier "from 0 to 24999" over the structural survey row asked about."""
    question = "What is the structural survey price in the 2026 price list?"
    assert not brackets(TIERS[0], question)
    assert not brackets("Warehouse condition survey (up to 10,000 m2)", question)
    assert brackets(TIERS[0], "a client spends £2026 a year - what discount?")
    assert brackets(TIERS[1], "a client spends 60k in 2026 - what discount?")
    # a sum written without its sign is still a sum ("2000 pounds", "a claim of 1950")
    approval = "Total value of claim or booking: £1,000 to £5,000; Who approves: Finance Director"
    assert brackets(approval, "Who approves an expense claim of 2000 pounds?")
    assert brackets(approval, "Who approves a claim of 1950?")
    assert brackets(TIERS[0], "What discount does a client get if they spend 2000 a year?")


def test_negation_counts_against_a_sentence_unless_the_question_is_yes_or_no() -> None:
    day_trip = "Day trips without an overnight stay may claim meal costs up to £15."
    assert negates(day_trip, "What is the meal allowance on an overnight trip?")
    assert not negates(day_trip, "What is the meal allowance on a day trip?")
    no_change = "We do NOT force regular password changes."
    assert not negates(no_change, "do I have to force a regular password change?")


def test_the_thing_asked_about() -> None:
    assert head_noun("which services went down?") == "services"
    assert head_noun("What discount do they get?") == "discount"
    assert head_noun("What is the cap on liability?") is None


@pytest.mark.parametrize(
    "text",
    ["Add 5p per mile for each passenger.", "Service: Court attendance; Price GBP: 1750"],
)
def test_money_as_written_in_policies_and_tables(text: str) -> None:
    assert "money" in fact_kinds(text)


def test_an_acronym_spelled_out() -> None:
    assert spelled_out("ICO", "not reportable to the Information Commissioner's Office")
    assert spelled_out("PI", "Professional indemnity insurance is renewed")
    assert not spelled_out("AI", "an important idea")  # short words spell nothing
    assert not spelled_out("Spain", "Spanish offices")  # no acronym


def test_each_part_of_a_question_asks_for_its_own_kind() -> None:
    assert asked_each("When does it start, and how long is it for?") == ("date", "duration")
    assert asked_each("who do I call? how quickly do I have to report it?") == (
        "name",
        "duration",
    )
    assert asked_each("Who approves a claim?") == ("name",)


@pytest.mark.parametrize(
    ("question", "text", "states"),
    [
        ("What's the phone number for the Leeds office?", "Leeds has a shared kitchen.", False),
        ("What's the phone number for the Leeds office?", "It is 0113 496 0720.", True),
        # each part: a place and a price
        ("where do I park in leeds and how much is it?", "At Wellington Place.", False),
        ("where do I park in leeds and how much is it?", "At Wellington Place, £8 a day.", True),
        ("is the hotel limit in London £160?", "No.", True),  # yes or no is an answer
        # a value the question states already is no answer
        ("how long is the notice period, 30 days?", "The notice period is 30 days.", False),
        ("which app do we use for MFA?", "Microsoft Authenticator.", True),  # no kind asked
    ],
)
def test_an_answer_states_what_was_asked(question: str, text: str, states: bool) -> None:
    assert states_asked(text, question) is states
