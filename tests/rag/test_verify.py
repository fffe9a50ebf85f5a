"""Sentence checks on hand-written cases, with the real bundled embedder."""

from __future__ import annotations

import pytest

from rag.answer.extract import extractive_answer
from rag.answer.verify import key_facts, passage_spans, split_answer, verify
from rag.config import Settings
from rag.models import Embedder, open_embedder
from rag.retrieval.hybrid import Passage
from rag.retrieval.store import Record

TRAVEL = (
    "2. Daily allowances (per diem)\n"
    "A per diem covers meals and incidental costs on trips that include an overnight stay.\n"
    "- UK trips: £45 per day.\n"
    "- Trips abroad: £70 per day.\n"
    "Business class is allowed only on flights longer than 6 hours."
)
OUTAGE = (
    "On 14 March 2026 the server room in Bristol lost power for 3 hours. "
    "The outage affected 212 users. Email and the file server were unavailable."
)
LEAVE = "You may carry over a maximum of 5 days of unused annual leave into the next year."


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return open_embedder(Settings())  # what the app runs


def passages(*texts: str) -> list[Passage]:
    return [
        Passage(Record(f"id{i}", t, {"source": f"/docs/doc{i}.txt", "page": i}), 1.0, 0.5)
        for i, t in enumerate(texts, start=1)
    ]


def test_split_answer_and_passage_spans() -> None:
    assert split_answer("It is £45 per day [1]. Abroad it is £70 [2].\n- Receipts needed. [1]") == [
        ("It is £45 per day.", [1]),
        ("Abroad it is £70.", [2]),
        ("Receipts needed.", [1]),
    ]
    spans = passage_spans(OUTAGE)
    assert [OUTAGE[s:e] for s, e in spans] == [
        "On 14 March 2026 the server room in Bristol lost power for 3 hours.",
        "The outage affected 212 users.",
        "Email and the file server were unavailable.",
    ]
    assert key_facts("It cost £2,500,000 on 1 March.")[0] == {"2500000", "1"}


def test_supported_sentence_points_at_its_exact_span(embedder: Embedder) -> None:
    ps = passages(TRAVEL, OUTAGE)
    check = verify("The outage affected 212 users [2].", ps, embedder).sentences[0]
    assert check.support == "supported" and check.citations == [2] and not check.corrected
    assert check.span is not None
    assert OUTAGE[check.span.start : check.span.end] == check.span.text
    assert "212 users" in check.span.text


def test_a_number_off_by_one_digit_is_unsupported(embedder: Embedder) -> None:
    ps = passages(TRAVEL, OUTAGE)
    assert verify("The outage affected 213 users [2].", ps, embedder).sentences[0].support == (
        "unsupported"
    )
    # £45 is in the passage, but the statement about trips abroad says £70.
    check = verify("The per diem for trips abroad is £45 [1].", ps, embedder).sentences[0]
    assert check.support == "unsupported"


def test_negation_is_not_support(embedder: Embedder) -> None:
    ps = passages(TRAVEL)
    check = verify("Business class is never allowed [1].", ps, embedder).sentences[0]
    assert check.support != "supported"


def test_wrong_citation_is_corrected(embedder: Embedder) -> None:
    ps = passages(TRAVEL, OUTAGE, LEAVE)
    check = verify("You can carry over at most 5 days of annual leave [1].", ps, embedder)
    s = check.sentences[0]
    assert s.support == "supported" and s.corrected
    assert s.citations == [3] and s.cited_before == [1]
    assert check.text() == "You can carry over at most 5 days of annual leave. [3]"


def test_unrelated_claim_is_unsupported(embedder: Embedder) -> None:
    ps = passages(TRAVEL, OUTAGE)
    check = verify("The company was founded by a Dutch sailor [1].", ps, embedder)
    assert check.sentences[0].support == "unsupported"
    assert check.text(strict=True) == ""


def test_extractive_answer_quotes_the_documents(embedder: Embedder) -> None:
    ps = passages(TRAVEL, OUTAGE)
    extracted = extractive_answer("How many users did the outage affect?", ps, embedder)
    assert extracted.sentences
    assert any("212 users" in s.text for s in extracted.sentences)
    for s in extracted.sentences:
        assert s.span is not None and ps[s.span.n - 1].text[s.span.start : s.span.end] == s.text
        assert s.citations == [s.span.n]


