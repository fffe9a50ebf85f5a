"""Choose the sentence check's support and weak thresholds by measurement.

    python bench/support_thresholds.py            # ~1,000 labelled claims (150 PubMedQA items)
    python bench/support_thresholds.py --quick    # ~30 claims (CI)
    python bench/support_thresholds.py --show     # also list the misses at the defaults
    python bench/support_thresholds.py --support 0.65 --weak 0.55   # compare this pair

Builds labelled cases (one claim sentence, its passages, true or false) and checks each
with :func:`rag.answer.verify.verify` the way the assistant does (the claim as a one-sentence
answer citing a passage, the bundled embedder, the default candidate pruning), once per
threshold of a grid. True claims:

* ``hand``   sample_docs facts paraphrased by hand; passages: the 5 chunks closest to the
             claim (the source file's closest chunk always among them)
* ``lifted`` a PubMedQA results sentence, lightly paraphrased (parentheses and leading
             connectives dropped, a few synonyms); passages: the item's contexts
* ``concl``  the first sentence of a PubMedQA long answer: the abstract's conclusion,
             which is not among its contexts and often goes beyond them
* ``confl``  two passages disagree (a copy of a PubMedQA section with one number changed,
             or a hand-written older document); the claim agrees with one and is only
             right if supported by that one (it cites the other, so it must be corrected)

False claims: ``number`` (a hand or lifted claim with one digit of one number changed),
``negation`` (negated, or its negation removed), ``swap`` (a name or acronym swapped for
one the passages lack), ``other`` (the nearest other PubMedQA item's conclusion, by
embedding), ``confl3`` (a third value that neither disagreeing passage states).

A true claim counts as found when ``supported`` (conflict claims: by the right passage);
a false claim, or a conflict claim supported by the wrong passage (``wrongsrc``), counts
as a false support. Data: sample_docs/ and ../shared/eval/pubmedqa (not copied here).

Printed: the support sweep (row ``lexical``: every cosine accepted, the lexical rules
alone); the best-F1 support threshold and the lowest with precision >= 0.95; the weak
sweep at that support, and the weak threshold with the widest gap between true and false
claims kept at least weak; the chosen pair against the defaults of rag/config.py, in the
same run, with paired bootstrap intervals; and which rules the missed true claims fail
(misses that fail only the score are the only ones a lower threshold would recover).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.answer.verify import (  # noqa: E402
    MIN_COVERAGE,
    Thresholds,
    coverage,
    key_facts,
    passage_spans,
    split_answer,
    verify,
)
from rag.config import Settings  # noqa: E402
from rag.ingest.chunk import Chunker  # noqa: E402
from rag.ingest.parse import parse  # noqa: E402
from rag.models import Embedder, open_embedder  # noqa: E402
from rag.retrieval.hybrid import Passage  # noqa: E402
from rag.retrieval.store import Record  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
DEFAULT = Thresholds(
    Settings.model_fields["support_threshold"].default,
    Settings.model_fields["weak_threshold"].default,
)
SUPPORT_GRID = [round(0.40 + 0.025 * i, 3) for i in range(17)]  # 0.40 .. 0.80
WEAK_GRID = [round(0.20 + 0.025 * i, 3) for i in range(23)]  # 0.20 .. 0.75, <= support
TRUE_KINDS = ("hand", "lifted", "concl", "confl")
FALSE_KINDS = ("number", "negation", "swap", "other", "confl3")

# (file, a true claim paraphrased from it, the claim with a name swapped or None)
HAND = [
    ("it_security_notes.txt", "Passwords must be at least 14 characters long.", None),
    ("it_security_notes.txt", "Suspected phishing emails should be forwarded as an attachment to security@halvorsenpike.example.", None),
    ("it_security_notes.txt", "Screens lock automatically after 5 minutes without activity.", None),
    ("it_security_notes.txt", "A lost laptop must be reported to the IT service desk within one hour.", None),
    ("it_security_notes.txt", "Multi-factor authentication is mandatory and uses the Microsoft Authenticator app.", "Multi-factor authentication is mandatory and uses the Google Authenticator app."),
    ("travel_expense_policy.md", "The per diem for overnight trips in the UK is £45 a day.", None),
    ("travel_expense_policy.md", "Trips abroad come with a per diem of £70 per day.", None),
    ("travel_expense_policy.md", "A London hotel may cost at most £160 per night.", "A Paris hotel may cost at most £160 per night."),
    ("travel_expense_policy.md", "Business class is only allowed on flights scheduled to last over 6 hours.", None),
    ("travel_expense_policy.md", "Mileage in your own car is paid at 45p per mile for the first 10,000 business miles.", None),
    ("travel_expense_policy.md", "Expense claims must be submitted in ExpenseFlow within 30 days.", "Expense claims must be submitted in PeopleHub within 30 days."),
    ("travel_expense_policy.md", "Claims submitted more than 90 days after the expense will not be paid.", None),
    ("acme_services_agreement.docx", "Either party can end the Acme agreement without a reason by giving 60 days' written notice.", "Either party can end the Northgate agreement without a reason by giving 60 days' written notice."),
    ("acme_services_agreement.docx", "The agreement with Acme Logistics starts on 1 March 2026 and runs for 24 months.", None),
    ("acme_services_agreement.docx", "The Consultant's total liability under the agreement is capped at £2,500,000.", None),
    ("acme_services_agreement.docx", "The Client pays a fixed monthly retainer of £18,500 excluding VAT.", None),
    ("acme_services_agreement.docx", "Acme Logistics runs 27 distribution centres in Great Britain.", "Acme Logistics runs 27 distribution centres in Ireland."),
    ("acme_services_agreement.docx", "Work orders are issued by Daniel Whitcombe, the Client's Head of Property.", "Work orders are issued by Helen Marsh, the Client's Head of Property."),
    ("acme_services_agreement.docx", "The confidentiality obligations last for five years after the agreement ends.", None),
    ("employee_handbook.docx", "Full-time staff get 25 days of paid annual leave a year plus the bank holidays.", None),
    ("employee_handbook.docx", "Up to 5 days of unused annual leave can be carried over into the next leave year.", None),
    ("employee_handbook.docx", "Employees may work remotely for up to 3 days each week.", None),
    ("employee_handbook.docx", "If you are ill you must phone your line manager by 10:00 on the first day of absence.", None),
    ("employee_handbook.docx", "New starters receive a one-off home office allowance of £300.", None),
    ("employee_handbook.docx", "Any gift worth more than £50 must be recorded in the gifts and hospitality register.", None),
    ("employee_handbook.docx", "The handbook is owned by the People Team under Sophie Kendrick, the HR Director.", "The handbook is owned by the People Team under Owen Pritchard, the HR Director."),
    ("incident_report_2026-03.pdf", "The cooling in the Leeds server room failed on 14 March 2026.", "The cooling in the Bristol server room failed on 14 March 2026."),
    ("incident_report_2026-03.pdf", "The outage lasted 3 h 40 min, from 07:48 to 11:28.", None),
    ("incident_report_2026-03.pdf", "The outage affected 212 user accounts.", None),
    ("incident_report_2026-03.pdf", "The root cause was a failed compressor in CRAC unit 2.", None),
    ("price_list_2026.xlsx", "A structural survey is charged at £950 per day.", None),
    ("price_list_2026.xlsx", "Clients spending from £25,000 to £99,999 a year get a 5% discount.", None),
    ("office_locations.csv", "The phone number of the Leeds office is 0113 496 0720.", "The phone number of the Bristol office is 0113 496 0720."),
    ("office_locations.csv", "Gemma Okafor is the facilities manager of the Bristol head office.", "Tom Ellery is the facilities manager of the Bristol head office."),
    ("board_update.eml", "Revenue for Q3 2026 was £4.2m, up 9% on the same quarter last year.", None),
    ("board_update.eml", "The new Manchester office is due to open on Monday 11 January 2027.", "The new Glasgow office is due to open on Monday 11 January 2027."),
    ("board_update.eml", "The Manchester office will be led by Tomasz Brennan.", "The Manchester office will be led by Ingrid Halvorsen."),
    ("q3_review.pptx", "Billable utilisation in the quarter was 78% against a target of 75%.", None),
    ("q3_review.pptx", "Northgate Homes has £186k overdue by more than 90 days.", "Severn Water has £186k overdue by more than 90 days."),
    ("q3_review.pptx", "The plan is to recruit 12 engineers by 31 March 2027.", None),
    ("intranet_faq.html", "The Bristol canteen serves hot food from 11:30 to 14:00 on weekdays.", "The Leeds canteen serves hot food from 11:30 to 14:00 on weekdays."),
    ("intranet_faq.html", "Staff apply for a Bristol parking permit with form FAC-07.", None),
    ("intranet_faq.html", "Visitors can ask reception for a guest Wi-Fi voucher.", None),
    ("intranet_faq.html", "Bristol has 30 bike spaces and Leeds has 12.", "Bristol has 12 bike spaces and Leeds has 30."),
]  # fmt: skip

# (current document, older conflicting document, claims: [(text, 1 = current / 2 = older / 0 = neither)])
HAND_CONFLICTS = [
    ("UK trips: £45 per day. Trips abroad: £70 per day.",
     "Travel policy FIN-03 version 2.0 (2024): the per diem for trips abroad is £60 per day.",
     [("The per diem for trips abroad is £70 per day.", 1), ("The per diem for trips abroad is £60 per day.", 2),
      ("The per diem for trips abroad is £65 per day.", 0)]),
    ("Employees may work remotely for up to 3 days per week, agreed with their line manager.",
     "Hybrid working pilot, 2024: staff may work from home for up to 2 days per week.",
     [("Staff may work from home for up to 3 days a week.", 1), ("Staff may work from home for up to 2 days a week.", 2),
      ("Staff may work from home for up to 4 days a week.", 0)]),
    ("Minimum password length is 14 characters. We do not force regular password changes.",
     "Old IT rules (2022): passwords must be at least 10 characters long and must be changed every 90 days.",
     [("Passwords must be at least 14 characters long.", 1), ("Passwords must be at least 10 characters long.", 2),
      ("Passwords must be at least 12 characters long.", 0),
      ("Passwords must be changed every 90 days.", 2), ("Regular password changes are not forced.", 1)]),
    ("The company VPN is needed for the project file servers. Email, Teams and SharePoint work without it.",
     "Remote access note (2023): email and Teams can only be reached through the company VPN.",
     [("Email and Teams work without the VPN.", 1), ("Email and Teams can only be reached through the VPN.", 2)]),
    ("Leeds: there is no on-site parking. Staff get a discounted rate at the Wellington Place car park.",
     "Leeds office facilities (2021): 15 on-site parking spaces are available by permit.",
     [("There is no on-site parking at the Leeds office.", 1), ("The Leeds office has 15 on-site parking spaces.", 2),
      ("The Leeds office has 25 on-site parking spaces.", 0)]),
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One claim to check: what it is, its passages, the passage it cites, its label."""

    kind: str
    claim: str
    passages: tuple[Passage, ...]
    cite: int
    source: int | None = None
    """The passage that must support it (conflict claims)."""

    @property
    def true(self) -> bool:
        return self.kind in TRUE_KINDS

    @property
    def corpus(self) -> str:
        return "pubmedqa" if self.passages[0].source.startswith("pubmed/") else "sample_docs"


