"""The BM25 keyword index: per-reader statistics, scores equal to bm25s's, persistence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rag.retrieval.keyword import KeywordHit, KeywordIndex, tokenize
from rag.text import sentences, words

SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "sample_docs"

Record = tuple[str, str, str, list[str]]


def _sample_sentences() -> list[tuple[str, str]]:
    """(source, sentence) for the plain-text sample documents: a few hundred real sentences."""
    out = []
    for path in sorted(SAMPLE_DOCS.iterdir()):
        if path.suffix in (".txt", ".md", ".html", ".eml"):
            out += [(path.name, s) for s in sentences(path.read_text(encoding="utf-8"))]
    assert len(out) > 250
    return out


def _questions() -> list[str]:
    lines = (SAMPLE_DOCS / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def _public() -> list[Record]:
    """The sample sentences, readable by everyone or by HR, plus the probe an attacker
    uploaded: a chunk only they can read, holding the word they test for."""
    records: list[Record] = [
        (f"c{i:04d}", source, text, ["everyone"] if i % 3 else ["group:hr"])
        for i, (source, text) in enumerate(_sample_sentences())
    ]
    records.append(("probe", "probe.txt", "kestrel kestrel travel", ["user:mallory"]))
    return records


def _with_secret(records: list[Record]) -> list[Record]:
    """``records`` and, in the middle, a chunk only ``group:secret`` may read that holds
    the probe word and common words of the public chunks."""
    secret = ("s1", "secret.txt", "Kestrel: the hotel and travel budget for kestrel.", [])
    middle = len(records) // 2
    return [*records[:middle], (*secret[:3], ["group:secret"]), *records[middle:]]


def _ranked(hits: list[KeywordHit]) -> tuple[list[str], list[float]]:
    return [h.id for h in hits], [h.score for h in hits]


MALLORY = frozenset({"everyone", "user:mallory"})
QUERIES = [
    "kestrel",
    "kestrel travel",
    "kestrel hotel budget",
    "What is the maximum hotel rate in London for travel?",
    "password expense policy kestrel",
]


@pytest.mark.parametrize("query", QUERIES)
def test_scores_do_not_depend_on_chunks_the_reader_cannot_read(query: str) -> None:
    """The oracle of the security review: a secret chunk holding the probe word changes
    neither which chunks a reader gets, nor their order, nor their scores."""
    public = _public()
    alone = KeywordIndex.build(public, 1)
    full = KeywordIndex.build(_with_secret(public), 1)
    for sources in (None, ["probe.txt", "travel_expense_policy.md", "secret.txt"]):
        want_ids, want_scores = _ranked(alone.search(query, 20, sources, MALLORY))
        got_ids, got_scores = _ranked(full.search(query, 20, sources, MALLORY))
        assert want_ids and got_ids == want_ids
        assert got_scores == want_scores  # to the last bit
    # The secret does count for whoever may read it: statistics over every chunk, for
    # everyone, would move the scores above.
    before = {h.id: h.score for h in alone.search(query, 1000)}
    after = {h.id: h.score for h in full.search(query, 1000)}
    assert any(not math.isclose(before[i], after[i]) for i in before)


def test_source_filter_does_not_change_the_statistics() -> None:
    """A source filter only says which chunks may be returned: each one's score is its
    score in the unfiltered search by the same reader."""
    index = KeywordIndex.build(_with_secret(_public()), 1)
    query = "What is the maximum hotel rate in London for travel?"
    everything = {h.id: h.score for h in index.search(query, 1000, readers=MALLORY)}
    filtered = index.search(query, 1000, ["travel_expense_policy.md"], MALLORY)
    assert filtered and all(h.id.startswith("c") for h in filtered)
    assert all(h.score == everything[h.id] for h in filtered)


def test_reader_who_reads_everything_gets_the_unrestricted_scores() -> None:
    index = KeywordIndex.build(_with_secret(_public()), 1)
    everyone = {"everyone", "group:hr", "group:secret", "user:mallory"}
    for query in QUERIES:
        assert index.search(query, 30, readers=everyone) == index.search(query, 30)


def test_unrestricted_scores_equal_bm25s() -> None:
    """With no reader restriction the scores are bm25s's own (Lucene variant, k1=1.5,
    b=0.75), which this index replaced: nothing changes for a reader who reads it all.
    The query's terms are those the index reads in it (a compound as its two words)."""
    import bm25s

    records = [(f"c{i}", s, t) for i, (s, t) in enumerate(_sample_sentences())]
    records.insert(7, ("empty", "x.txt", "..."))  # no terms: bm25s needed a placeholder
    index = KeywordIndex.build(((i, s, t, ["everyone"]) for i, s, t in records), 1)
    model = bm25s.BM25()
    # A chunk's terms are its text's and its file name's words (once each).
    named = [[*tokenize(t), *dict.fromkeys(tokenize(Path(s).stem))] for _, s, t in records]
    model.index([terms or ["\u2205"] for terms in named], show_progress=False)
    for question in [*_questions(), *QUERIES, "travel travel hotel"]:
        read = index.joined(tokenize(question), written=words(question))
        terms = [t for t in read if t in model.vocab_dict]
        want = model.get_scores(terms) if terms else np.zeros(len(records))
        hits = index.search(question, len(records))
        got = dict.fromkeys((i for i, _, _ in records), 0.0) | {h.id: h.score for h in hits}
        assert np.allclose(list(got.values()), want, rtol=1e-5, atol=1e-7), question
        assert len(hits) == int((want > 0).sum())
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_a_file_names_words_find_its_chunks() -> None:
    """A slide deep in ``q3_review.pptx`` never says "Q3 review"; its file name does."""
    index = KeywordIndex.build(
        [
            ("s4", "/d/q3_review.pptx", "Northgate Homes: £186k overdue by 90 days", ["everyone"]),
            ("m1", "/d/board_minutes.docx", "Overdue invoices were discussed.", ["everyone"]),
        ],
        1,
    )
    assert index.search("overdue invoices in the Q3 review", 2)[0].id == "s4"
    assert index.search("overdue invoices", 2)[0].id == "m1"