def test_contradicting_documents_each_claim_tied_to_its_own_source(
    embedder: Embedder,
) -> None:
    policy = "Trips abroad: £70 per day. UK trips: £45 per day."
    memo = "Old memo from 2024: the per diem for trips abroad is £60 per day."
    ps = passages(policy, memo)
    sixty = verify("The per diem for trips abroad is £60 per day [1].", ps, embedder).sentences[0]
    assert sixty.support == "supported" and sixty.citations == [2] and sixty.corrected
    seventy = verify("Trips abroad get £70 per day [2].", ps, embedder).sentences[0]
    assert seventy.support == "supported" and seventy.citations == [1] and seventy.corrected
    neither = verify("The per diem for trips abroad is £65 per day [1].", ps, embedder)
    assert neither.sentences[0].support == "unsupported"


def test_topical_but_new_claim_is_not_supported(embedder: Embedder) -> None:
    memo = (
        "From 1 December the Leeds office car park closes at 19:30 on weekdays. "
        "Staff working late must move their cars to the Wellington Street garage."
    )
    answer = (
        "The Leeds office car park closes at 19:30 on weekdays [1]. "
        "The car park is closed on weekends, but it can still be reached in the evening [1]."
    )
    first, second = verify(answer, passages(memo), embedder).sentences
    assert first.support == "supported"
    assert second.support != "supported", "similar topic, new facts"


def _paged(*pages: tuple[int, str], heading: str | None = None) -> list[Passage]:
    return [
        Passage(
            Record(f"p{n}", text, {"source": "/docs/report.pdf", "page": n, "heading": heading}),
            1.0,
            0.5,
        )
        for n, text in pages
    ]


def test_a_sentence_that_says_nothing_is_never_supported(embedder: Embedder) -> None:
    docs = _paged((1, "Section 3 Payment Terms\nInvoices are payable within 30 days of receipt."))
    question = "When are invoices payable?"
    for empty in ("The answer is: [1]", "When are invoices payable? [1]"):
        [check] = verify(empty, docs, embedder, question=question).sentences
        assert check.support != "supported", (empty, check)
    [check] = verify(
        "The answer is: Section 3 Payment Terms [1]",
        docs,
        embedder,
        question="How much is the daily meal allowance?",
    ).sentences
    assert check.support != "supported" and check.reason, check
    [check] = verify(
        "Invoices are payable within 30 days of receipt. [1]", docs, embedder, question=question
    ).sentences
    assert check.support == "supported" and not check.reason


def test_a_true_sentence_beside_the_question_is_not_supported(embedder: Embedder) -> None:
    docs = passages(TRAVEL, LEAVE)
    [check] = verify(
        "Business class is allowed only on flights longer than 6 hours. [1]",
        docs,
        embedder,
        question="How many days of leave can I carry over?",
    ).sentences
    assert check.support == "weak" and check.reason == "does not address the question"


def test_the_citation_moves_to_the_page_that_says_it(embedder: Embedder) -> None:
    """The page-1 summary mentions the cause; page 2 states it: cite page 2."""
    docs = _paged(
        (1, "Summary: the server room overheated on 14 March after a cooling failure."),
        (2, "The root cause was a failed compressor in CRAC unit 2, whose motor bearing seized."),
    )
    claim = "The root cause was a failed compressor in CRAC unit 2. [1]"
    [check] = verify(claim, docs, embedder, question="What was the root cause?").sentences
    assert check.citations == [2] and check.span is not None and check.span.page == 2


def test_a_follow_up_is_answered_not_the_question_before_it(embedder: Embedder) -> None:
    """A follow-up is retrieved together with the question before it; the answer is to
    the follow-up: what it asks for and its own words lead."""
    term = (
        "3.1 This Agreement commences on 1 March 2026 and shall continue for a fixed "
        "initial term of 24 months, ending on 28 February 2028. "
        "3.2 The Parties may extend this Agreement by one further period of 12 months "
        "by mutual written agreement."
    )
    query = "When does the agreement start, and how long is it for? can it be extended?"
    before = extractive_answer(query, passages(term), embedder, max_sentences=1)
    after = extractive_answer(
        query, passages(term), embedder, max_sentences=1, follow_up="can it be extended?"
    )
    assert before.sentences[0].text.startswith("3.1")  # what the query alone picks
    assert after.sentences[0].text.startswith("3.2")


