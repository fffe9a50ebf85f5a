"""Retrieval and answers on sample_docs/qa.jsonl, with the real bundled models."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import Assistant
from rag.answer.conversation import standalone_query
from rag.answer.types import REFUSAL, Token
from tests.conftest import SAMPLE_DOCS

pytestmark = pytest.mark.slow


def _hit(passages, source: str, page: int | None) -> bool:  # type: ignore[no-untyped-def]
    return any(Path(p.source).name == source and (page is None or p.page == page) for p in passages)


#: The first 34 questions (direct ones, written with the documents at hand); the rest are
#: asked as employees ask: paraphrases, other number formats, table look-ups, later pages,
#: follow-ups and near misses (see sample_docs/README.md).
CORE = 34


def _query(q: dict) -> str:
    """What is searched for: a follow-up is read with the questions before it."""
    return standalone_query(q["question"], q.get("history", []))


@pytest.mark.parametrize(
    ("mode", "core", "every"),
    # Measured (deterministic): core 27, 27, 28 of 28; every 120, 115, 123 of 128.
    [("hybrid", 27, 119), ("dense", 26, 113), ("keyword", 27, 121)],
)
def test_hit_at_3(assistant: Assistant, qa: list[dict], mode: str, core: int, every: int) -> None:
    hits = [
        i
        for i, q in enumerate(qa)
        if q["answerable"]
        and _hit(assistant.search(_query(q), k=3, mode=mode), q["source"], q["page"])
    ]
    assert sum(i < CORE for i in hits) >= core, (mode, hits)
    assert len(hits) >= every, (mode, len(hits))


def test_relevance_gate_separates_answerable_from_unanswerable(
    assistant: Assistant, qa: list[dict]
) -> None:
    refused = [
        assistant.relevance(_query(q), assistant.search(_query(q)))
        < assistant.settings.min_relevance
        for q in qa
    ]

    def rates(qs: range) -> tuple[int, int]:
        return (
            sum(refused[i] for i in qs if not qa[i]["answerable"]),
            sum(refused[i] for i in qs if qa[i]["answerable"]),
        )

    # Measured: core 4 of 6 unanswerable refused, 0 of 28 answerable refused; every
    # question 16 of 36 and 5 of 128 (the passage-level gate before: 5, 1, 19, 13). Near
    # misses (a fact the documents' topic holds but they do not state) are what the gate
    # cannot yet tell apart: README, "Refusal".
    core_recall, core_false = rates(range(CORE))
    assert core_recall >= 4 and core_false <= 1, (core_recall, core_false)
    recall, false_refusals = rates(range(len(qa)))
    assert recall >= 16 and false_refusals <= 6, (recall, false_refusals)


def test_extractive_answers_hold_the_fact_on_the_right_page(assistant: Assistant) -> None:
    """The answer a person reads, over all 164 questions: measured 0.922 of answers hold
    the fact, 0.984 cite the right file and 1.000 the right page (issue 13's start: 0.633,
    0.813 and 0.735), 26 of 36 unanswerable questions and none of 128 answerable ones
    are refused, and no sentence that says nothing is labelled supported. Without the check
    that an answer quotes a document about the name asked, 21 of 36 were refused; without
    the check that it quotes the kind asked ("bereavement leave", not "annual leave"), 22."""
    from rag.evaluate import evaluate, load_questions

    report = evaluate(assistant, load_questions(SAMPLE_DOCS / "qa.jsonl"), "extractive")
    assert report.answer_match >= 0.90, report.answer_match
    assert report.right_file >= 0.96, report.right_file
    assert report.right_page >= 0.95, report.right_page
    assert report.refusal_recall >= 26 / 36, report.refusal_recall
    assert report.false_refusal_rate <= 1 / 128, report.false_refusal_rate
    assert report.empty_supported == 0


def test_questions_written_without_knowing_the_rules(assistant: Assistant) -> None:
    """sample_docs/qa_independent.jsonl: 90 questions a helper wrote from the documents
    alone, without seeing the gate's or the extraction's rules or any other question set:
    60 answerable (38 in its own words: "holiday", "thumb drive", "booze", "turnover")
    and 30 near misses. A check on how the rules tuned on qa.jsonl carry over. Measured:
    0.850 of answers hold the fact, 2 of 60 answerable refused ("thumb drive", "EVs"),
    10 of 30 near misses refused (8 before the kind check)."""
    from rag.evaluate import evaluate, load_questions

    questions = load_questions(SAMPLE_DOCS / "qa_independent.jsonl")
    report = evaluate(assistant, questions, "extractive")
    assert report.answer_match >= 0.83, report.answer_match
    assert report.false_refusal_rate <= 2 / 60, report.false_refusal_rate
    assert report.refusal_recall >= 10 / 30, report.refusal_recall


@pytest.mark.parametrize(
    "question",
    [
        "How much do Halvorsen & Pike charge for a drone survey?",
        "What is Halvorsen & Pike's day rate for a structural survey?",
        "What was the cause of Halvorsen & Pike's server room outage?",
        "What is the phone number of Halvorsen & Pike's Bristol office?",
        "What's the hotel limit in London for H&P staff?",
        "Which MFA app does IT want us to use?",
        "What does the IT security policy say about USB sticks?",
        "How long can I work from home in Spain?",
    ],
)
def test_naming_the_organisation_itself_is_no_near_miss(
    assistant: Assistant, question: str
) -> None:
    """Seven of the ten sample documents name the firm; the price list, the incident
    report and the office list do not. Before, a name any other document says but the
    top passage's document does not was a near miss, and these were refused; so were
    "H&P" (its letters looked for as names) and "IT" (a stop word, so never found), and
    "Spain", which no document names though the handbook has a rule for working abroad."""
    answer = assistant.ask(question, answer_mode="extractive")
    assert not answer.refused, question


@pytest.mark.parametrize(
    "question",
    [
        "How many bicycle spaces are there in Bristol?",
        "How much is the employee recommendation bonus?",
        "How many days of vacation leave do full-time staff get?",
        "What was the chiller compressor replacement cost?",
        "How many days of annaul leave do I get?",
        "Why didn't the second aircon unit take over?",
    ],
)
def test_a_kind_said_in_other_words_is_answered(assistant: Assistant, question: str) -> None:
    """No document says "bicycle", "recommendation", "vacation", "chiller", "annaul" or
    "aircon"; what they say instead ("bike spaces", "referral bonus", "annual leave",
    "replacement compressor", "CRAC unit") is the kind asked, said in other words."""
    answer = assistant.ask(question, answer_mode="extractive")
    assert not answer.refused, question


def test_a_follow_up_asks_about_its_own_kind(assistant: Assistant) -> None:
    """After "compassionate leave" is refused, "and annual leave?" is folded into it for
    the search; the kind it asks about is its own (it was refused, found in a review)."""
    earlier = "How many days of compassionate leave do we get?"
    assert assistant.ask(earlier, answer_mode="extractive").refused
    answer = assistant.ask("And annual leave?", history=[earlier], answer_mode="extractive")
    assert not answer.refused and "25 days" in answer.text, answer.text


@pytest.mark.parametrize("mode", ["extractive", "generative", "auto"])
@pytest.mark.parametrize(
    "question",
    [
        "what's the phone number for the Manchester office?",
        "How many days of compassionate leave do we get?",
    ],
)
def test_an_answer_about_another_thing_is_refused_in_every_mode(
    assistant: Assistant, question: str, mode: str
) -> None:
    """The office list has no Manchester row, and a board email about the new office
    ranks first; the handbook names annual, parental and unpaid leave, and no
    compassionate leave. Whatever the mode, no model runs and nothing is quoted (both
    were answered before: a Leeds phone number, and 25 days of annual leave)."""
    stream = assistant.ask_stream(question, answer_mode=mode)
    events = list(stream)
    assert not [e for e in events if isinstance(e, Token)], "the model wrote nothing"
    answer = stream.answer
    assert "generation_s" not in answer.timings
    assert answer.refused and answer.text == REFUSAL and answer.citations == []


def test_unanswerable_question_is_refused_without_the_model(assistant: Assistant) -> None:
    stream = assistant.ask_stream("What is the capital of Australia?")
    events = list(stream)
    assert not [e for e in events if isinstance(e, Token)], "the model wrote nothing"
    answer = stream.answer
    assert "first_token_s" not in answer.timings and "generation_s" not in answer.timings
    assert answer.refused and answer.text == REFUSAL and answer.citations == []


CITED = ["q01", "q13", "q14", "q17", "q21"]  # contract, PDF p.2, PDF p.3, CSV, slide 3


def test_answers_cite_the_right_file_and_page(assistant: Assistant, qa: list[dict]) -> None:
    # Greedy decoding: the answers (and so their citations) do not depend on what the
    # shared model generated in earlier tests.
    greedy = Assistant(
        assistant.settings.model_copy(update={"temperature": 0.0}),
        embedder=assistant.embedder,
        generator=assistant.generator,
    )
    by_id = {q["id"]: q for q in qa}
    right = 0
    for qid in CITED:
        q = by_id[qid]
        answer = greedy.ask(q["question"])
        assert not answer.refused, qid
        assert answer.citations, qid
        for c in answer.citations:
            assert 1 <= c.n <= len(answer.passages)
            assert c.quote and c.quote in answer.passages[c.n - 1].text
        first = answer.citations[0]
        right += Path(first.source).name == q["source"] and (
            q["page"] is None or first.page == q["page"]
        )
    # Deterministically 3 of 5 (it passed 4 of 5 before only by sampling luck): q14's
    # extractive answer leads with the page-1 summary of the same report, and for q17 the
    # model answers from the intranet FAQ without the number, which the check lets pass.
    assert right >= len(CITED) - 2, right
