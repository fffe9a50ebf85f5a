"""What a question asks for, and which kinds of fact a sentence states.

"How long did the outage last?" wants a duration, "What's the hotel limit in London?"
an amount of money, "Who approves...?" a name, "When does it start, and how long is it
for?" a date and a duration. A sentence that states such a fact, one the question does
not already state, is likely to be the answer; a heading, a label or a restatement of
the question is not. The rules are plain patterns over the text: they are what lets a
small embedder's topical similarity tell the answer from its neighbours.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = [
    "KINDS",
    "KIND_WORDS",
    "asked_each",
    "asked_for",
    "brackets",
    "fact_kinds",
    "head_noun",
    "is_yes_no",
    "negates",
    "new_facts",
    "numbers",
    "spelled_out",
    "states_asked",
]

_MONTHS = "jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec"
_UNITS = (
    r"h|hrs?|hours?|mins?|minutes?|seconds?|days?|nights?|weeks?|months?|years?|"
    r"working days|business days|weekdays"
)

#: Each kind of fact: how a sentence states it.
KINDS: dict[str, re.Pattern[str]] = {
    "money": re.compile(
        r"[£$€]\s?\d|\d[\d,.]*\s?(?:k|m|bn)?\s*(?:pounds?|euros?|dollars?|pence|gbp|eur|usd)\b"
        r"|\b\d+(?:\.\d+)?p\b"  # "45p per mile"
        r"|\b(?:gbp|eur|usd)\)?\s*:?\s*\d",  # "GBP 45", a table's "Price GBP: 1750"
        re.I,
    ),
    "percent": re.compile(r"\d(?:[\d.,]*)\s?%|\bper\s?cent\b|\bpercent\b", re.I),
    "duration": re.compile(
        rf"\b(?:\d[\d.,]*|one|two|three|four|five|six|seven|eight|nine|ten|"
        rf"twelve|fifteen|twenty|thirty|sixty|ninety)\s*-?\s*(?:{_UNITS})\b"
        r"|\b\d+\s*h\s*\d+\s*min",
        re.I,
    ),
    "date": re.compile(
        rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:{_MONTHS})[a-z]*\b|\b(?:{_MONTHS})[a-z]*\s+\d{{1,4}}\b"
        r"|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b"
        r"|\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)s?\b",
        re.I,
    ),
    "time": re.compile(r"\b\d{1,2}[:.]\d{2}\b|\b\d{1,2}\s?(?:am|pm|a\.m\.|p\.m\.)", re.I),
    "number": re.compile(
        r"\b\d[\d,.]*\b|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
        r"fifteen|twenty|thirty|forty|fifty|hundred|dozen)\b",
        re.I,
    ),
    "name": re.compile(
        r"(?<![.!?:]\s)(?<!^)\b(?!(?:The|This|That|These|Our|Your|Each|Any|All)\b)"
        r"[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+"
    ),
    "contact": re.compile(
        r"[\w.+-]+@[\w-]+\.[\w.]+|\b(?:ext(?:ension)?\.?|tel\.?|phone)\s*:?\s*\+?\d[\d ]+"
        r"|\+?\d[\d ]{7,}\d|\b[A-Z]{2,}-?\d{2,}\b|https?://\S+|\b\w+\.(?:com|org|net|uk|io)\b",
        re.I,
    ),
    "place": re.compile(
        r"\b(?:in|at|on|from)\s+(?:the\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*"
        r"|\b(?:floor|room|street|road|building|office|reception|car park|garage)\b",
        re.I,
    ),
    "steps": re.compile(
        r"\b(?:must|should|need to|use|call|email|e-mail|fill in|submit|ask|contact|log|"
        r"book|apply|request|send|go to|visit|complete|raise|report)\b",
        re.I,
    ),
}

#: What a question's words say it asks for (first match of each rule counts).
_TIME_OFF = r"(?:time|leave|notice|holidays?)\b"

_ASKS: list[tuple[re.Pattern[str], tuple[str, ...]]] = [
    (
        re.compile(
            # "how much time off / leave / notice" asks how long
            r"\bhow much\b(?!\s+(?:\w+\s+)?" + _TIME_OFF + r")|"
            r"\bcost|\bprice|\bfee\b|\bcharge|\bspend|\bpay\b|\bpaid\b|"
            r"\bbudget|\ballowance|\bper diem|\bsalary|\brate\b|\bmaximum\b|\blimit|\bcap\b|"
            r"[£$€]|\bpounds?\b|\beuros?\b",
            re.I,
        ),
        ("money", "number"),
    ),
    (
        re.compile(
            r"\bpercent|%|\bdiscount|\bgrowth|\bgrew|\bincrease|\bdecrease|\bmargin|"
            r"\butili[sz]ation\b|\bshare of\b|\bproportion\b|\bturnout\b",
            re.I,
        ),
        ("percent", "number"),
    ),
    (re.compile(r"\bhow many\b|\bnumber of\b|\bhow often\b|\bcount\b", re.I), ("number",)),
    (
        re.compile(
            r"\bhow long\b|\bhow (?:quickly|soon)\b|\bduration|\bperiod\b|\bnotice\b|"
            r"\bhow much\s+(?:\w+\s+)?" + _TIME_OFF + "|"
            r"\bwithin\b|\blasted\b|\blast(?=\s*(?:for\b|\?|$))|"  # not "last quarter"
            # a unit the question counts itself ("every 90 days", "120k a year") asks
            # for no duration
            r"(?<!\d)(?<!\d\s)(?<!\ba\s)(?<!\bper\s)(?<!\bevery\s)(?<!\beach\s)"
            r"\b(?:days|weeks|months|years)\b",  # "day rate", "this year's party": no
            re.I,
        ),
        ("duration", "number"),
    ),
    (
        re.compile(
            # "when" asks only where it opens a clause ("which services went down when
            # the room overheated?" asks which)
            r"(?:^|[,;:.?\-–]\s*|\band\s|\bby\s|\bsince\s|\buntil\s)when\b|"
            r"\bwhat date\b|\bwhich day\b|\bdeadline|\bstart|\bend\b|\bexpir|"
            r"\buntil\b|\bby when\b|\bdue\b",
            re.I,
        ),
        ("date", "time"),
    ),
    (
        re.compile(
            r"\bwhat time\b|\bby what time\b|\bopen(?:s|ing)?\b|\bclos(?:e|es|ing)\b|"
            r"\bhours\b",
            re.I,
        ),
        ("time",),
    ),
    (
        re.compile(
            r"\bwho\b|\bwhom\b|\bwhich (?:person|manager|director|client|company|"
            r"supplier|customer|team|contractor)\b|\bowner\b|\bresponsible\b",
            re.I,
        ),
        ("name",),
    ),
    (re.compile(r"\bwhere\b|\bwhich office\b|\baddress\b|\blocation\b", re.I), ("place",)),
    (
        re.compile(
            r"\bemail|\be-mail|\bphone|\bnumber to call\b|\bextension\b|\bcontact\b|"
            r"\bcode\b|\breference\b|\bform\b|\bwebsite\b|\burl\b|\blink\b",
            re.I,
        ),
        ("contact",),
    ),
    (
        re.compile(
            r"\bhow (?:do|can|should) (?:i|we|you|a|my|our)\b|\bhow to\b|\bwhat should\b|"
            r"\bprocedure\b|\bsteps?\b|\bprocess\b|\bwhat do i\b",
            re.I,
        ),
        ("steps",),
    ),
]


#: Words that name a kind of fact: a sentence saying "duration" answers "how long".
KIND_WORDS: dict[str, frozenset[str]] = {
    "money": frozenset(
        "cost costs price prices fee fees charge charged rate paid pay budget".split()
    ),
    "percent": frozenset("discount rate percent percentage growth margin".split()),
    "duration": frozenset("duration lasted took long period term".split()),
    "date": frozenset("date starts start commences from until ends expires effective".split()),
    "time": frozenset("time until by opens closes".split()),
    "number": frozenset("count number headcount quantity".split()),
}


_WH = re.compile(r"\b(?:what|which|who|whom|when|where|how)\b", re.I)
#: "which services ...", "what discount ...": the thing a question asks to be named.
_HEAD = re.compile(
    r"\b(?:what|which)\s+(?!is\b|are\b|was\b|were\b|do\b|does\b|did\b|can\b|should\b|"
    r"will\b|would\b|time\b|the\b|a\b|an\b|our\b|my\b|of\b)([a-z]{3,})",
    re.I,
)


def head_noun(question: str) -> str | None:
    """The noun right after "what" or "which" ("services" in "which services went
    down?"), or None."""
    match = _HEAD.search(question)
    return match[1].lower() if match else None


@lru_cache(maxsize=1024)
def asked_for(question: str) -> tuple[str, ...]:
    """The kinds of fact ``question`` asks for, the one its words name first (the
    earliest cue: "What volume discount ... if they spend £60,000" asks for a
    percentage, not an amount) first; may be empty."""
    found: list[tuple[bool, int, int, int, str]] = []
    # Cues after the question word come first: "a client spends 120k a year - what
    # discount do they get?" asks for a percentage, not an amount.
    wh = _WH.search(question)
    asked_at = wh.start() if wh else 0
    for rule, (pattern, wanted) in enumerate(_ASKS):
        match = pattern.search(question)
        if match:
            before = match.start() < asked_at
            found += [(before, match.start(), rule, i, kind) for i, kind in enumerate(wanted)]
    kinds: list[str] = []
    for *_, kind in sorted(found):
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


_PARTS = re.compile(r"\?|,?\s+and\s+(?=(?:what|which|who|when|where|how)\b)", re.I)


def asked_each(question: str) -> tuple[str, ...]:
    """The kind each part of a question asks for first, when it asks several things
    ("When does it start, and how long is it for?": a date and a duration)."""
    kinds = []
    for part in _PARTS.split(question):
        wanted = asked_for(part) if part.strip() else ()
        if wanted and wanted[0] not in kinds:
            kinds.append(wanted[0])
    return tuple(kinds)


def states_asked(text: str, question: str) -> bool:
    """Whether ``text`` states each kind of fact ``question`` asks for (:func:`asked_each`)
    with a value the question does not already state: "The Leeds office has a shared
    kitchen" is true but no answer to "what's the phone number for the Leeds office?".
    True when it asks for no particular kind, and for a yes/no question ("No, it was
    not reported" answers "did we have to report it to the ICO?")."""
    if is_yes_no(question):
        return True
    stated = new_facts(text, question)
    return all(kind in stated for kind in asked_each(question))


_WORD_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "hundred": 100,
    "half": 0.5,
    "quarter": 0.25,
}
_SCALE = {
    "k": 1e3,
    "thousand": 1e3,
    "grand": 1e3,
    "m": 1e6,
    "mil": 1e6,
    "mill": 1e6,
    "million": 1e6,
    "bn": 1e9,
    "billion": 1e9,
}
_AMOUNT = re.compile(
    r"(?P<num>\d[\d,]*(?:\.\d+)?|\b(?:" + "|".join(_WORD_NUMBERS) + r")\b)"
    r"(?:\s+of\s+an?)?\s*(?P<scale>k|thousand|grand|m|mil|mill|million|bn|billion)?\b",
    re.I,
)