def test_a_compound_the_documents_write_as_two_words_is_those_two() -> None:
    """ "headcount" asked of a sheet that says "head count", "wifi" of a page that says
    "Wi-Fi": the words are there, and the gate must not refuse as if they were not."""
    text = "office: Bristol; head count: 84. Visitors use the guest Wi-Fi."
    index = KeywordIndex.build([("r1", "/d/offices.csv", text, ["everyone"])], 1)
    assert index.joined(["headcount", "wifi", "bereav"]) == ["head", "count", "wi", "fi", "bereav"]
    assert index.unseen(["headcount", "wifi", "bereavement"]) == ["bereavement"]
    assert index.coverage("what is the headcount?", [text]) == 1.0
    assert index.coverage("is there bereavement leave?", [text]) == 0.0


def test_a_shortened_word_is_the_word_the_documents_write_in_full() -> None:
    """ "defib" asked of an FAQ that says "defibrillator", "info" of a contract about
    confidential information: search finds them and the gate counts them. Only a word
    written as it is ("surge", stem "surg", is no "surgery"), never a number ("2022" is
    no "20" and "22"), and only from chunks the reader may read."""
    faq = "First aid kits and a defibrillator are kept at reception."
    contract = "Confidential information stays confidential for five years."
    records: list[Record] = [
        ("f1", "/d/faq.html", faq, ["everyone"]),
        ("c1", "/d/contract.docx", contract, ["everyone"]),
        ("m1", "/d/clinic.txt", "Surgery lists: 20 patients, 22 beds.", ["everyone"]),
        ("h1", "/d/hr.txt", "Grievances go to the ombudsman.", ["group:hr"]),
    ]
    index = KeywordIndex.build(records, 1)
    assert [h.id for h in index.search("where's the defib?", 4)] == ["f1"]
    assert index.coverage("where's the defib?", [faq]) == 1.0
    assert index.coverage("is their info confidential?", [contract]) == 1.0
    assert index.unseen(["defib", "Defib"]) == []
    assert index.search("a surge in demand", 4) == []
    assert index.joined(tokenize("surgery"), written={"surgery"}) == ["surgeri"]
    assert index.joined(tokenize("surge"), written={"surge"}) == ["surg"]
    assert index.joined(tokenize("defib"), written={"defib"}) == ["defibril"]
    assert index.search("the 2022 figures", 4) == []
    assert index.joined(["ombud"], ["group:hr"]) == ["ombudsman"]
    assert index.joined(["ombud"], ["everyone"]) == ["ombud"]
    assert index.search("the ombud", 4, readers=["everyone"]) == []
    assert [h.id for h in index.search("the ombud", 4, readers=["group:hr"])] == ["h1"]


