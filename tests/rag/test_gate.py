"""The relevance gate's arithmetic, on a fixed vocabulary (the real collection's numbers
are measured in tests/integration/test_quality.py)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import count

import numpy as np
import pytest

from rag.answer.gate import (
    DOCUMENT_MISS,
    EVERYWHERE,
    EVERYWHERE_LEAST,
    IDENTIFIER_MISS,
    KIND_ALIKE,
    NAME_MISS,
    NEAR_MISS,
    SENTENCE,
    another_kind,
    off_subject,
    relevance,
    specific_terms,
)
from rag.retrieval.hybrid import Passage
from rag.retrieval.keyword import Vocabulary
from rag.retrieval.store import Record


def _vocabulary(
    known: set[str], coverage: float = 0.6, documents: dict[str, set[str]] | None = None
) -> Vocabulary:
    """``documents``: the words each source mentions (default: all it is asked; then each
    word is in a tenth of the documents)."""

    def unseen(terms: Sequence[str]) -> list[str]:
        return [t for t in terms if t.lower() not in known]

    def mentions(source: str, word: str) -> bool:
        return documents is None or word.lower() in documents.get(source, set())

    def spread(word: str) -> tuple[int, int]:
        if documents is None:
            return 1, 10
        return sum(word.lower() in said for said in documents.values()), len(documents)

    return Vocabulary(
        coverage=lambda q, t: coverage,
        unseen=unseen,
        weights=lambda t, w: {},
        mentions=mentions,
        spread=spread,
    )


def _passage(text: str, similarity: float = 0.1, source: str = "a.txt") -> Passage:
    record = Record("c1", text, {"source": source})
    return Passage(record, score=1.0, similarity=similarity)


class _Embedder:
    """Questions point one way; a sentence's cosine to them is the number it states."""

    name = "fake-gate"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for text in texts:
            if text.endswith("?"):
                out.append([1.0, 0.0])
            else:
                cos = float(text.split()[-1].rstrip("."))
                out.append([cos, (1 - cos**2) ** 0.5])
        return np.array(out)


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("What should innodb_buffer_pool_size be on 64 GB?", ["innodb_buffer_pool_size", "GB"]),
        ("How do I set up pgBackRest with an S3 repository?", ["pgBackRest", "S3"]),
        ("Can I stay in a hotel in Paris? And in Lyon?", ["Paris", "Lyon"]),
        ("What is the notice period? I am a senior engineer.", []),
        ("Who signs off a claim over five grand", []),
        ("Which MFA app does IT want us to use?", ["MFA"]),
        ("What's the hotel limit in London for H&P staff?", ["London"]),
    ],
)
def test_specific_terms_are_names_and_identifiers(question: str, terms: list[str]) -> None:
    assert specific_terms(question) == terms


def test_relevance_is_the_best_sentence_and_coverage_less_a_near_miss() -> None:
    # The passage's own similarity (0.1) is not used: its best sentence is (0.7).
    passages = [_passage("Patroni: a line close to 0.2. Another at 0.7.")]
    question = "How do I configure Patroni for failover?"
    embedder = _Embedder()
    known = relevance(question, passages, _vocabulary({"patroni"}), embedder)
    assert known == pytest.approx(SENTENCE * 0.7 + (1 - SENTENCE) * 0.6)
    unknown = relevance(question, passages, _vocabulary(set()), embedder)
    assert unknown == pytest.approx(known - NEAR_MISS)
    # A question naming nothing is scored on similarity and coverage alone.
    plain = "How do I configure failover?"
    assert relevance(plain, passages, _vocabulary(set()), embedder) == pytest.approx(known)
    assert relevance(question, [], _vocabulary(set()), embedder) == 0.0


def test_an_acronym_the_passages_write_in_full_is_no_near_miss() -> None:
    """ "ICO" is in no chunk, but the top passage says "Information Commissioner's
    Office": the question is not about something the documents never mention."""
    embedder = _Embedder()
    question = "Did we report the incident to the ICO?"
    full = [_passage("It was not reportable to the Information Commissioner's Office 0.7.")]
    other = [_passage("It was reported to the service desk at 08:10 0.7.")]
    spelled = relevance(question, full, _vocabulary(set()), embedder)
    missing = relevance(question, other, _vocabulary(set()), embedder)
    assert spelled == pytest.approx(SENTENCE * 0.7 + (1 - SENTENCE) * 0.6)
    assert missing == pytest.approx(spelled - NEAR_MISS)


