"""Answers without a model, and what the model is shown.

:func:`extractive_answer` answers with the passages' own best sentences, each cited:
it cannot state anything the documents do not. :func:`condense` cuts each passage to
the sentences closest to the question for the prompt. Both rank the passage sentences
by the embeddings :mod:`rag.answer.verify` computes and caches.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from rag.answer.facts import (
    KIND_WORDS,
    asked_each,
    asked_for,
    brackets,
    head_noun,
    is_yes_no,
    negates,
    new_facts,
    spelled_out,
)
from rag.answer.verify import (
    SentenceCheck,
    Span,
    Verification,
    embed_texts,
    key_facts,
    key_terms,
    passage_sentences,
)
from rag.models.base import Embedder
from rag.retrieval.hybrid import Passage
from rag.text import stem, stems, words

__all__ = ["condense", "extractive_answer"]


#: Weights of what makes a sentence the answer (chosen on sample_docs/qa.jsonl, with
#: the classic collections as a guard: see bench/verification.py).
SIMILARITY = 1.0  # cosine similarity to the question
OVERLAP = 0.5  # share of the question's stems it holds, weighed by their rarity
FACT = 0.3  # it states the kind of fact asked for first, with a new value
MORE_FACTS = 0.15  # each further kind asked for that it states
NAMED = 0.15  # it names the kind of fact asked for ("duration" for "how long")
HEAD = 0.15  # it names the thing asked about ("services" for "which services ...")
SUBJECT = 0.15  # a table row whose first cell the question names ("the Leeds office")
RANGE = 0.3  # a range of it holds the question's number (a price tier)
NOVELTY = 0.1  # share of its words the question does not have
RANK = 0.03  # per place its passage stands above the last one
NEGATED = 0.3  # it negates a word of the question ("without an overnight stay")
FOLLOW = 0.3  # share of a follow-up's own words it holds ("when was that confirmed?")
SAME_AMOUNT = 0.3  # it states a yes/no question's sum, however written ("5 mil")
TOTAL = 0.5  # it states a total, and the question asks for one ("all in", "altogether")
FAQ = 0.3  # it answers a question of the passage's own that matches the one asked
#: How close a question written in a passage (an FAQ's "How do visitors get onto the
#: guest Wi-Fi?") must be to the one asked for the text under it to be its answer.
FAQ_MATCH = 0.8
#: A second sentence joins the answer only when it is nearly as good as the first.
SECOND_WITHIN = 0.15
#: ... or, whatever it states, when the two are this close: a near tie is the reader's to
#: settle (on sample_docs/qa.jsonl answer match 0.609 -> 0.641, precision 0.843 -> 0.836).
CLOSE = 0.06


def extractive_answer(
    question: str,
    passages: Sequence[Passage],
    embedder: Embedder,
    max_sentences: int = 2,
    weigh: Weigh | None = None,
    follow_up: str | None = None,
) -> Verification:
    """The fewest sentences (or table rows) of the passages that answer ``question``,
    best first, each cited: nothing is generated, so nothing can be invented.

    A sentence scores by its similarity to the question, the question's words it holds
    (weighed by ``weigh``: each stem's rarity in the collection, so "NPS" counts for more
    than "quarter"), whether it states the kind of fact the question asks for (an amount,
    a duration, a date, a name: :mod:`rag.answer.facts`) with a value the question does
    not already state, words naming that kind, a table row the question names by its
    first cell ("the Leeds office": "office: Leeds; ..."), a range holding the question's
    amount, how much it adds, and its passage's rank; the heading it sits under counts half
    (a slide's bullet is read under the slide's title). A total answers a question
    asking for one ("all in"), the sum a yes/no question names ("5 mil") finds its other
    spelling ("£5,000,000"), and an FAQ's own question that matches the one asked is
    answered by the text under it. Headings, questions and labels are never an answer.
    A second sentence is added only when it is nearly as good and states a kind of fact
    the first lacks or another value of the first's in the same paragraph, or when the
    two are a near tie.

    ``follow_up``: the question as asked when ``question`` folds it into the one before
    ("can it be extended?" after "when does the agreement start?"): what it asks for
    leads, and its similarity counts half.
    """
    started = time.perf_counter()
    spans = passage_sentences(passages)
    singles = [c for c in spans if _is_statement(c, passages)]
    if not singles:
        return Verification([], time.perf_counter() - started)
    asked_texts = [question, follow_up] if follow_up else [question]
    written = [c for c in spans if c.text.rstrip().endswith("?")]
    vectors = embed_texts(
        embedder, asked_texts + [c.text for c in singles] + [c.text for c in written]
    )
    n = len(asked_texts)
    sims = (vectors[n : n + len(singles)] @ vectors[:n].T).mean(axis=1)
    matching = [
        c
        for c, sim in zip(written, vectors[n + len(singles) :] @ vectors[n - 1], strict=True)
        if sim >= FAQ_MATCH
    ]
    faq = _answered_under(matching, spans, singles)
    ask = _Ask.of(question, weigh, follow_up)
    wanted = ask.wanted
    headings = [frozenset(stems(str(p.record.metadata.get("heading") or ""))) for p in passages]
    scored = sorted(
        (
            (
                _score(ask, c, float(sims[k]), len(passages), headings[c.n - 1])
                + (FAQ if k in faq else 0.0),
                k,
            )
            for k, c in enumerate(singles)
        ),
        reverse=True,
    )
    top_score, top = scored[0]
    chosen = [top]
    if top in faq:  # an FAQ's answer is the text under its question, in its order
        chosen += sorted(k for k in faq if faq[k] == faq[top] and k > top)
        chosen = chosen[:max_sentences]
    covered = new_facts(singles[top].text, question)
    for score, k in scored[1:]:
        if len(chosen) >= max_sentences or score < top_score - SECOND_WITHIN:
            break
        if k in chosen:
            continue
        adds = (new_facts(singles[k].text, question) & set(wanted)) - covered
        close = score >= top_score - CLOSE
        same = singles[k].n == singles[top].n
        # another value of the kind asked for, in the same paragraph: "within 30 days"
        # beside "more than 90 days after ... not paid" (the two together are the rule);
        # not another paragraph or table, which is about another thing
        other = (
            bool(wanted)
            and _same_paragraph(singles[top], singles[k], passages)
            and not (_ROW.match(singles[top].text) or _ROW.match(singles[k].text))
            and wanted[0] in new_facts(singles[k].text, question)
        )
        if close or adds or other or (wanted and wanted[0] == "steps" and same):
            chosen.append(k)
            covered |= adds
    checks = [
        SentenceCheck(singles[k].text, "supported", [singles[k].n], singles[k], float(sims[k]))
        for k in chosen
    ]
    return Verification(checks, time.perf_counter() - started)


#: How telling each stem of a question is (its inverse document frequency).
Weigh = Callable[[Sequence[str], Collection[str]], dict[str, float]]


@dataclass(frozen=True, slots=True)
class _Ask:
    """What a question asks, worked out once for all its candidate sentences."""

    text: str
    terms: dict[str, float]
    """Its stems (short ones too: "NPS", "ICO") with their weights."""
    wanted: tuple[str, ...]
    """The kinds of fact it asks for, the first first (:func:`asked_for`)."""
    further: frozenset[str]
    """Kinds a further part of it asks in so many words ("..., and how long?")."""
    head: str | None
    """The stem of the thing it asks about ("servic" for "which services ...")."""
    head_word: str | None
    acronyms: dict[str, str]
    """Its acronyms ("ICO") by their stems."""
    own: dict[str, float]
    """A follow-up's own stems with their weights (empty for a question on its own)."""
    total: bool
    """Whether it asks for a sum ("all in", "in total", "altogether")."""
    amounts: frozenset[str]
    """A yes/no question's sums of money, normalised with their scales ("is our PI cover
    at least 5 mil?": "5000000"): the sentence stating the same sum is about the same
    thing. (Other numbers are often labels or units: "Q3", "every 90 days".)"""

    @classmethod
    def of(cls, question: str, weigh: Weigh | None, follow_up: str | None) -> _Ask:
        found = sorted(set(stems(question)))
        written = set(words(question))
        terms = weigh(found, written) if weigh is not None else dict.fromkeys(found, 1.0)
        wanted = asked_for(question)
        own: dict[str, float] = {}
        if follow_up:  # its own words count twice, what it asks for leads
            own = {t: w for t, w in terms.items() if t in set(stems(follow_up))}
            terms = {t: w * (2.0 if t in own else 1.0) for t, w in terms.items()}
            wanted = () if is_yes_no(follow_up) else asked_for(follow_up) or wanted
        head = head_noun(question)
        return cls(
            question,
            terms,
            wanted,
            frozenset(asked_each(question)[1:]),
            stem([head])[0] if head else None,
            head,
            {stem([a.lower()])[0]: a for a in re.findall(r"\b[A-Z]{2,6}\b", question)},
            own,
            _ASKS_TOTAL.search(question) is not None,
            _money(question) if is_yes_no(follow_up or question) else frozenset(),
        )