def test_an_irregular_past_form_is_its_verb() -> None:
    """ "a supplier gave me ..." asks about what the handbook says of gifts they give:
    Snowball strips suffixes, so "gave" was a word no chunk holds and weighed most."""
    text = "Declare any gift a client or supplier may give you worth more than £50."
    index = KeywordIndex.build([("h1", "/d/handbook.docx", text, ["everyone"])], 1)
    assert index.joined(tokenize("a supplier gave me a gift")) == ["supplier", "give", "gift"]
    assert index.coverage("who gave it?", [text]) == 1.0
    assert [h.id for h in index.search("gave", 1)] == ["h1"]
    other = KeywordIndex.build([("o1", "/d/o.txt", "Budgets were set.", ["everyone"])], 1)
    assert other.joined(tokenize("gave")) == ["gave"]  # no "give" there: as it was


def test_a_document_mentions_a_word_a_chunk_of_it_the_reader_may_read_holds() -> None:
    records: list[Record] = [
        ("a1", "/d/acme.docx", "Acme Logistics shall pay", ["everyone"]),
        ("a2", "/d/acme.docx", "a monthly retainer", ["everyone"]),
        ("h1", "/d/tenders.docx", "Severn Water tender", ["group:hr"]),
    ]
    index = KeywordIndex.build(records, 1)
    assert index.mentions("/d/acme.docx", "Acme") and index.mentions("/d/acme.docx", "retainer")
    assert not index.mentions("/d/acme.docx", "Severn")
    assert index.mentions("/d/tenders.docx", "Severn", ["group:hr"])
    assert not index.mentions("/d/tenders.docx", "Severn", ["everyone"])
    assert not index.mentions("/d/other.docx", "Acme")


def test_a_words_spread_is_how_many_of_the_readers_documents_say_it() -> None:
    records: list[Record] = [
        ("a1", "/d/acme.docx", "Halvorsen & Pike and Acme Logistics", ["everyone"]),
        ("a2", "/d/acme.docx", "a monthly retainer", ["everyone"]),
        ("p1", "/d/prices.xlsx", "Drone survey 1150", ["everyone"]),
        ("h1", "/d/handbook.docx", "Halvorsen & Pike staff get 25 days", ["everyone"]),
        ("s1", "/d/secret.docx", "Acme takeover", ["group:board"]),
    ]
    index = KeywordIndex.build(records, 1)
    assert index.spread("Halvorsen", ["everyone"]) == (2, 3)
    assert index.spread("Acme", ["everyone"]) == (1, 3)  # the board's document is not theirs
    assert index.spread("Acme", ["everyone", "group:board"]) == (2, 4)
    assert index.spread("Acme") == (2, 4)
    assert index.spread("Manchester") == (0, 4)


def test_equal_scores_rank_by_id_whatever_the_build_order() -> None:
    """Ties break by chunk id, not by place in the index: a rebuild that meets the chunks
    in another order, or chunks the reader cannot see between them, change nothing."""
    same: list[Record] = [(f"d{i}", "a.txt", "falcon report", ["everyone"]) for i in range(6)]
    other: list[Record] = [("x", "a.txt", "canteen menu", ["everyone"])]
    hidden: list[Record] = [(f"a{i}", "h.txt", "falcon falcon", ["group:x"]) for i in range(3)]
    orders = [other + same, same[::-1] + other, same[4:] + hidden + same[:4] + other]
    for records in orders:
        index = KeywordIndex.build(records, 1)
        for sources in (None, ["a.txt"]):
            hits = index.search("falcon", 3, sources, {"everyone"})
            assert [h.id for h in hits] == ["d0", "d1", "d2"]


def test_term_weights_count_only_what_the_reader_may_read() -> None:
    """The IDF the extractive answer weighs a question's words by: a reader's equals that
    of an index holding only what they may read; without readers, that of every chunk."""
    public = _public()
    alone = KeywordIndex.build(public, 1)
    full = KeywordIndex.build(_with_secret(public), 1)
    terms = [*tokenize("kestrel hotel budget travel"), "neverseen"]
    assert full.idf(terms, MALLORY) == alone.idf(terms, MALLORY)
    assert full.idf(terms) != alone.idf(terms)
    n = len(public) + 1
    assert full.idf(["neverseen"]) == {"neverseen": math.log(1 + (n + 0.5) / 0.5)}