def test_an_identifier_none_of_the_top_passages_holds_is_a_near_miss() -> None:
    """Every part of "wait_timeout" is a word the documents use, so the vocabulary knows
    them all; but no passage retrieved holds the identifier itself: it is another
    product's setting. One a passage does hold ("statement_timeout") is no miss."""
    embedder = _Embedder()
    passages = [_passage("statement_timeout aborts any statement that takes longer 0.7.")]
    known = _vocabulary({"wait_timeout", "statement_timeout"})  # every part is known
    ours = relevance("What does statement_timeout do?", passages, known, embedder)
    theirs = relevance("What does wait_timeout do?", passages, known, embedder)
    assert ours == pytest.approx(SENTENCE * 0.7 + (1 - SENTENCE) * 0.6)
    assert theirs == pytest.approx(ours - IDENTIFIER_MISS)
    # A place name with a full stop is no identifier: "U.K" is asked of the text as a name
    uk = relevance("What is the U.K. hotel limit?", passages, _vocabulary({"u.k"}), embedder)
    assert uk == pytest.approx(ours - NAME_MISS)
    held = [_passage("Hotels in the U.K. cost less than statement_timeout 0.7.")]
    assert relevance("What is the U.K. hotel limit?", held, _vocabulary({"u.k"}), embedder) == (
        pytest.approx(ours)
    )


def test_a_name_the_documents_hold_but_no_top_passage_does_is_a_near_miss() -> None:
    """ "February" is a word of the collection, but no passage retrieved for "the
    February outage" holds it: the documents' outage was in March. A name the top
    passages hold is no miss; one the collection never holds is the milder near miss
    (the documents may cover it in general words: "outside the UK" for "Paris")."""
    embedder = _Embedder()
    passages = [_passage("The March outage cost £18,400 in all 0.7.")]
    known = _vocabulary({"february", "march"})
    held = relevance("What did the March outage cost?", passages, known, embedder)
    assert held == pytest.approx(SENTENCE * 0.7 + (1 - SENTENCE) * 0.6)
    other = relevance("What did the February outage cost?", passages, known, embedder)
    assert other < held and other == pytest.approx(held - NAME_MISS)
    never = relevance(
        "What did the February outage cost?", passages, _vocabulary({"march"}), embedder
    )
    assert never == pytest.approx(held - NEAR_MISS)
    # A rule for places not listed covers a place no document names.
    abroad = [_passage("Hotels cost up to 160 0.7."), _passage("Work abroad needs approval 0.2.")]
    spain = relevance("Can I work in Spain?", abroad, _vocabulary(set()), embedder)
    assert spain == pytest.approx(held)


def test_a_name_the_top_passages_document_never_mentions_is_a_near_miss() -> None:
    """ "the Severn Water contract": the top passage is the Acme agreement's retainer
    clause, and Severn Water is named only in a slide deck further down; the answer would
    be Acme's retainer. A name of two words is mentioned when either is ("Acme
    Logistics": the agreement says "Acme"), and a rule for the rest ("Rest of the UK")
    covers places it does not list."""
    embedder = _Embedder()
    retainer = _passage("Acme Logistics pays a monthly retainer of 18,500 0.7.", source="acme")
    deck = _passage("Severn Water re-tenders; Manchester opens 0.2.", source="deck")
    documents = {"acme": {"acme"}, "deck": {"severn", "water", "acme", "manchester"}}
    known = _vocabulary({"severn", "water", "acme", "logistics", "manchester"}, 0.6, documents)
    acme = relevance("What is the Acme Logistics retainer?", [retainer, deck], known, embedder)
    assert acme == pytest.approx(SENTENCE * 0.7 + (1 - SENTENCE) * 0.6)
    severn = relevance("What is the Severn Water retainer?", [retainer, deck], known, embedder)
    assert severn == pytest.approx(acme - DOCUMENT_MISS)
    hotels = _passage("Location: Rest of the UK; Maximum per night: 110 0.7.", source="acme")
    rest = relevance("Hotel limit in Manchester?", [hotels, deck], known, embedder)
    listed = relevance("Hotel limit in Manchester?", [retainer, deck], known, embedder)
    assert rest == pytest.approx(acme) and listed == pytest.approx(acme - DOCUMENT_MISS)


def test_what_an_answer_quotes_must_come_from_a_document_about_the_name_asked() -> None:
    """ "the phone number for the Manchester office": a board email mentioning the new
    office ranks first, so the gate lets it through, but the sentence an answer would
    quote is the Leeds row of an office list that never mentions Manchester."""
    offices = _passage("office: Leeds; phone: 0113 496 0200", source="offices.csv")
    email = _passage("Decision: the Manchester office opens in 2027.", source="board.eml")
    documents = {"offices.csv": {"leeds"}, "board.eml": {"manchester", "leeds"}}
    known = _vocabulary({"manchester", "leeds"}, 0.6, documents)
    question = "What's the phone number for the Manchester office?"
    assert off_subject(question, [offices], known)
    assert not off_subject(question, [offices, email], known)  # one quoted document says it
    assert not off_subject("What's the phone number for the Leeds office?", [offices], known)
    assert not off_subject(question, [], known)
    rest = _passage("Location: Rest of the UK; phone: 0800 000", source="offices.csv")
    assert not off_subject(question, [rest], known)
    # Never mentioned anywhere: the gate's NEAR_MISS, not this.
    assert not off_subject("What's the phone number for the Dundee office?", [offices], known)