HIRING = (
    "Hiring Plan To March 2027\n"
    "Recruit 12 engineers by 31 March 2027: 7 in Bristol and 5 in Leeds\n"
    "Employee referral bonus £2,000, paid after the new starter's probation\n"
    "Target time to hire: 45 days from job advert to accepted offer"
)
UTILISATION = (
    "Owner: People Team (Sophie Kendrick, HR Director).\n"
    "Geotechnical team at 86% - sustained overload, risk to quality and wellbeing\n"
    "Graduate engineers at 64% - more site exposure needed"
)


@pytest.mark.parametrize(
    ("question", "slide", "first"),
    [
        # Slides' bullets end in no full stop; they state facts all the same.
        ("how much do I get for referring someone who gets hired?", HIRING, "Employee referral"),
        # "Which team ...?" asks for a name; a team's is often a lower-case noun after a
        # capitalised word ("Geotechnical team"), not a person's name with a capital each.
        ("which team is most stretched on utilisation?", UTILISATION, "Geotechnical team"),
    ],
)
def test_the_slide_line_that_answers_comes_first(
    embedder: Embedder, question: str, slide: str, first: str
) -> None:
    extracted = extractive_answer(question, passages(slide), embedder)
    assert extracted.sentences[0].text.startswith(first)


def test_a_title_line_never_answers(embedder: Embedder) -> None:
    """A line in Title Case is a title, even with a number in it."""
    titles = extractive_answer("What is the hiring plan to March 2027?", passages(HIRING), embedder)
    assert titles.sentences and all(not s.text.startswith("Hiring Plan") for s in titles.sentences)


def test_an_amount_written_another_way_is_the_same_number(embedder: Embedder) -> None:
    """A model writes "£2.5 million" for the contract's "£2,500,000": supported; a
    different amount written the same way is not."""
    cap = "The Consultant's total liability under this Agreement is capped at £2,500,000."
    ps = passages(cap)
    same = verify("The Consultant's total liability is capped at £2.5 million [1].", ps, embedder)
    other = verify("The Consultant's total liability is capped at £3.5 million [1].", ps, embedder)
    assert same.sentences[0].support == "supported"
    assert other.sentences[0].support == "unsupported"


FAQ = (
    "Frequently asked questions\n"
    "How do visitors get onto the guest Wi-Fi?\n"
    "Visitors use the HP-Guest network. Ask reception for a guest voucher: each voucher "
    "code is valid for 24 hours and for up to three devices.\n\n"
    "How do I get a parking permit?\n"
    "Apply using form FAC-07 on the Facilities page. Permits last twelve months."
)


def test_an_faq_is_answered_by_the_text_under_its_question(embedder: Embedder) -> None:
    """The intranet's own "How do visitors get onto the guest Wi-Fi?" is the question
    asked in other words: its answer is what is written under it, in its order (its
    first line alone, "Visitors use the HP-Guest network.", left out the voucher)."""
    extracted = extractive_answer(
        "How can a visitor get onto our guest Wi-Fi?", passages(FAQ), embedder
    )
    assert [s.text[:20] for s in extracted.sentences] == [
        "Visitors use the HP-",
        "Ask reception for a ",
    ]


INCIDENT = (
    "On 14 March 2026 the air-conditioning that cools the server room in the Leeds office "
    "failed. The root cause of the incident was a failed compressor in CRAC unit 2: the "
    "compressor's motor bearing seized at about 06:40. The engineer's inspection on 16 March "
    "confirmed the seized bearing."
)


def test_a_follow_up_is_answered_by_the_sentence_holding_its_own_words(
    embedder: Embedder,
) -> None:
    """ "when was that confirmed?" after a question about the root cause asks for the date
    of the confirmation, not the date of the incident that opens the report."""
    query = "What was the root cause of the Leeds cooling incident? when was that confirmed?"
    extracted = extractive_answer(
        query, passages(INCIDENT), embedder, follow_up="when was that confirmed?"
    )
    assert extracted.sentences[0].text.startswith("The engineer's inspection on 16 March")


COSTS = (
    "Item: Portable cooling hire (9 days, two units); Cost (GBP): 2,150\n"
    "Item: Replacement compressor, parts and labour; Cost (GBP): 9,800\n"
    "Item: Emergency call-out and weekend overtime; Cost (GBP): 1,350\n"
    "Item: Estimated lost billable time; Cost (GBP): 5,100\n"
    "Item: Estimated total cost; Cost (GBP): 18,400"
)