def passage(pid: str, text: str, source: str, page: int | None = None) -> Passage:
    return Passage(Record(pid, text, {"source": source, "page": page}), 1.0, 0.5)


# -- claim transformations ---------------------------------------------------------

_NUM = re.compile(r"\d[\d,]*(?:\.\d+)?")
_AUX = re.compile(
    r"\b(is|are|was|were|can|could|must|may|might|will|would|should|has|have|had|does|do|did)\b"
)
_UNNEGATE = [
    (r"\bcannot\b", "can"), (r"\bwon't\b", "will"), (r"\b(\w+)n't\b", r"\1"), (r"\bnot\s+", ""),
    (r"\bnever\b", "always"), (r"\bno\b", "some"), (r"\bwithout\b", "with"), (r"\bnone\b", "all"),
]  # fmt: skip
_CONNECTIVE = re.compile(
    r"^(?:However|Moreover|Furthermore|In addition|Additionally|Overall|Similarly|In contrast|"
    r"Conversely|Thus|Therefore|Also|Finally|Interestingly|Notably|Importantly|In summary),\s*"
)
_SYNONYMS = {
    "approximately": "about", "compared with": "versus", "compared to": "versus",
    "demonstrated": "showed", "utilized": "used", "utilised": "used", "individuals": "people",
    "subjects": "participants", ", respectively": "", "statistically ": "",
}  # fmt: skip
# Acronyms (CABG, HbA1c) and capitalised names (Yorkshire), not at the start of a sentence
_ENTITY = re.compile(
    r"(?<=[a-z0-9,;] )(?:[A-Z]{2,}[A-Za-z0-9-]*|[A-Z][a-z]{3,}(?: [A-Z][a-z]+)*)\b"
)
_NOT_ENTITIES = {"CI", "OR", "HR", "RR", "SD", "SE", "IQR", "AUC", "II", "III", "IV", "NS"}