def test_each_reader_set_keeps_its_own_statistics() -> None:
    """Statistics are remembered per reader set: asking as one reader, then another, then
    the first again, gives each what a fresh index gives them."""
    records = _with_secret(_public())
    index = KeywordIndex.build(records, 1)
    readers = [MALLORY, frozenset({"group:secret"}), None, frozenset({"group:hr"}), MALLORY]
    for who in readers:
        fresh = KeywordIndex.build(records, 1)
        for query in QUERIES:
            assert index.search(query, 20, None, who) == fresh.search(query, 20, None, who)


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    index = KeywordIndex.build(_with_secret(_public()), 7)
    index.save(tmp_path)
    loaded = KeywordIndex.load(tmp_path)
    assert loaded is not None and KeywordIndex.saved_generation(tmp_path) == 7
    assert loaded.generation == 7 and loaded.ids == index.ids and loaded.access == index.access
    assert list(loaded.sources) == list(index.sources)
    for query in QUERIES:
        for readers in (None, MALLORY, frozenset({"group:secret"})):
            assert loaded.search(query, 10, None, readers) == index.search(query, 10, None, readers)
            texts = ["hotel travel"]
            assert loaded.coverage(query, texts, readers) == index.coverage(query, texts, readers)


def test_empty_index_round_trips(tmp_path: Path) -> None:
    KeywordIndex.build([], 2).save(tmp_path)
    loaded = KeywordIndex.load(tmp_path)
    assert loaded is not None and loaded.ids == [] and loaded.search("anything", 5) == []


def test_index_in_the_old_bm25s_format_loads_as_none(tmp_path: Path) -> None:
    """What the bm25s-based index saved: the collection rebuilds it, at the next ingest
    (its generation counts as unknown) or at the next search."""
    import bm25s

    target = tmp_path / "g5-123"
    target.mkdir()
    model = bm25s.BM25()
    model.index([tokenize("alpha beta"), tokenize("gamma")], show_progress=False)
    model.save(str(target / "bm25"))
    meta = {"generation": 5, "ids": ["a", "b"], "sources": ["a.txt", "b.txt"], "access": []}
    (target / "ids.json").write_text(json.dumps(meta))
    (tmp_path / "CURRENT").write_text(target.name)
    assert KeywordIndex.load(tmp_path) is None
    assert KeywordIndex.saved_generation(tmp_path) is None


def test_damaged_index_loads_as_none(tmp_path: Path) -> None:
    KeywordIndex.build([("a", "a.txt", "alpha", ["everyone"])], 3).save(tmp_path)
    (counts,) = tmp_path.glob("g3-*/counts.npz")
    counts.write_bytes(b"not a zip file")
    assert KeywordIndex.load(tmp_path) is None


def test_equal_scores_rank_alike_wherever_the_corpus_lies() -> None:
    """Two files saying the same thing tie; they come in the same order from a copy of
    the corpus in another folder, though their chunk ids (which hash the path) sort the
    other way there."""
    import hashlib

    from rag.index.indexer import chunk_id

    def order(folder: str) -> list[str]:
        records = [
            (chunk_id(f"{folder}/{name}", "same", 0), f"{folder}/{name}", "Kestrel budget.", ())
            for name in ("a.txt", "b.txt")
        ]
        index = KeywordIndex.build(records, 1)
        by_id = {r[0]: r[1] for r in records}
        return [by_id[h.id].rsplit("/", 1)[1] for h in index.search("kestrel", 2)]

    def sha(folder: str, name: str) -> str:
        return hashlib.sha1(f"{folder}/{name}".encode()).hexdigest()

    first = "/srv/docs"
    flipped = next(  # a folder where the ids sort the other way round
        f"/srv/docs{n}"
        for n in range(1000)
        if (sha(f"/srv/docs{n}", "a.txt") < sha(f"/srv/docs{n}", "b.txt"))
        != (sha(first, "a.txt") < sha(first, "b.txt"))
    )
    assert order(first) == order(flipped) == ["a.txt", "b.txt"]