@pytest.mark.parametrize(
    "question",
    [
        "did the cooling incident cost us more than 15 grand all in?",
        "what did the cooling incident cost altogether?",
    ],
)
def test_a_question_asking_for_a_sum_is_answered_by_the_total(
    embedder: Embedder, question: str
) -> None:
    extracted = extractive_answer(question, passages(COSTS), embedder)
    assert "18,400" in extracted.sentences[0].text


RISKS = (
    "Top client risks\n"
    "Concentration: Acme Logistics now 19% of fee income - single-client dependency\n"
    "Northgate Homes: £186k overdue by more than 90 days; account on credit hold\n\n"
    "Client satisfaction (NPS): 61, up from 54 in Q2\n"
    "The Client shall pay each undisputed invoice within 30 days of the date of receipt."
)


def test_a_list_item_is_read_under_its_heading(embedder: Embedder) -> None:
    """ "Northgate Homes: ..." says nothing of clients; the slide's title, "Top client
    risks", does: a bullet opening with a name under it names a client."""
    record = Record("s4", RISKS, {"source": "/docs/q3_review.pptx", "page": 4})
    record.metadata["heading"] = "Top client risks"
    question = "Which client has seriously overdue invoices flagged as a risk?"
    extracted = extractive_answer(question, [Passage(record, 1.0, 0.5)], embedder)
    assert extracted.sentences[0].text.startswith("Northgate Homes")


OFFICES = (
    "office: Bristol (head office); address: 41 Anchor Road, Bristol BS1 5TT; "
    "phone: 0117 496 0350; head count: 84; facilities manager: Gemma Okafor\n"
    "office: Leeds; address: Floor 2, Wellington Court, 18 Wellington Street, Leeds LS1 4DL; "
    "phone: 0113 496 0720; head count: 41; facilities manager: Ravi Chaudhry"
)
MANCHESTER = (
    "Decision: Manchester office. We will open a third office in Manchester in January. "
    "The initial team will be eight people: five moving from Leeds and three new appointments."
)


def test_a_table_row_the_question_names_by_its_first_cell_answers_it(
    embedder: Embedder,
) -> None:
    """ "the Leeds office" names the row "office: Leeds; ...", and its "head count" is
    the number asked for: the sentence about a team moving from Leeds, though it says
    "people", is about another office."""
    question = "how many people are in the leeds office?"
    extracted = extractive_answer(question, passages(MANCHESTER, OFFICES), embedder)
    assert "head count: 41" in extracted.sentences[0].text


CLAIMS = (
    "6. Claims and receipts\n"
    "Submit claims in ExpenseFlow with an itemised receipt for every item within 30 days "
    "of the date you incurred the expense.\n"
    "Claims submitted more than 90 days after the expense will not be paid.\n"
    "Lost receipts: complete a missing receipt declaration; no more than two per year.\n\n"
    "Location: London; Maximum per night: £160\n"
    "Location: Rest of the UK; Maximum per night: £110"
)


def test_two_values_of_one_rule_are_quoted_together(embedder: Embedder) -> None:
    """Both durations of the claims rule answer "how long have I got": submit within
    30 days, nothing paid after 90. Another row of a table is another thing."""
    ps = passages(CLAIMS)
    claims = extractive_answer("how long have I got to put my expenses in?", ps, embedder)
    assert {s.text[:20] for s in claims.sentences} == {
        "Submit claims in Exp",
        "Claims submitted mor",
    }
    hotel = extractive_answer("hotel limit per night in London?", ps, embedder)
    assert [s.text for s in hotel.sentences] == ["Location: London; Maximum per night: £160"]


INSURANCE = (
    "Total value of claim or booking: Over £5,000; Who approves: Chief Executive\n\n"
    "8.4 The Consultant shall maintain professional indemnity insurance of not less than "
    "£5,000,000 for each claim for the duration of this Agreement."
)


def test_a_yes_no_question_about_a_sum_finds_it_written_another_way(
    embedder: Embedder,
) -> None:
    """ "5 mil" is the contract's "£5,000,000", not the expense table's "£5,000"."""
    question = "is our PI cover on the acme deal at least 5 mil per claim?"
    extracted = extractive_answer(question, passages(INSURANCE), embedder)
    assert extracted.sentences[0].text.startswith("8.4 The Consultant")