def test_a_name_most_documents_say_is_no_near_miss() -> None:
    """The organisation's own name: the price list never says it, most documents do, so
    a question naming it is about the collection, not about something the list lacks."""
    embedder = _Embedder()
    prices = _passage("Service: Drone survey; Price GBP: 1150 0.7.", source="prices")
    documents = {
        "prices": {"drone"},
        "handbook": {"halvorsen", "pike"},
        "faq": {"halvorsen", "pike"},
        "deck": {"halvorsen", "pike", "severn"},
    }
    assert EVERYWHERE < 3 / 4 and EVERYWHERE_LEAST <= 3
    known = _vocabulary({"halvorsen", "pike", "severn", "drone"}, 0.6, documents)
    plain = relevance("What do we charge for a drone survey?", [prices], known, embedder)
    firm = relevance(
        "What do Halvorsen & Pike charge for a drone survey?", [prices], known, embedder
    )
    assert firm == pytest.approx(plain)
    assert not off_subject("What do Halvorsen & Pike charge for drones?", [prices], known)
    rare = relevance("What do we charge Severn for a drone survey?", [prices], known, embedder)
    assert rare < plain
    assert off_subject("What do we charge Severn for drones?", [prices], known)


def test_an_answer_about_no_other_named_thing_is_not_off_subject() -> None:
    """ "How can I make a UUID primary key?" quoted the manual's page on constraints,
    which never says UUID: the sentence is about primary keys in general, not about
    another thing of the kind asked (the Leeds office for the Manchester one)."""
    constraints = _passage("A primary key is declared once per table.", source="ddl")
    documents = {"ddl": {"key"}, "uuid": {"uuid"}, "other": {"table"}}
    known = _vocabulary({"uuid", "leeds"}, 0.6, documents)
    question = "How can I make a UUID primary key?"
    assert off_subject(question, [constraints], known)  # the top passage's check
    general = "There are also ways in which the system uses a primary key."
    assert not off_subject(question, [constraints], known, general)
    leeds = "office: Leeds; address: 18 Wellington Street, Leeds LS1 4DL"
    assert off_subject(question, [constraints], known, leeds)


def test_a_name_the_passages_write_longer_is_held() -> None:
    """ "Postgres" (stem "postgr", the server program's name on a few pages) in a
    question about the manual's "PostgreSQL" pages is no name they miss."""
    embedder = _Embedder()
    page = _passage("PostgreSQL runs autovacuum by default 0.7.", source="vacuum")
    documents = {"vacuum": {"postgresql"}, "start": {"postgres"}, "a": set(), "b": set()}
    known = _vocabulary({"postgres", "postgresql"}, 0.6, documents)
    plain = relevance("How do I tune autovacuum?", [page], known, embedder)
    assert relevance("How do I tune autovacuum in Postgres?", [page], known, embedder) == plain
    assert relevance("How do I tune autovacuum in Oracle?", [page], known, embedder) < plain


def test_in_a_small_collection_a_name_most_documents_say_is_still_a_name() -> None:
    """Two documents of three saying "Severn" is no sign that it is the collection's own
    name: the price list that does not say it still misses it."""
    embedder = _Embedder()
    prices = _passage("Service: Drone survey; Price GBP: 1150 0.7.", source="prices")
    documents = {"prices": {"drone"}, "deck": {"severn"}, "bid": {"severn"}}
    known = _vocabulary({"severn", "drone"}, 0.6, documents)
    plain = relevance("What do we charge for a drone survey?", [prices], known, embedder)
    severn = relevance("What do we charge Severn for a drone survey?", [prices], known, embedder)
    assert severn == pytest.approx(plain - NAME_MISS)


def test_a_short_name_is_not_read_as_the_start_of_a_longer_word() -> None:
    """ "Go" starts "good" and "AI" starts "air": only a name of four letters or more is
    held by a longer word ("Postgres": "PostgreSQL")."""
    embedder = _Embedder()
    page = _passage("A good client library is libpq 0.7.", source="libpq")
    documents = {"libpq": {"libpq"}, "go": {"go"}, "a": set(), "b": set()}
    known = _vocabulary({"go", "libpq"}, 0.6, documents)
    plain = relevance("Is there a client library?", [page], known, embedder)
    assert relevance("Is there a Go client library?", [page], known, embedder) < plain


_KINDS_MADE = count()