def numbers(text: str, years: bool = True) -> list[float]:
    """The amounts in ``text``, as people write them: "£60,000", "120k", "five grand",
    "1.2k", "5 mil", "a quarter of a million" (thousands separators dropped).
    ``years=False`` leaves out a year: four digits from 1900 to 2099 after a word that
    comes before years ("the 2026 price list", "in 2026", "Q2 2026", "March 2027"), not
    an amount ("a claim of 2000 pounds", "spend 2000 a year")."""
    out = []
    for m in _AMOUNT.finditer(text):
        raw, scale = m.group("num").lower(), (m.group("scale") or "").lower()
        if (
            not years
            and not scale
            and _YEAR.fullmatch(raw)
            and _BEFORE_YEAR.search(text[: m.start()])
        ):
            continue
        if raw in _WORD_NUMBERS:
            if not scale and raw in ("a", "an", "half", "quarter"):
                continue  # "a" alone is no number
            value = float(_WORD_NUMBERS[raw])
        else:
            try:
                value = float(raw.replace(",", ""))
            except ValueError:
                continue
        out.append(value * _SCALE.get(scale, 1.0))
    return out


_YEAR = re.compile(r"(?:19|20)\d\d")
_BEFORE_YEAR = re.compile(
    rf"\b(?:in|the|since|during|until|before|after|by|fy|q[1-4]|h[12]|(?:{_MONTHS})[a-z]*)\s*$",
    re.I,
)
_LOWER = re.compile(r"\b(?:over|more than|above|at least|from|exceeding|min(?:imum)?)\b", re.I)
_UPPER = re.compile(r"\b(?:under|less than|below|up to|no more than|max(?:imum)?|to)\b", re.I)


