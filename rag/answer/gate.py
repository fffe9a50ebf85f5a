"""The relevance gate: whether the retrieved passages can answer the question at all.

Below ``Settings.min_relevance`` the answer is "Not found in your documents." and no
model is called: a small model given off-topic passages answers anyway, and an
extractive answer would quote something beside the point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from difflib import SequenceMatcher

from rag.answer.facts import spelled_out
from rag.answer.verify import embed_texts, passage_sentences
from rag.models.base import Embedder
from rag.retrieval.hybrid import Passage
from rag.retrieval.keyword import Vocabulary, question_terms, tokenize

__all__ = ["another_kind", "kinds_alike", "off_subject", "relevance", "specific_terms"]

#: What a question loses when it names something (a product, a place, an identifier)
#: that no passage the reader may read mentions: a near miss ("innodb_buffer_pool_size"
#: asked of the PostgreSQL manual) looks on-topic to every other signal.
NEAR_MISS = 0.2
#: What it loses when it names an identifier (``wait_timeout``, ``DBMS_OUTPUT.PUT_LINE``,
#: ``pgBackRest``) that none of the top passages holds as written. Its parts are often
#: common words the documents use ("wait", "timeout"), so the vocabulary has them all;
#: but keyword search ranks a chunk holding the identifier itself first, so when none
#: of the top passages has it, the documents do not. On the PostgreSQL manual's 70
#: questions about other products this refuses 53 at the default threshold, against
#: 31 with :data:`NEAR_MISS` alone, with no answerable question of either set refused.
IDENTIFIER_MISS = 0.5
#: What it loses when it names something the documents mention ("February", "VAT",
#: "Oracle Flashback") but none of the top passages does: keyword search ranks a chunk
#: holding a name the question asks about near the top, so when none of them holds it,
#: the documents mention it about something else ("the February 2026 network outage"
#: of a collection whose only outage was in March). On the PostgreSQL manual's 70
#: questions about other products this refuses 58 against 49, on sample_docs 18 of 36
#: against 16, with no answerable question of either set refused.
NAME_MISS = 0.5
#: What it loses when the top passage's document never mentions a name the question
#: asks about that other documents do ("the monthly retainer on the Severn Water
#: contract", where the only retainer is the Acme agreement's and Severn Water is named
#: in a slide deck): the passage is about something else of the same kind. A name of
#: several words is mentioned when any of them is ("Acme Logistics": "Acme"). On
#: sample_docs this refuses 21 of 36 unanswerable questions against 18, none of 128
#: answerable; on the PostgreSQL manual none more of either set. A passage with a rule
#: for the rest ("Location: Rest of the UK") covers names it does not list: without
#: that, "hotel limit for a night in Manchester?" was refused. Such a rule in any top
#: passage covers a name no document mentions too ("work from home in Spain":
#: "Working from abroad for more than ten working days ...").
DOCUMENT_MISS = 0.5
#: A name more than this share of the reader's documents say is what the collection is
#: about (the organisation's own name, "PostgreSQL" in its manual), not one thing in it:
#: that a passage or a document does not say it is no near miss. "What does Halvorsen &
#: Pike charge for a drone survey?" was refused: the price list never names the firm
#: that seven of the ten sample documents name.
EVERYWHERE = 0.5
#: ... and at least this many: in a small collection, or to a reader of few documents, a
#: name two documents of three say can still be the one thing asked about.
EVERYWHERE_LEAST = 3
_THE_REST = re.compile(
    r"\b(?:rest of the|all other|everywhere else|elsewhere|outside the|abroad|overseas)\b",
    re.IGNORECASE,
)
#: The rules for the rest that cover places in any top passage, not only the first:
#: "all other" and "outside the" are common in other senses ("all other columns").
_ELSEWHERE = re.compile(r"\b(?:rest of the|everywhere else|abroad|overseas)\b", re.IGNORECASE)
#: A shorter name starts too many words ("Go": "good", "AI": "air") to be read as one.
_SHORTEST_LONGER = 4
#: How alike (the cosine of their vectors) the kind of a thing the question asks about
#: and the kind an answer quotes must be to be one kind said two ways. A question's
#: "bicycle spaces" and the text's "bike spaces" are 0.93 alike, "recommendation bonus"
#: and "Employee referral bonus" 0.79, "vacation leave" and "annual leave" 0.66, "medical
#: note" and "fit note" 0.54; "bereavement leave" and "annual leave" 0.43,
#: "topographical survey" and "Drone photogrammetry survey" 0.49, "asbestos survey" and
#: "Structural survey" 0.30. Paraphrases below it are refused ("refurbishment budget"
#: and "fit-out budget" 0.47), near misses above it answered ("sabbatical leave" 0.55).
KIND_ALIKE = 0.5
#: A word this alike in spelling to one the answer writes is that word mistyped
#: ("annaul leave"), not another kind: a typo's vector is far from the word's.
_MISTYPED = 0.8
#: The most words before a noun that are read as naming its kind ("Drone photogrammetry
#: survey").
_KIND_WORDS = 3
#: Words that come before a noun without naming its kind, which the stop words do not
#: hold: prepositions ("a bottle of whisky worth £80", "a hotel in Paris per night") and
#: determiners ("every account", "the next leave year").
_NOT_KINDS = frozenset(
    """per worth via plus minus versus vs like near unlike within without upon onto toward
    towards across along among around behind beside besides beyond despite except inside
    outside past since throughout every next last previous following another same any
    all both either neither further such several various""".split()
)
_PHRASE_TOKEN = re.compile(r"[^\W\d_][\w'’&-]*|\S")

#: The weight of the best single sentence's similarity to the question; the rest is the
#: IDF-weighted share of the question's terms the top passages hold. A passage's
#: similarity averages over all it says, so a question one sentence answers in other
#: words ("sign off" for "approval") scored low, and one the passage's topic matches
#: but no sentence answers scored high. Chosen with :data:`NEAR_MISS` and
#: ``Settings.min_relevance`` by the curve in bench/verification.py over sample_docs
#: and the PostgreSQL manual's 115 questions: at false refusals of 4 % and 0 %, refusal
#: recall 0.47 and 0.43, against 0.42 and 0.34 for the mean of passage similarity and
#: coverage at the same false refusals.
SENTENCE = 0.6
#: Passages whose sentences are compared with the question.
SENTENCE_PASSAGES = 5

_TOKEN = re.compile(r"[^\W\d_][\w.\-]*\w|[^\W\d_]")
_SENTENCE_START = re.compile(r"(^|[.?!:]\s*|[\"'(]\s*)$")


def specific_terms(question: str) -> list[str]:
    """The names and identifiers a question asks about: words capitalised inside a
    sentence, acronyms, CamelCase, and identifiers with ``_`` ("Citus", "RMAN",
    "pgBackRest", "shared_buffers"). Not a single letter ("H&P", "Plan B"), nor a word
    that is only a stop word ("IT", "US"): neither can be looked for in a document."""
    out = []
    for m in _TOKEN.finditer(question):
        word = m.group()
        # what comes just before it: the whole prefix made this quadratic in the length
        at_start = bool(_SENTENCE_START.search(question[max(0, m.start() - 64) : m.start()]))
        if len(word) < 2 or not tokenize(word):
            continue
        if (
            "_" in word
            or re.search(r"[a-z][A-Z]|[A-Z]{2,}", word)
            or (word[0].isupper() and not at_start and word != "I")
        ):
            out.append(word)
    return out


def relevance(
    question: str, passages: Sequence[Passage], vocabulary: Vocabulary, embedder: Embedder
) -> float:
    """How well the passages can answer the question, 0..1: the best cosine similarity
    of one of their sentences to the question and the IDF-weighted share of question
    terms the top passages contain (weighed :data:`SENTENCE` to the rest), less
    :data:`IDENTIFIER_MISS` when it names an identifier none of the top passages holds,
    :data:`NAME_MISS` when it names something the reader's documents mention but none of
    the top passages does, :data:`NEAR_MISS` when it names something the reader's
    documents never mention (an acronym they write in full is mentioned), or
    :data:`DOCUMENT_MISS` when the top passage's document never mentions a name the
    question asks about. A name most of the reader's documents say (:data:`EVERYWHERE`)
    is never a near miss of either kind.

    Either signal alone lets unanswerable questions through (similarity is high for
    on-topic but unanswered questions; term overlap misses paraphrases).
    """
    if not passages:
        return 0.0
    sentences = [s.text for s in passage_sentences(passages[:SENTENCE_PASSAGES])]
    if sentences:
        vectors = embed_texts(embedder, [question, *sentences])
        similarity = float((vectors[1:] @ vectors[0]).max())
    else:
        similarity = max(p.similarity for p in passages)
    coverage = vocabulary.coverage(question, [p.text for p in passages[:3]])
    score = SENTENCE * max(similarity, 0.0) + (1 - SENTENCE) * coverage
    terms = specific_terms(question)
    top = " ".join(p.text for p in passages[:SENTENCE_PASSAGES])
    written = top.lower()
    held = set(tokenize(top))
    distinct = [t for t in terms if not _everywhere(t, vocabulary)]
    missing = [
        t
        for t in distinct
        if not set(tokenize(t)) <= held
        and not spelled_out(t, top)
        and not _written_longer(t, written)
    ]
    if any(_IDENTIFIER.search(t) and t.lower() not in written for t in terms):
        score -= IDENTIFIER_MISS
    elif any(not vocabulary.unseen([t]) for t in missing):
        score -= NAME_MISS
    elif not _ELSEWHERE.search(top) and any(
        not spelled_out(t, top) for t in vocabulary.unseen(terms)
    ):
        score -= NEAR_MISS
    elif off_subject(question, passages[:1], vocabulary):
        score -= DOCUMENT_MISS
    return max(score, 0.0)


def off_subject(
    question: str, quoted: Sequence[Passage], vocabulary: Vocabulary, said: str | None = None
) -> bool:
    """Whether ``quoted`` (passages an answer would cite) is about something else: the
    question asks about a name that other documents mention and none of the quoted
    passages' documents does ("the phone number for the Manchester office" answered from
    the office list, which has no Manchester row, because a board email mentions the
    office). A passage with a rule for the rest ("Location: Rest of the UK") covers
    names it does not list."""
    if not quoted or any(_THE_REST.search(p.text) for p in quoted):
        return False
    terms = specific_terms(question)
    asked = {t.lower() for t in terms}
    if said is not None and not {t.lower() for t in specific_terms(said)} - asked:
        return False  # it names nothing else: not another thing of the kind asked about
    return any(
        all(
            not any(vocabulary.mentions(p.source, word) for word in name)
            and not spelled_out(" ".join(name), p.text)
            and not any(_written_longer(word, p.text.lower()) for word in name)
            for p in quoted
        )
        for name in _names(question, terms)
        if vocabulary.unseen(name) != name  # never mentioned anywhere: NEAR_MISS's
        and not all(_everywhere(word, vocabulary) for word in name)
    )


def another_kind(question: str, said: str, vocabulary: Vocabulary, embedder: Embedder) -> bool:
    """Whether the sentences an answer would quote (``said``) are about another kind of
    the thing asked about: the question qualifies a noun with a word no chunk the reader
    may read holds ("bereavement leave", "an asbestos survey", "jury service"), and each
    time the quoted text qualifies that noun it names a kind less than :data:`KIND_ALIKE`
    alike ("unused annual leave", "Structural survey", "continuous service"). The
    documents then say nothing of the kind asked about, only of its neighbours."""
    return any(alike < KIND_ALIKE for alike in kinds_alike(question, said, vocabulary, embedder))


def kinds_alike(
    question: str, said: str, vocabulary: Vocabulary, embedder: Embedder
) -> list[float]:
    """For each noun the question qualifies with a word no chunk the reader may read
    holds, how alike (the best cosine of the phrases' vectors) the kinds of it that
    ``said`` names are to the one asked; none for a noun ``said`` names no kind of.
    Words that name no kind are left out on both sides: a name ("a Slack account", "CRAC
    unit": what it stands for is not known here), a possessive ("a doctor's note", "the
    cyclists' storage": whose, not what kind), a determiner ("every account", "the next
    leave year") and a preposition ("whisky worth £80"). So are a mistyped word ("annaul
    leave") and a noun written as another word ("lunch served": "office serves"). Words
    after the noun that both go on with are read with it: "new-joiner home office
    allowance" is compared with "one-off home office allowance", not "one-off home"."""
    asked = _PHRASE_TOKEN.findall(question)
    quoted = _PHRASE_TOKEN.findall(said)
    names = {t.lower() for t in [*specific_terms(question), *specific_terms(said)]}
    out = []
    for i in range(1, len(asked)):
        kind, noun = asked[i - 1], asked[i]
        if not _names_a_kind(kind, names) or not _names_a_kind(noun, names):
            continue
        if not vocabulary.unseen([kind]) or vocabulary.unseen([noun]):
            continue
        written = _kinds_written(noun, quoted, names, asked[i + 1 :])
        if not written or any(
            SequenceMatcher(None, kind.lower(), word.lower()).ratio() >= _MISTYPED
            for phrase, _ in written
            for word in phrase.split()
        ):
            continue
        # the asked kind as the quoted ones are read: "kind noun" and its longer runs
        mine = [own for own, _ in _kinds_written(noun, asked[: i + 1], names)]
        pairs = [
            (f"{own} {' '.join(asked[i + 1 : i + 1 + more])}".strip(), theirs)
            for theirs, more in written
            for own in mine
        ]
        texts = list(dict.fromkeys(t for pair in pairs for t in pair))
        vectors = dict(zip(texts, embed_texts(embedder, texts), strict=True))
        out.append(max(float(vectors[a] @ vectors[b]) for a, b in pairs))
    return out


def _names_a_kind(token: str, names: set[str]) -> bool:
    """Whether ``token`` can say what kind of thing a text is about: a word of two
    letters or more that is no stop word, question word, name, possessive, determiner
    or preposition."""
    lower = token.lower()
    return (
        len(token) > 1
        and token[0].isalpha()
        and bool(set(tokenize(token)) - question_terms())
        and lower not in names
        and lower not in _NOT_KINDS
        and not lower.endswith(("'s", "’s", "s'", "s’"))
    )


def _kinds_written(
    noun: str, tokens: Sequence[str], names: set[str], after: Sequence[str] = ()
) -> list[tuple[str, int]]:
    """The kinds of ``noun`` that ``tokens`` (a text's) name: each time the text writes
    the noun (or its plural) after a word that names a kind, the noun with that word,
    and with up to :data:`_KIND_WORDS` such words ("annual leave", "paid annual
    leave"); each with the words of ``after`` (those after the noun in the question)
    that the text goes on with, and how many."""
    out: list[tuple[str, int]] = []
    for i, token in enumerate(tokens):
        if i == 0 or not _same_noun(token, noun):
            continue
        start = i
        while start > 0 and i - start < _KIND_WORDS and _names_a_kind(tokens[start - 1], names):
            start -= 1
        if start == i:
            continue
        more = 0
        while (
            more < len(after)
            and i + 1 + more < len(tokens)
            and tokens[i + 1 + more].lower() == after[more].lower()
        ):
            more += 1
        end = i + 1 + more
        out += [(" ".join(tokens[i - 1 : end]), more), (" ".join(tokens[start:end]), more)]
    return list(dict.fromkeys(out))


def _same_noun(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one noun, in the singular or the plural ("survey",
    "surveys"); not one verb's forms ("served", "serves")."""
    a, b = a.lower(), b.lower()
    return a == b or a in (b + "s", b + "es") or b in (a + "s", a + "es")


def _written_longer(name: str, written: str) -> bool:
    """Whether ``written`` (lower case) holds ``name`` as the start of a longer word: a
    question's "Postgres" for the manual's "PostgreSQL"."""
    if len(name) < _SHORTEST_LONGER:
        return False
    return re.search(rf"\b{re.escape(name.lower())}\w", written) is not None


def _everywhere(word: str, vocabulary: Vocabulary) -> bool:
    """Whether more than :data:`EVERYWHERE` of the reader's documents, and at least
    :data:`EVERYWHERE_LEAST`, say ``word``."""
    saying, documents = vocabulary.spread(word)
    return saying >= EVERYWHERE_LEAST and saying > EVERYWHERE * documents


def _names(question: str, terms: Sequence[str]) -> list[list[str]]:
    """``terms`` (:func:`specific_terms` of ``question``) grouped into names: those next
    to each other in the question are one ("Severn Water", "Acme Logistics")."""
    names: list[list[str]] = []
    wanted = set(terms)
    end = -1
    for m in _TOKEN.finditer(question):
        if m.group() not in wanted:
            continue
        if names and not question[end : m.start()].strip():
            names[-1].append(m.group())
        else:
            names.append([m.group()])
        end = m.end()
    return names


#: snake_case, CamelCase inside a word, or dotted: a name only software gives
_IDENTIFIER = re.compile(r"_|[a-z][A-Z]|[^\W\d_]{2}\.[^\W\d_]{2}")