def change_number(text: str, step: int = 1) -> tuple[str, str, str] | None:
    """(claim with the leading digit of its longest number moved by ``step``, old, new)."""
    found = list(_NUM.finditer(text))
    if not found:
        return None
    m = max(found, key=lambda m: (sum(c.isdigit() for c in m.group()), -m.start()))
    old = m.group().rstrip(",")
    d = int(old[0])
    new = str(d + step if d + step <= 9 else d - step) + old[1:]
    return text[: m.start()] + new + text[m.start() + len(old) :], old, new


def replace_number(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![\d.,]){re.escape(old)}(?![\d]|[.,]\d)", new, text, count=1)


def negate(text: str) -> str | None:
    """The claim negated, or with its negation removed; None if no auxiliary verb to negate."""
    if key_facts(text)[2]:
        for pattern, repl in _UNNEGATE:
            flipped = re.sub(pattern, repl, text, count=1, flags=re.I)
            if flipped != text:
                return flipped
    m = _AUX.search(text)
    return text[: m.end()] + " not" + text[m.end() :] if m else None


def paraphrase(sentence: str) -> str:
    """Light rewording a model might do: no parentheses, no leading connective, synonyms."""
    text = sentence
    while (cut := re.sub(r"\s*[(\[][^()\[\]]*[)\]]", "", text)) != text:
        text = cut
    text = _CONNECTIVE.sub("", text)
    for word, repl in _SYNONYMS.items():
        text = text.replace(word, repl)
    text = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", text)).strip()
    return text[:1].upper() + text[1:]