class _Kinds:
    """The asked kind points one way; each phrase of ``alike`` is that cosine from it."""

    def __init__(self, alike: dict[str, float]) -> None:
        self.alike = alike
        # embed_texts caches by name and text: a name of its own for each (an id() can
        # be reused once the object before is gone, and its vectors with it)
        self.name = f"fake-kinds-{next(_KINDS_MADE)}"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        cosines = [self.alike.get(text, 1.0) for text in texts]
        return np.array([[cos, (1 - cos**2) ** 0.5] for cos in cosines])


def test_an_answer_about_another_kind_of_the_thing_asked_is_refused() -> None:
    """The price list has no asbestos survey: its structural survey is another kind of
    survey, and "asbestos" is in no document. A kind the documents name is for the
    search and the gate to find, not this check."""
    question = "What do we charge for an asbestos survey?"
    said = "Service code: SE-101; Service: Structural survey; Unit: per day; Price GBP: 950"
    embedder = _Kinds({"Structural survey": 0.30})
    assert another_kind(question, said, _vocabulary({"survey", "structural"}), embedder)
    seen = _vocabulary({"survey", "structural", "asbestos"})
    assert not another_kind(question, said, seen, embedder)
    unqualified = "Every survey is charged per day."
    assert not another_kind(question, unqualified, _vocabulary({"survey"}), embedder)


@pytest.mark.parametrize(("cosine", "refused"), [(KIND_ALIKE - 0.01, True), (KIND_ALIKE, False)])
def test_a_kind_said_in_other_words_is_the_kind_asked(cosine: float, refused: bool) -> None:
    """ "bicycle spaces" for the FAQ's "bike spaces" (0.93 alike), "vacation leave" for
    "annual leave" (0.66): the most alike of the kinds quoted, in one word or up to
    three, decides."""
    question = "How many days of vacation leave do I get?"
    said = "You get 25 days of paid annual leave; unused annual leave may be carried over."
    embedder = _Kinds(
        {"annual leave": cosine - 0.05, "paid annual leave": cosine, "unused annual leave": 0.2}
    )
    known = _vocabulary({"leave", "annual", "paid", "unused"})
    assert another_kind(question, said, known, embedder) is refused


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("Why didn't the second aircon unit take over?", "A compressor in CRAC unit 2 failed."),
        ("Do I need a doctor's note when I am off sick?", "You need a fit note from your GP."),
        ("How many days of annaul leave do I get?", "You get 25 days of annual leave."),
        ("Do I declare a bottle of whisky worth £80?", "Hospitality worth more than £50."),
        ("How many days of jury service do I get?", "Leave: 25 days. Service: continuous."),
    ],
)
def test_a_name_a_possessive_a_typo_or_a_preposition_is_no_other_kind(
    question: str, said: str
) -> None:
    """ "CRAC unit" names a unit (what it stands for is unknown here), "a doctor's
    note" says whose note, not what kind, "annaul" is "annual" mistyped, "worth" is
    not a noun, and a kind written across punctuation is not a kind of the noun."""
    embedder = _Kinds({})
    known = _vocabulary({"unit", "crac", "note", "fit", "leave", "annual", "worth", "service"})
    embedder.alike = {
        p: 0.1 for p in ["CRAC unit", "fit note", "annual leave", "continuous service"]
    }
    embedder.alike |= {"Hospitality worth": 0.1, "days. Service": 0.1}
    assert not another_kind(question, said, known, embedder)


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("Is MFA required for a webmail account?", "MFA is mandatory for every account."),
        ("Does MFA apply to my Slack account?", "MFA applies to your email account."),
        ("What is the cyclists' bike storage like?", "Both offices have secure bike storage."),
        ("When is lunch served in Bristol?", "The canteen serves hot food from 11:30."),
        ("How much is the new-joiner home office allowance?", "A one-off home office allowance."),
    ],
)
def test_a_determiner_a_name_asked_a_verb_or_a_longer_noun_is_no_other_kind(
    question: str, said: str
) -> None:
    """ "every account" is any account; "Slack" is a name the gate's name rules judge;
    "cyclists'" says whose; "serves" is a verb, not the noun "served" might be; and
    "home" goes on to "office allowance" in both, so the kinds compared are "new-joiner
    home office allowance" and "one-off home office allowance" (found in a review)."""
    embedder = _Kinds({})
    embedder.alike = {p: 0.1 for p in ["every account", "email account", "secure bike"]}
    embedder.alike |= {"canteen serves": 0.1, "one-off home": 0.1}
    embedder.alike |= {"secure bike storage": 0.1, "one-off home office allowance": 0.9}
    known = _vocabulary({"account", "email", "bike", "storage", "secure", "served", "home"})
    assert not another_kind(question, said, known, embedder)