def brackets(text: str, question: str) -> bool:
    """Whether ``text`` states a range or a bound that holds an amount of the question:
    the tier row "from 25000 to 99999" for "if they spend £60,000", "Over £5,000" for
    "over five grand", "£1,000 to £5,000" for "a £1.2k claim". A year the question names
    is no amount: "the 2026 price list" is not within "0 to 24999"."""
    asked = [n for n in numbers(question, years=False) if n >= 10]
    if not asked:
        return False
    lowest: list[float] = []  # bounds stated one to a clause: a table row's "from" and
    highest: list[float] = []  # "to" cells ("Annual spend from: 25000; ... to: 99999")
    for clause in re.split(r"[;\n]", text):
        stated = [n for n in numbers(clause) if n >= 10]
        if len(stated) >= 2 and any(stated[0] <= x <= stated[1] for x in asked):
            return True
        if len(stated) == 1:
            lower, upper = _LOWER.search(clause), _UPPER.search(clause)
            if lower:
                lowest.append(stated[0])
            elif upper:
                highest.append(stated[0])
    if not (lowest or highest):
        return False
    return any(all(x >= b for b in lowest) and all(x <= b for b in highest) for x in asked)


@lru_cache(maxsize=8192)
def fact_kinds(text: str) -> frozenset[str]:
    """The kinds of fact ``text`` states."""
    return frozenset(kind for kind, pattern in KINDS.items() if pattern.search(text))