def swap_entity(claim: str, own: str, donor: str) -> str | None:
    """The claim with a name/acronym of ``own`` text replaced by one of ``donor`` that ``own``
    lacks (acronym for acronym, name for name)."""
    lower = own.lower()
    donors = [d for d in dict.fromkeys(_ENTITY.findall(donor)) if d.lower() not in lower]
    for ent in dict.fromkeys(_ENTITY.findall(claim)):
        if ent in _NOT_ENTITIES or ent.lower() not in lower:
            continue
        for d in donors:
            if d not in _NOT_ENTITIES and d[1].isupper() == ent[1].isupper():
                return claim.replace(ent, d, 1)
    return None


def one_sentence(text: str) -> bool:
    return len(split_answer(text)) == 1 and len(text.split()) >= 5


# -- cases: PubMedQA ---------------------------------------------------------------


def pubmed_cases(
    items: dict[str, dict[str, Any]], pool: dict[str, dict[str, Any]], embedder: Embedder
) -> list[Case]:
    """Cases from each of ``items``; ``pool`` (items included) supplies the nearest
    other item's conclusion for the ``other`` claims."""
    ids = list(pool)
    conclusions = {pid: split_answer(it["LONG_ANSWER"])[0][0] for pid, it in pool.items()}
    vectors = embedder.embed([conclusions[p] for p in ids])
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    cases: list[Case] = []
    for k, (pid, item) in enumerate(items.items()):
        neighbour = ids[int(np.argmax(sims[ids.index(pid)]))]
        cases += item_cases(pid, item, conclusions[neighbour], pool[neighbour], k % 2 == 0)
    return cases


def pick_results_sentence(item: dict[str, Any]) -> tuple[int, str, str] | None:
    """(context index, original sentence, paraphrase): the first results sentence whose
    paraphrase still states a number, else the first usable one."""
    labels = item["LABELS"]
    order = [i for i, lab in enumerate(labels) if "RESULT" in lab.upper()] or [len(labels) - 1]
    usable = []
    for i in order:
        text = item["CONTEXTS"][i]
        for s, e in passage_spans(text):
            para = paraphrase(text[s:e])
            whole = para.endswith(".") and not re.search(r"[()\[\]]|\d\.$", para)
            if whole and one_sentence(para) and 8 <= len(para.split()) <= 45:
                usable.append((i, text[s:e], para))
    with_number = [u for u in usable if _NUM.search(u[2])]
    best = with_number or usable
    return best[0] if best else None