def _score(
    ask: _Ask, c: Span, sim: float, n_passages: int, heading: frozenset[str] = frozenset()
) -> float:
    """``heading``: the stems of the heading the sentence is under (a slide's title):
    what it says of the sentence ("Northgate Homes: £186k overdue" under "Top client
    risks" names a client) counts half."""
    question, asked, wanted = ask.text, ask.terms, ask.wanted
    said = set(stems(c.text))
    # an acronym of the question that the sentence writes in full is said too ("ICO":
    # "the Information Commissioner's Office")
    said |= {t for t, a in ask.acronyms.items() if t not in said and spelled_out(a, c.text)}
    total = sum(asked.values()) or 1.0
    overlap = (
        sum(w * (1.0 if t in said else 0.5 if t in heading else 0.0) for t, w in asked.items())
        / total
    )
    novelty = len(said - set(asked)) / max(len(said), 1)
    facts = new_facts(c.text, question) & set(wanted)
    if "name" in wanted and ask.head_word and _names_one(ask.head_word, c.text):
        facts |= {"name"}  # "which team ...": "Geotechnical team at 86%" names one
    if "name" in wanted and ask.head in heading and _LEADING_NAME.match(c.text):
        facts |= {"name"}  # "which client ...": "Northgate Homes: ..." under "Top client risks"
    fact = FACT if wanted and wanted[0] in facts else 0.0
    # "number" is in nearly every sentence with any other kind: it adds nothing more
    fact += MORE_FACTS * len(facts - {wanted[0], "number"}) if wanted else 0.0
    fact += (FACT - MORE_FACTS) * len(facts & ask.further)  # counts as the first
    kind_words = KIND_WORDS.get(wanted[0], frozenset()) if wanted else frozenset()
    named = NAMED if kind_words & (set(words(c.text)) - set(words(question))) else 0.0
    named += HEAD if ask.head and (ask.head in said or ask.head in heading) else 0.0
    named += SUBJECT if _row_about(c.text, asked.keys()) else 0.0
    ranged = RANGE if brackets(c.text, question) else 0.0
    rank = RANK * (n_passages - c.n)  # the retriever's order is a signal
    negated = NEGATED if negates(c.text, question) else 0.0
    own = sum(w for t, w in ask.own.items() if t in said) / (sum(ask.own.values()) or 1.0)
    total = TOTAL if ask.total and _STATES_TOTAL.search(c.text) else 0.0
    same = SAME_AMOUNT if ask.amounts & key_facts(c.text)[0] else 0.0
    return (
        SIMILARITY * sim
        + OVERLAP * overlap
        + fact
        + named
        + ranged
        + NOVELTY * novelty
        + rank
        + FOLLOW * own
        + total
        + same
        - negated
    )