def new_facts(text: str, question: str) -> frozenset[str]:
    """The kinds of fact ``text`` states with values the question does not state (a
    sentence repeating the question's own "£60,000" gives no amount). An instruction
    counts whatever its verb: "Apply using form FAC-07" answers "How do I apply?"."""
    found = set()
    for kind in fact_kinds(text):
        if kind == "steps":
            found.add(kind)
            continue
        pattern = KINDS[kind]
        mine = {_norm(m.group(0)) for m in pattern.finditer(text)}
        theirs = {_norm(m.group(0)) for m in pattern.finditer(question)}
        if mine - theirs:
            found.add(kind)
    return frozenset(found)


def _norm(value: str) -> str:
    return re.sub(r"[\s,]", "", value.lower())


_NEGATED = re.compile(r"\b(?:without|no|not|non|never|except|excluding)\b((?:\W+\w+){1,2})", re.I)
#: A question answered yes or no: there, a sentence that negates is the answer.
_YES_NO = re.compile(
    r"(?:^|[,;:\-–]\s*)(?:do|does|did|is|are|was|were|can|could|should|must|may|will|would|"
    r"have|has|am)\s+\w",
    re.I,
)


def is_yes_no(question: str) -> bool:
    """Whether ``question`` is answered yes or no ("can it be extended?")."""
    return bool(_YES_NO.search(question.strip()))


def negates(text: str, question: str) -> bool:
    """Whether ``text`` negates a word the question asks about ("Day trips without an
    overnight stay..." for a question about overnight trips)."""
    if is_yes_no(question):
        return False
    asked = {w.lower() for w in re.findall(r"\w+", question) if len(w) > 3}
    negated = {w.lower() for m in _NEGATED.finditer(text) for w in re.findall(r"\w+", m[1])}
    said_no = {w.lower() for w in re.findall(r"\w+", question)} & {"without", "not", "no"}
    return bool(asked & negated) and not said_no


_CONNECTORS = frozenset({"and", "the", "for"})  # and shorter words


def spelled_out(term: str, text: str) -> bool:
    """Whether ``text`` holds the words an acronym stands for ("ICO": "Information
    Commissioner's Office", "PI": "professional indemnity"): an acronym the documents
    always write in full is no near miss."""
    if not (2 <= len(term) <= 6 and term.isalpha() and term.isupper()):
        return False
    initials = "".join(
        w[0].lower()
        for w in re.findall(r"[^\W\d_]+", text)
        if len(w) > 2 and w.lower() not in _CONNECTORS
    )
    return term.lower() in _word_starts(initials)


def _word_starts(initials: str) -> set[str]:
    """Every run of consecutive initials."""
    return {initials[i : i + n] for n in range(2, 7) for i in range(len(initials) - n + 1)}