def item_cases(
    pid: str, item: dict[str, Any], other: str, donor: dict[str, Any], conflict: bool
) -> list[Case]:
    """An item's true claims and their false variants (conflict cases every other item)."""
    contexts = item["CONTEXTS"]
    ps = tuple(passage(f"{pid}-{i}", t, f"pubmed/{pid}.txt") for i, t in enumerate(contexts))
    picked = pick_results_sentence(item)
    if picked is None:
        return []
    at, original, lifted = picked
    cite = at + 1
    out = [Case("lifted", lifted, ps, cite), Case("other", other, ps, cite)]
    concl = split_answer(item["LONG_ANSWER"])[0][0]
    out.append(Case("concl", concl, ps, cite))
    variants = {
        "number": (change_number(lifted) or (None,))[0],
        "negation": negate(lifted),
        "swap": swap_entity(lifted, " ".join(contexts), " ".join(donor["CONTEXTS"])),
    }
    out += [Case(kind, v, ps, cite) for kind, v in variants.items() if v and one_sentence(v)]
    changed = change_number(lifted)
    if conflict and changed:
        _, old, new = changed
        other_doc = contexts[at].replace(original, replace_number(original, old, new))
        erratum = passage(f"{pid}-x", other_doc, f"pubmed/{pid}-erratum.txt")
        third = change_number(lifted, 2)
        claims = [(lifted, 1), (changed[0], 2), (third[0] if third else "", 0)]
        out += conflict_cases(ps[at], erratum, claims, ps[:at] + ps[at + 1 :])
    return out


def conflict_cases(
    current: Passage, older: Passage, claims: list[tuple[str, int]], rest: Sequence[Passage] = ()
) -> list[Case]:
    """Each claim against [current, older, *rest]; it cites the passage that does not state it."""
    ps = (current, older, *rest)
    out = []
    for text, side in claims:
        if not one_sentence(text):
            continue
        if side:
            out.append(Case("confl", text, ps, 3 - side, source=side))
        else:
            out.append(Case("confl3", text, ps, 1))
    return out


# -- cases: sample_docs ------------------------------------------------------------


def sample_cases(embedder: Embedder, quick: bool) -> list[Case]:
    """Hand claims, their variants, and hand conflicts; passages as a retriever would give."""
    hand = [h for h in HAND if h[0].endswith((".md", ".txt"))][:4] if quick else HAND
    chunker = Chunker(embedder.tokenize, Settings.model_fields["chunk_size"].default)
    files = sorted({f for f, _, _ in hand} if quick else {f for f, _, _ in HAND})
    chunks = [
        (f, c.page, c.text) for f in files for c in chunker.chunk(parse(ROOT / "sample_docs" / f))
    ]
    chunk_vecs = embedder.embed([t for _, _, t in chunks])
    cases: list[Case] = []
    for f, claim, swapped in hand:
        sims = chunk_vecs @ embedder.embed_query(claim)
        order = [int(i) for i in np.argsort(-sims)]
        own = next(i for i in order if chunks[i][0] == f)
        top = order[:5] if own in order[:5] else [*order[:4], own]
        ps = tuple(passage(f"c{i}", chunks[i][2], f, chunks[i][1]) for i in top)
        cite = top.index(own) + 1
        variants = {
            "hand": claim,
            "number": (change_number(claim) or (None,))[0],
            "negation": negate(claim),
            "swap": swapped,
        }
        cases += [Case(kind, v, ps, cite) for kind, v in variants.items() if v]
    for current, older, claims in HAND_CONFLICTS[:1] if quick else HAND_CONFLICTS:
        cases += conflict_cases(
            passage("now", current, "policy_current.md"),
            passage("old", older, "memo_old.txt"),
            claims,
        )
    return cases


# -- measurement -------------------------------------------------------------------

Labels = list[str]


def check(case: Case, t: Thresholds, embedder: Embedder) -> str:
    """supported / weak / unsupported, or ``wrongsrc``: supported by the wrong passage."""
    s = verify(f"{case.claim} [{case.cite}]", case.passages, embedder, t).sentences[0]
    if case.source is not None and s.support == "supported" and s.citations != [case.source]:
        return "wrongsrc"
    return s.support


def sweep(cases: list[Case], grid: list[Thresholds], embedder: Embedder) -> list[Labels]:
    """Labels of every case under every thresholds of ``grid`` (case by case, so each
    claim and its passages are embedded once and then read from verify's cache)."""
    by_case = [[check(c, t, embedder) for t in grid] for c in cases]
    return [list(col) for col in zip(*by_case, strict=True)]