def _answered_under(
    questions: Sequence[Span], spans: Sequence[Span], singles: Sequence[Span]
) -> dict[int, int]:
    """The statements (indexes into ``singles``) that answer one of ``questions``, a
    passage's own questions that match the one asked: those under it up to the next
    question of the passage, each with the number of the question it answers."""
    under: dict[int, int] = {}
    index = {(c.n, c.start): k for k, c in enumerate(singles)}
    for number, q in enumerate(questions):
        later = [c for c in spans if c.n == q.n and c.start > q.start]
        for c in sorted(later, key=lambda c: c.start):
            if c.text.rstrip().endswith("?"):
                break
            if (c.n, c.start) in index:
                under.setdefault(index[(c.n, c.start)], number)
    return under


_ASKS_TOTAL = re.compile(
    r"\ball in\b|\bin (?:total|all)\b|\baltogether\b|\boverall\b|\ball told\b|\btotal\b", re.I
)
_STATES_TOTAL = re.compile(r"\btotal\b|\bin all\b|\boverall\b|\baltogether\b", re.I)


_MONEY = re.compile(
    r"[£$€]\s?\d[\d,.]*(?:\s?(?:k|m|bn|mil|million|thousand|billion)\b)?"
    r"|\d[\d,.]*\s?(?:k|m|bn|mil|million|thousand|billion)\b",
    re.I,
)


def _money(question: str) -> frozenset[str]:
    """The sums of money ``question`` states, normalised (:func:`key_facts`)."""
    return key_facts(" ".join(m.group(0) for m in _MONEY.finditer(question)))[0]


#: A table row as the readers write it ("Location: London; Maximum per night: £160")
_ROW = re.compile(r"[^:;]{1,40}: [^;]*; [^:;]{1,40}: ")

#: A list item that opens with a name as its label ("Northgate Homes: £186k overdue")
_LEADING_NAME = re.compile(r"[A-Z][\w&'.-]*(?: [A-Z][\w&'.-]*)+: ")


def _row_about(text: str, asked: Collection[str]) -> bool:
    """Whether ``text`` is a table row whose first cell, its column's name and its value,
    the question names: "office: Leeds; ..." is the row "the Leeds office" asks about."""
    if not _ROW.match(text):
        return False
    header, _, value = text.split("; ", 1)[0].partition(": ")
    named = set(stems(header))
    return bool(named) and all(t in asked for t in named) and any(t in asked for t in stems(value))


def _same_paragraph(a: Span, b: Span, passages: Sequence[Passage]) -> bool:
    """Whether ``a`` and ``b`` are sentences of one paragraph (no blank line between)."""
    if a.n != b.n:
        return False
    first, second = sorted((a, b), key=lambda s: s.start)
    return "\n\n" not in passages[a.n - 1].text[first.start : second.end]


def _names_one(noun: str, text: str) -> bool:
    """Whether ``text`` names one of ``noun`` with a capitalised word before it."""
    return re.search(rf"\b[A-Z][a-z]+ {re.escape(noun)}\b", text) is not None


def _is_statement(c: Span, passages: Sequence[Passage]) -> bool:
    """A sentence worth quoting as an answer: not a heading, a question, a label or a
    fragment (a table row, naming its columns, is a statement)."""
    text = c.text.strip()
    heading = passages[c.n - 1].record.metadata.get("heading")
    if heading and text == str(heading).strip():
        return False
    if text.endswith(("?", ":")) or text.startswith("Sheet: "):
        return False
    n = len(words(text))
    if "; " in text or ": " in text:  # a table row, a label with its value
        return n >= 3
    if text[-1] in ".!)\"'" or n > 14:
        return n >= 4
    # A line no sentence ends in: a slide's bullet ("Employee referral bonus £2,000,
    # paid after probation") states something, and so does "Presented by Rachel
    # Adeyemi, COO"; a title ("Major Incident Report IR-2026-007") is in Title Case.
    if _BY_WHOM.match(text):
        return n >= 3
    return not _title_case(text) and (n >= 4 or (n >= 3 and any(ch.isdigit() for ch in text)))


_BY_WHOM = re.compile(r"[A-Z][a-z]+ed by [A-Z]")


def _title_case(text: str) -> bool:
    """Whether most of the words of ``text`` are capitalised ("Q3 2026 Operations Review";
    not "Bristol 80%, Leeds 74%")."""
    tokens = [w for w in text.split() if w[:1].isalnum()]
    capitals = sum(w[0].isupper() for w in tokens)
    return len(tokens) >= 2 and capitals >= 0.6 * len(tokens)


def condense(
    question: str, passages: Sequence[Passage], embedder: Embedder, per_passage: int = 3
) -> list[str]:
    """Each passage cut to its ``per_passage`` sentences closest to ``question`` (kept in
    their original order), for the prompt.

    On 2 CPU cores a small model reads a prompt at about 185 tokens/s, so five full
    256-token passages cost ~7 s before the first token; their best sentences cost a
    fraction of that. The answer is still checked against the full passages. The
    sentence embeddings are cached and reused by :func:`verify`.
    """
    if per_passage <= 0:
        return [p.text for p in passages]
    singles = passage_sentences(passages)
    if not singles:
        return [p.text for p in passages]
    vectors = embed_texts(embedder, [question] + [s.text for s in singles])
    sims = vectors[1:] @ vectors[0]
    asked = key_terms(question)
    out = []
    for n, p in enumerate(passages, start=1):
        mine = [(i, s) for i, s in enumerate(singles) if s.n == n]
        if len(mine) <= per_passage:
            out.append(p.text)
            continue

        def score(item: tuple[int, Span]) -> float:
            i, s = item
            return float(sims[i]) + 0.1 * len(asked & key_terms(s.text)) / max(len(asked), 1)

        best = sorted(sorted(mine, key=score, reverse=True)[:per_passage], key=lambda x: x[1].start)
        out.append("\n".join(s.text for _, s in best))
    return out