def outcomes(cases: list[Case], labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    """Per claim: a true claim found (supported, by the right passage); a false support
    (a false claim supported, or a conflict claim supported by the wrong passage)."""
    pairs = list(zip(cases, labels, strict=True))
    found = np.array([c.true and lab == "supported" for c, lab in pairs], dtype=bool)
    wrong = np.array(
        [lab == "wrongsrc" or (not c.true and lab == "supported") for c, lab in pairs], dtype=bool
    )
    return found, wrong


CORPORA = {"docs": "sample_docs", "pqa": "pubmedqa"}


def prf(found: np.ndarray, wrong: np.ndarray, true: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``supported`` over the claims given."""
    tp, fp, n_true = int(found.sum()), int(wrong.sum()), int(true.sum())
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / n_true if n_true else 0.0
    return p, r, 2 * p * r / (p + r) if tp else 0.0


def scores(cases: list[Case], labels: Labels) -> dict[str, float]:
    """Precision, recall, F1 of ``supported`` (also per corpus, as ``F1:docs``); per kind:
    share supported (true kinds) or falsely supported (false kinds); share at least weak
    of true and of false claims."""
    found, wrong = outcomes(cases, labels)
    true = np.array([c.true for c in cases], dtype=bool)
    out = dict(zip(("P", "R", "F1"), prf(found, wrong, true), strict=True))
    for short, corpus in CORPORA.items():
        m = np.array([c.corpus == corpus for c in cases], dtype=bool)
        values = prf(found[m], wrong[m], true[m])
        out.update({f"{k}:{short}": v for k, v in zip(("P", "R", "F1"), values, strict=True)})
    for kind in TRUE_KINDS + FALSE_KINDS:
        of_kind = [i for i, c in enumerate(cases) if c.kind == kind]
        hits = found if kind in TRUE_KINDS else wrong
        out[kind] = float(hits[of_kind].mean()) if of_kind else float("nan")
    confl = [lab for c, lab in zip(cases, labels, strict=True) if c.kind == "confl"]
    out["wrongsrc"] = confl.count("wrongsrc") / len(confl) if confl else float("nan")
    for name, want in (("T>=weak", True), ("F>=weak", False)):
        mine = [lab for c, lab in zip(cases, labels, strict=True) if c.true == want]
        out[name] = sum(lab != "unsupported" for lab in mine) / len(mine) if mine else 0.0
    return out


def bootstrap_delta(
    cases: list[Case], before: Labels, after: Labels, n: int = 2000
) -> dict[str, tuple[float, float]]:
    """95% intervals of (after - before) for P, R and F1, resampling claims (paired)."""
    true = np.array([c.true for c in cases])
    idx = np.random.default_rng(0).integers(0, len(cases), (n, len(cases)))

    def resampled(labels: Labels) -> dict[str, np.ndarray]:
        found, wrong = outcomes(cases, labels)
        tp, fp, nt = found[idx].sum(1), wrong[idx].sum(1), true[idx].sum(1)
        p, r = tp / np.maximum(tp + fp, 1), tp / np.maximum(nt, 1)
        return {"P": p, "R": r, "F1": 2 * p * r / np.maximum(p + r, 1e-9)}

    a, b = resampled(before), resampled(after)
    return {
        k: (float(np.percentile(b[k] - a[k], 2.5)), float(np.percentile(b[k] - a[k], 97.5)))
        for k in a
    }


def fmt(x: float) -> str:
    return "    -" if x != x else f"{x:5.3f}"


SWEEP_COLS = ["P", "R", "F1", "F1:docs", "F1:pqa", *TRUE_KINDS, *FALSE_KINDS, "wrongsrc"]


def print_support_sweep(rows: list[tuple[str, dict[str, float]]]) -> None:
    print(
        "support sweep (weak = min(support, default weak)): precision/recall/F1 of supported "
        "(docs: sample_docs, pqa: PubMedQA), recall per true kind, false support per false kind"
    )
    print(f"{'support':>7} " + " ".join(f"{c:>7}" for c in SWEEP_COLS))
    for name, r in rows:
        print(f"{name:>7} " + " ".join(f"{fmt(r[c]):>7}" for c in SWEEP_COLS))


def choose_support(grid: list[float], rows: list[dict[str, float]]) -> tuple[float, float | None]:
    """The best-F1 threshold (the lowest of ties) and the lowest with precision >= 0.95."""
    best = max(range(len(grid)), key=lambda i: (round(rows[i]["F1"], 4), -i))
    precise = next((grid[i] for i, r in enumerate(rows) if r["P"] >= 0.95), None)
    return grid[best], precise


def choose_weak(grid: list[float], rows: list[dict[str, float]]) -> float:
    """The weak threshold with the largest gap between true and false claims kept at
    least weak (Youden's J; the highest of ties, so fewer false claims stay)."""
    gap = [round(r["T>=weak"] - r["F>=weak"], 4) for r in rows]
    return grid[max(range(len(grid)), key=lambda i: (gap[i], i))]


def print_weak_sweep(support: float, grid: list[float], rows: list[dict[str, float]]) -> None:
    print(f"\nweak sweep (support = {support:.3f}): share at least weak")
    cols = ["T>=weak", "F>=weak", "concl", "other", "negation", "swap"]
    print(
        f"{'weak':>9} {'true':>8} {'false':>8} {'J':>8} {'concl':>8} {'other':>8} {'negation':>8} {'swap':>8}"
    )
    for w, r in zip(grid, rows, strict=True):
        vals = [r["T>=weak"], r["F>=weak"], r["T>=weak"] - r["F>=weak"]]
        vals += [r[f"{k}~weak"] for k in cols[2:]]
        print(f"{w:>9.3f} " + " ".join(f"{fmt(v):>8}" for v in vals))


def weak_shares(cases: list[Case], labels: Labels) -> dict[str, float]:
    out = scores(cases, labels)
    for kind in ("concl", "other", "negation", "swap"):
        mine = [lab for c, lab in zip(cases, labels, strict=True) if c.kind == kind]
        out[f"{kind}~weak"] = (
            sum(lab != "unsupported" for lab in mine) / len(mine) if mine else float("nan")
        )
    return out


def failed_rules(case: Case, t: Thresholds, embedder: Embedder) -> list[str]:
    """The rules the claim's best span fails under ``t`` (the verdict, if none)."""
    s = verify(f"{case.claim} [{case.cite}]", case.passages, embedder, t).sentences[0]
    if s.span is None:
        return ["no span"]
    c_nums, c_names, c_neg = key_facts(s.text)
    s_nums, _, s_neg = key_facts(s.span.text)
    rules = {
        "score": s.score < t.supported,
        "numbers": not c_nums <= s_nums,
        "names": not all(n in s.span.text.lower() for n in c_names),
        "negation": c_neg != s_neg,
        "coverage": coverage(s.text, s.span.text) < MIN_COVERAGE,
    }
    return [r for r, failed in rules.items() if failed] or [s.support]


def print_failures(cases: list[Case], t: Thresholds, embedder: Embedder, show: bool) -> None:
    """Why true claims miss ``supported``, and why false ones got it; only misses that
    fail the score alone depend on the support threshold."""
    missed = [c for c in cases if c.true and check(c, t, embedder) != "supported"]
    taken = [c for c in cases if not c.true and check(c, t, embedder) == "supported"]
    rules = [failed_rules(c, t, embedder) for c in missed]
    each = Counter(r for rs in rules for r in rs)
    alone = sum(rs == ["score"] for rs in rules)
    print(
        f"\nat {t.supported:.3f}/{t.weak:.3f}: {len(missed)} of {sum(c.true for c in cases)} true "
        f"claims not supported; their best span fails {dict(each.most_common())} "
        f"(a claim may fail several); {alone} fail only the score threshold"
    )
    if show:
        for c, rs in zip(missed, rules, strict=True):
            print(f"  missed  {c.kind:8} {'+'.join(rs):18} {c.claim[:100]}")
        for c in taken:
            print(f"  FALSE   {c.kind:8} {'supported':18} {c.claim[:100]}")


def print_comparison(cases: list[Case], before: Labels, after: Labels, t: Thresholds) -> None:
    """The chosen thresholds against the defaults, overall and per corpus; the 95%
    bootstrap interval of each P/R/F1 change."""
    d, c = scores(cases, before), scores(cases, after)
    ci = bootstrap_delta(cases, before, after)
    rows = [("support_threshold", DEFAULT.supported, t.supported, "")]
    rows += [("weak_threshold", DEFAULT.weak, t.weak, "")]
    keys = ["P", "R", "F1", *TRUE_KINDS, *FALSE_KINDS, "wrongsrc", "T>=weak", "F>=weak"]
    rows += [
        (k, d[k], c[k], f"[{ci[k][0]:+.3f}, {ci[k][1]:+.3f}]" if k in ci else "") for k in keys
    ]
    for short, corpus in CORPORA.items():
        n = sum(case.corpus == corpus for case in cases)
        keys = [f"{k}:{short}" for k in ("P", "R", "F1")]
        rows += [(f"{k.split(':')[0]} {corpus} (n={n})", d[k], c[k], "") for k in keys]
    print(f"\n{'':26} {'default':>8} {'chosen':>8} {'delta':>8} {'ratio':>6}  delta 95% CI")
    for name, a, b, interval in rows:
        ratio = f"{b / a:6.2f}" if a == a and b == b and a else "     -"
        print(f"{name:26} {fmt(a):>8} {fmt(b):>8} {b - a:>+8.3f} {ratio}  {interval}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~30 claims (CI)")
    parser.add_argument("--items", type=int, default=150, help="PubMedQA items (full mode)")
    parser.add_argument("--show", action="store_true", help="list the misses at the defaults")
    parser.add_argument("--support", type=float, help="compare this support threshold instead")
    parser.add_argument("--weak", type=float, help="compare this weak threshold instead")
    args = parser.parse_args()
    started = time.perf_counter()
    path = EVAL / "pubmedqa" / "pqal_dev.json"
    if not path.is_file():
        sys.exit(f"missing {path} (see ../shared/eval/README.md)")
    everything = json.loads(path.read_text())
    n_items = 3 if args.quick else args.items
    items = dict(list(everything.items())[:n_items])
    pool = dict(list(everything.items())[: max(n_items, 24)]) if args.quick else everything
    embedder = open_embedder(Settings())  # the app's embedder: thresholds are its own
    cases = sample_cases(embedder, args.quick) + pubmed_cases(items, pool, embedder)
    counts = {k: sum(c.kind == k for c in cases) for k in TRUE_KINDS + FALSE_KINDS}
    n_true = sum(c.true for c in cases)
    print(f"{len(cases)} claims ({n_true} true, {len(cases) - n_true} false): {counts}\n")
    report(cases, embedder, args.show, args.support, args.weak)
    print(f"\n{len(cases)} claims in {time.perf_counter() - started:.0f} s")


def report(
    cases: list[Case],
    embedder: Embedder,
    show: bool,
    support: float | None = None,
    weak: float | None = None,
) -> None:
    """Sweep both thresholds, choose them (unless given), compare them with the defaults."""
    grid = [Thresholds(s, min(s, DEFAULT.weak)) for s in SUPPORT_GRID]
    grid += [Thresholds(-1.0, -1.0), DEFAULT]  # the lexical rules alone; the defaults
    *labels, lexical, default = sweep(cases, grid, embedder)
    rows = [scores(cases, lab) for lab in labels]
    named = [(f"{s:.3f}", r) for s, r in zip(SUPPORT_GRID, rows, strict=True)]
    print_support_sweep([("lexical", scores(cases, lexical)), *named])
    best, precise = choose_support(SUPPORT_GRID, rows)
    top = max(r["F1"] for r in rows)
    plateau = [s for s, r in zip(SUPPORT_GRID, rows, strict=True) if r["F1"] >= top - 0.005]
    print(
        f"\nbest F1: support {best:.3f} (F1 within 0.005 of it: {plateau[0]:.3f}-{plateau[-1]:.3f}); "
        f"precision >= 0.95 from: {'none' if precise is None else f'{precise:.3f}'}"
    )
    weak_grid = [w for w in WEAK_GRID if w <= best]
    weak_labels = sweep(cases, [Thresholds(best, w) for w in weak_grid], embedder)
    weak_rows = [weak_shares(cases, labels) for labels in weak_labels]
    print_weak_sweep(best, weak_grid, weak_rows)
    widest = choose_weak(weak_grid, weak_rows)
    print(f"\nweak threshold with the widest true/false gap: {widest:.3f}")
    chosen = Thresholds(best if support is None else support, widest if weak is None else weak)
    print(f"\ncompared: support {chosen.supported:.3f}, weak {chosen.weak:.3f}", end="")
    print(" (given)" if support is not None or weak is not None else " (best F1, widest gap)")
    print_comparison(cases, default, sweep(cases, [chosen], embedder)[0], chosen)
    print_failures(cases, DEFAULT, embedder, show)
    if chosen != DEFAULT:
        print_failures(cases, chosen, embedder, False)


if __name__ == "__main__":
    main()
